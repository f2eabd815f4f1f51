"""Logging: secrets are redacted from messages and tracebacks; JSON lines carry audit fields."""

from __future__ import annotations

import io
import json
import logging

from accessctl.logs import configure_logging


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
