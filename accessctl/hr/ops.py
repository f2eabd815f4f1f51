"""Setting up an HR source: a signed example event for a running service, and the service's count
of refused events (kept in its /metrics, never in the store)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from accessctl import exitcodes
from accessctl.hr.events import EventType
from accessctl.hr.signature import WebhookSecret
from accessctl.settings import HrSettings

EVENTS_PATH = "/v1/hr/events"
METRIC = "accessctl_hr_events_rejected_total"
#: how long a CLI call to the service may take
TIMEOUT_S = 10.0


class SendFailed(Exception):
    """The service could not be reached, or refused the event (the message says which)."""

    def __init__(self, message: str, exit_code: int = exitcodes.FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def build_test_event(
    hr: HrSettings,
    *,
    source: str,
    type_: str = EventType.UPDATED.value,
    employee_id: str = "accessctl-test-unmatched",
    email: str | None = None,
    now: datetime | None = None,
) -> tuple[bytes, dict[str, str]]:
    """A canonical event and its Standard Webhooks headers, signed with each of ``source``'s
    secrets (several signatures are allowed: either key of a rotation matches).  Raises ValueError
    when the source or the type cannot be used."""
    configured = hr.sources.get(source)
    if configured is None:
        known = ", ".join(hr.sources) or "none is configured"
        raise ValueError(f"no HR source {source!r} in the config (sources: {known})")
    if configured.vendor != "standard":
        raise ValueError(
            f"source {source!r} is a {configured.vendor} source; send-test-event signs the canonical "
            'Standard Webhooks event, for a source with vendor = "standard"'
        )
    if not configured.secrets:
        raise ValueError(f"source {source!r} has no secret (set secret_env or secret_file)")
    types = [t.value for t in EventType]
    if type_ not in types:
        raise ValueError(f"unknown event type {type_!r}: one of {', '.join(types)}")
    if not employee_id.strip():
        raise ValueError("--employee-id must not be empty")
    at = (now or datetime.now(UTC)).replace(microsecond=0)
    event_id = f"test-{uuid.uuid4().hex[:16]}"
    body: dict[str, object] = {
        "id": event_id,
        "type": type_,
        "occurred_at": at.isoformat().replace("+00:00", "Z"),
        "employee": {"employee_id": employee_id, "email": email or f"{employee_id}@example.invalid"},
    }
    if type_ == EventType.TERMINATED.value:
        body["termination"] = {"immediate": True}
    raw = json.dumps(body).encode()
    webhook_id = f"msg_{event_id}"
    timestamp = int(at.timestamp())
    keys = [WebhookSecret.parse(s.get_secret_value()) for s in configured.secrets]
    headers = {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(k.sign(webhook_id, timestamp, raw) for k in keys),
    }
    return raw, headers


def events_url(base: str) -> str:
    """The intake's address: ``base`` with /v1/hr/events added when it names no path."""
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SendFailed(f"{base!r} is not an http(s) URL of the service", exitcodes.USAGE)
    if parts.path in ("", "/"):
        return base.rstrip("/") + EVENTS_PATH
    return base


def _refusal(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    if isinstance(body, dict) and "error" in body:
        return f"{body['error']}: {body.get('message', '')}".strip(": ")
    return json.dumps(body)[:200]


def post_event(base: str, raw: bytes, headers: dict[str, str], *, timeout: float = TIMEOUT_S) -> str:
    """POST one signed event; the service's answer on one line.  Raises :class:`SendFailed` when it
    cannot be reached or does not accept the event."""
    url = events_url(base)
    try:
        response = httpx.post(url, content=raw, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise SendFailed(f"cannot reach the service at {url}: {exc or type(exc).__name__}") from None
    if response.status_code >= 300:
        raise SendFailed(
            f"the service at {url} refused the event: HTTP {response.status_code} {_refusal(response)}"
        )
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    line = f"HTTP {response.status_code}: event {answer.get('event_id', '?')} {answer.get('status', '')}"
    if answer.get("status_url"):
        line += f" (GET {answer['status_url']} shows it)"
    return " ".join(line.split())


def rejection_counts(base: str, *, timeout: float = 2.0) -> dict[str, int]:
    """The service's count of refused HR events by reason, since it started (from /metrics).
    Raises httpx.HTTPError or ValueError when it cannot be read."""
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{base!r} is not an http(s) URL")
    response = httpx.get(f"{parts.scheme}://{parts.netloc}/metrics", timeout=timeout)
    response.raise_for_status()
    counts: dict[str, int] = {}
    for line in response.text.splitlines():
        if not line.startswith(METRIC + "{"):
            continue
        labels, _, value = line.rpartition(" ")
        reason = labels.partition('reason="')[2].partition('"')[0]
        counts[reason] = counts.get(reason, 0) + int(float(value))
    return counts
