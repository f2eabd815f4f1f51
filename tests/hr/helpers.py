"""Signed canonical events for the HR tests."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

from accessctl.hr.signature import WebhookSecret, sign_headers

SECRET_TEXT = "whsec_" + base64.b64encode(b"k" * 32).decode()
NEW_SECRET_TEXT = "whsec_" + base64.b64encode(b"n" * 32).decode()
SECRET = WebhookSecret.parse(SECRET_TEXT)
NEW_SECRET = WebhookSecret.parse(NEW_SECRET_TEXT)
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def event(
    type_: str = "employee.terminated",
    *,
    id_: str = "evt_1",
    employee_id: str = "E100",
    email: str = "ada@example.com",
    occurred_at: str = "2026-12-02T11:00:00Z",
    termination: dict[str, Any] | None = None,
    **employee: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": id_,
        "type": type_,
        "occurred_at": occurred_at,
        "employee": {"employee_id": employee_id, "email": email, **employee},
    }
    if termination is not None:
        body["termination"] = termination
    return body


def encode(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def signed(
    raw: bytes, *, webhook_id: str = "msg_1", at: datetime = NOW, secret: WebhookSecret = SECRET
) -> dict[str, str]:
    return {**sign_headers(secret, webhook_id, int(at.timestamp()), raw), "content-type": "application/json"}
