"""Logging: human text or JSON lines, a dedicated audit logger, and secrets redacted on the way out."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

REDACTED = "[redacted]"
# Credentials that may appear in messages from HTTP libraries and SDKs.
_PATTERNS = (
    re.compile(r"(SSWS)\s*[A-Za-z0-9_\-\.]{8,}"),
    re.compile(r"(Bearer)\s+[A-Za-z0-9_\-\.=]{8,}"),
    re.compile(r"((?:client_secret|assertion|access_token|refresh_token|password)=)[^&\s\"']+"),
    re.compile(r"(\"(?:private_key|client_secret|access_token|password)\"\s*:\s*)\"[^\"]*\""),
    re.compile(r"(/review/)[A-Za-z0-9_\-]{16,}"),  # a reviewer's link token, in an access log line
    re.compile(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----)[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
)


class Redactor:
    """Removes known secret values and credential-shaped text from strings."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        for secret in secrets:
            if secret and len(secret) >= 4 and secret not in self._secrets:
                self._secrets.append(secret)
        self._secrets.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern in _PATTERNS:
            text = pattern.sub(lambda m: f"{m.group(1)} {REDACTED}".replace("= ", "="), text)
        return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and exception text) through a :class:`Redactor`."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor(record.getMessage())
        record.args = ()
        if record.exc_info:
            record.exc_text = self.redactor(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        audit = getattr(record, "audit", None)
        if audit is not None:
            entry["audit"] = audit
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (it may be swapped, e.g. by test runners)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._fixed = stream
        super().__init__(stream)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return self._fixed or sys.stderr

    @stream.setter
    def stream(self, value: TextIO | None) -> None:
        self._fixed = value if value is not sys.stderr else None


_handler: logging.Handler | None = None
_redactor = Redactor()


def configure_logging(
    *, level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = (), stream: TextIO | None = None
) -> Redactor:
    """Send accessctl's logs (and the libraries') to ``stream`` (stderr), redacted."""
    global _handler
    _redactor.add(secrets)
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    handler = _StderrHandler(stream)
    handler.addFilter(RedactingFilter(_redactor))
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    # Neither format shows a record's file, line, thread or process: don't look them up for each
    # record (the logging HOWTO's "Optimization"; a service logs a line per HR event and audit event).
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # Libraries' chatter ("Context impl SQLiteImpl.") only when asked for.
    quiet = logging.DEBUG if level == "DEBUG" else logging.WARNING
    for name in ("alembic", "httpx", "httpcore", "urllib3", "googleapiclient.discovery_cache"):
        logging.getLogger(name).setLevel(quiet)
    # The okta SDK logs every failed request with its traceback at ERROR, though the connector
    # classifies the error and the sync reports it: only its critical messages, unless debugging.
    logging.getLogger("okta-sdk-python").setLevel(logging.DEBUG if level == "DEBUG" else logging.CRITICAL)
    _handler = handler
    return _redactor


def current_handler() -> logging.Handler | None:
    """The handler :func:`configure_logging` installed (None before it ran)."""
    return _handler


def redactor() -> Redactor:
    """The process-wide redactor (secrets registered by :func:`configure_logging`)."""
    return _redactor
