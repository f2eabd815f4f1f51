"""Logging: secrets are redacted from messages and tracebacks; JSON lines carry audit fields."""

from __future__ import annotations

import io
import json
import logging

import pytest

from accessctl.logs import TextFormatter, configure_logging, lines_held


def emit(fmt: str, secrets: list[str], fn) -> str:  # type: ignore[no-untyped-def]
    stream = io.StringIO()
    configure_logging(level="DEBUG", fmt=fmt, secrets=secrets, stream=stream)
    fn(logging.getLogger("accessctl.test"))
    return stream.getvalue()


def test_known_secret_values_and_credential_shapes_are_redacted() -> None:
    def log(logger: logging.Logger) -> None:
        logger.info("calling with token %s", "super-secret-value-123")
        logger.debug("Authorization: SSWS 00abcdefghijklmnop")
        logger.debug("Authorization: Bearer eyJhbGciOi.payload.sig")
        logger.warning("POST /token body=client_secret=hunter2hunter2&grant_type=client_credentials")
        logger.error('key {"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----"}')

    out = emit("text", ["super-secret-value-123"], log)
    for leaked in ("super-secret-value-123", "00abcdefghijklmnop", "eyJhbGciOi", "hunter2hunter2", "MIIE"):
        assert leaked not in out
    assert out.count("[redacted]") == 5


def test_exception_text_is_redacted_too() -> None:
    def log(logger: logging.Logger) -> None:
        try:
            raise RuntimeError("failed with api token tok-9f8e7d6c5b")
        except RuntimeError:
            logger.exception("boom")

    out = emit("json", ["tok-9f8e7d6c5b"], log)
    entry = json.loads(out.strip().splitlines()[-1])
    assert "tok-9f8e7d6c5b" not in out
    assert "RuntimeError" in entry["exception"]


def test_audit_logger_emits_structured_fields() -> None:
    def log(logger: logging.Logger) -> None:
        logging.getLogger("accessctl.audit").info(
            "grant.revoke", extra={"audit": {"seq": 7, "action": "grant.revoke", "actor": "cli"}}
        )

    entry = json.loads(emit("json", [], log).strip())
    assert entry["logger"] == "accessctl.audit"
    assert entry["audit"] == {"seq": 7, "action": "grant.revoke", "actor": "cli"}


class CountingStream(io.StringIO):
    """A stream that counts its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def test_lines_held_are_written_together_in_order_redacted_when_the_block_ends() -> None:
    stream = CountingStream()
    configure_logging(level="INFO", fmt="text", secrets=["held-secret-value"], stream=stream)
    logger = logging.getLogger("accessctl.test")
    with pytest.raises(RuntimeError), lines_held():
        logger.info("first")
        with lines_held():  # nested: the outer block writes
            logger.info("second has held-secret-value")
        logger.info("Authorization: Bearer abcdefghijklmnop")
        assert stream.getvalue() == "" and stream.writes == 0
        raise RuntimeError("a block that raises still writes what it held")
    lines = stream.getvalue().splitlines()
    assert stream.writes == 1
    assert [line.split(": ", 1)[1] for line in lines] == [
        "first",
        "second has [redacted]",
        "Authorization: Bearer [redacted]",
    ]
    logger.info("after")  # outside a block: at once
    assert stream.writes == 2


def test_text_lines_carry_the_time_as_logging_formats_it() -> None:
    formatter = TextFormatter()
    standard = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    for created in (1764806753.123, 1764806753.999, 1764806754.0, 1764806754.5, 1.25, 1764806753.5):
        record = logging.makeLogRecord({"name": "accessctl.x", "levelname": "INFO", "msg": "m"})
        record.created, record.msecs = created, (created - int(created)) * 1000
        assert formatter.format(record) == standard.format(record)
