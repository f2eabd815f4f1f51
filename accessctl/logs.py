"""Logging: human text or JSON lines, a dedicated audit logger, and secrets redacted on the way out."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

REDACTED = "[redacted]"
# Credentials that may appear in messages from HTTP libraries and SDKs, each with the words its
# pattern needs (they are case-sensitive): a line holding none of them is not searched with it.
_PATTERNS = (
    (("SSWS",), re.compile(r"(SSWS)\s*[A-Za-z0-9_\-\.]{8,}")),
    (("Bearer",), re.compile(r"(Bearer)\s+[A-Za-z0-9_\-\.=]{8,}")),
    (
        ("client_secret", "assertion", "access_token", "refresh_token", "password"),
        re.compile(r"((?:client_secret|assertion|access_token|refresh_token|password)=)[^&\s\"']+"),
    ),
    (
        ("private_key", "client_secret", "access_token", "password"),
        re.compile(r"(\"(?:private_key|client_secret|access_token|password)\"\s*:\s*)\"[^\"]*\""),
    ),
    # a reviewer's link token, in an access log line
    (("/review/",), re.compile(r"(/review/)[A-Za-z0-9_\-]{16,}")),
    (
        ("-----BEGIN",),
        re.compile(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----)[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
    ),
)

#: every pattern's words, for the one check most lines stop at
_ANY_CLUE = tuple(dict.fromkeys(clue for clues, _ in _PATTERNS for clue in clues))


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
        if not any(clue in text for clue in _ANY_CLUE):  # most lines: no pattern can match
            return text
        for clues, pattern in _PATTERNS:
            if any(clue in text for clue in clues):
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


class TextFormatter(logging.Formatter):
    """``2026-12-04 02:05:53,123 INFO    accessctl.audit: ...``; the local time of each second is
    looked up once (a service writes a line per HR event and per audit event)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        self._second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second, text = self._second  # one tuple, swapped whole: safe between threads
        if int(record.created) != second:
            second = int(record.created)
            text = time.strftime(self.default_time_format, self.converter(second))
            self._second = (second, text)
        return f"{text},{int(record.msecs):03d}"  # default_msec_format, "%s,%03d"

    def formatMessage(self, record: logging.LogRecord) -> str:
        # the format string above, as an f-string (a %-format of the record's __dict__ costs more)
        return f"{record.asctime} {record.levelname:<7} {record.name}: {record.message}"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (it may be swapped, e.g. by test runners).
    Inside :meth:`held`, a thread's lines are written together as it ends (one write, not one a
    line: a group of HR events' audit lines)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._fixed = stream
        self._held = threading.local()
        super().__init__(stream)

    def emit(self, record: logging.LogRecord) -> None:
        lines: list[str] | None = getattr(self._held, "lines", None)
        if lines is None:
            super().emit(record)
            return
        try:
            lines.append(self.format(record) + self.terminator)
        except Exception:
            self.handleError(record)

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        if getattr(self._held, "lines", None) is not None:  # nested: the outer block writes
            yield
            return
        self._held.lines = lines = []
        try:
            yield
        finally:
            self._held.lines = None
            if lines:
                with self.lock:  # type: ignore[union-attr]
                    try:
                        self.stream.write("".join(lines))
                        self.stream.flush()
                    except Exception:  # as StreamHandler.emit: the logging module reports it
                        self.handleError(logging.makeLogRecord({"msg": "".join(lines)}))

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
        handler.setFormatter(TextFormatter())
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


def lines_held() -> contextlib.AbstractContextManager[None]:
    """The lines this thread logs inside the block are written together as it ends (when
    :func:`configure_logging` installed the handler; else they go as usual)."""
    handler = _handler
    return handler.held() if isinstance(handler, _StderrHandler) else contextlib.nullcontext()


def current_handler() -> logging.Handler | None:
    """The handler :func:`configure_logging` installed (None before it ran)."""
    return _handler


def redactor() -> Redactor:
    """The process-wide redactor (secrets registered by :func:`configure_logging`)."""
    return _redactor
