"""Sending email over SMTP: one connection opened on the first message and reused for the rest,
STARTTLS or implicit TLS, login when a user is set, every network call under ``timeout_s``.

A send that fails for a reason that may pass (the server dropped the connection, a 4xx answer) is
tried again after ``retry_delay_s`` on a fresh connection, up to ``max_attempts``; a permanent
refusal (5xx) is not.  Either way :meth:`SmtpMailer.send` returns what happened; it never raises
for a message that could not be delivered, so one bad address never stops the rest.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from types import TracebackType

from accessctl.notify.render import Outgoing
from accessctl.settings import SmtpSettings


@dataclass(frozen=True, slots=True)
class SendResult:
    ok: bool
    attempts: int
    error: str | None = None


def _transient(exc: Exception) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return _connection_lost(exc) or isinstance(exc, smtplib.SMTPServerDisconnected)


def _connection_lost(exc: Exception) -> bool:
    """The connection is gone (every SMTPException is an OSError too: those are answers, not losses)."""
    return isinstance(exc, smtplib.SMTPServerDisconnected) or (
        isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)
    )


def _describe(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()))
        return f"recipient refused: {code} {text.decode(errors='replace')}"
    if isinstance(exc, smtplib.SMTPResponseException):
        message = (
            exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
        )
        return f"{exc.smtp_code} {message}"
    return f"{type(exc).__name__}: {exc}"


class SmtpMailer:
    """``with SmtpMailer(settings) as mailer: mailer.send(message)``; the connection is closed at the end."""

    def __init__(self, settings: SmtpSettings, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self._sleep = sleep
        self._client: smtplib.SMTP | None = None
        #: connections opened so far (one, unless a failure forced a new one)
        self.connections = 0

    def __enter__(self) -> SmtpMailer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _context(self) -> ssl.SSLContext:
        cafile = str(self.settings.ca_bundle) if self.settings.ca_bundle else None
        return ssl.create_default_context(cafile=cafile)

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        client: smtplib.SMTP
        if s.tls:
            client = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_s, context=self._context())
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
        self.connections += 1
        try:
            client.ehlo()
            if s.starttls:
                client.starttls(context=self._context())
                client.ehlo()
            if s.username:
                password = s.password.get_secret_value() if s.password else ""
                client.login(s.username, password)
        except BaseException:
            client.close()
            raise
        return client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()

    def send(self, message: EmailMessage | Outgoing) -> SendResult:
        """Send ``message`` (an :class:`Outgoing` as its bytes are), tried again as the module says."""
        error = "not tried"
        for attempt in range(1, self.settings.max_attempts + 1):
            try:
                if self._client is None:
                    self._client = self._connect()
                if isinstance(message, Outgoing):
                    self._client.sendmail(message.sender, [message.to], message.data)
                else:
                    self._client.send_message(message)
                return SendResult(True, attempt)
            except smtplib.SMTPAuthenticationError as exc:
                self._drop()
                return SendResult(False, attempt, f"login refused: {_describe(exc)}")
            except (smtplib.SMTPException, OSError) as exc:
                error = _describe(exc)
                if _connection_lost(exc) and not isinstance(exc, smtplib.SMTPServerDisconnected):
                    where = f"{self.settings.host}:{self.settings.port}"
                    error = f"cannot reach the SMTP server {where}: {getattr(exc, 'strerror', None) or exc}"
                if _connection_lost(exc):
                    self._drop()
                else:
                    self._reset()
                if not _transient(exc):
                    return SendResult(False, attempt, error)
                if attempt < self.settings.max_attempts:
                    self._sleep(self.settings.retry_delay_s)
        return SendResult(False, self.settings.max_attempts, error)

    def _reset(self) -> None:
        """After a refused message the connection stays usable once the transaction is reset."""
        if self._client is None:
            return
        try:
            self._client.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
