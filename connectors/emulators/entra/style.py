"""How Graph signals throttling and failure: 429 with Retry-After, 503 serviceNotAvailable; no budget headers."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from connectors.emulators.control import BudgetState


def _error(code: str, message: str) -> bytes:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return json.dumps(
        {
            "error": {
                "code": code,
                "message": message,
                "innerError": {
                    "date": stamp,
                    "request-id": str(uuid.uuid4()),
                    "client-request-id": str(uuid.uuid4()),
                },
            }
        }
    ).encode()


class GraphStyle:
    def rate_bucket(self, method: str, path: str) -> str | None:
        if path.startswith("/v1.0/$batch"):
            return None  # a batch's requests are each counted as they are dispatched
        return "graph" if path.startswith("/v1.0/") else None

    def budget_headers(self, state: BudgetState) -> dict[str, str]:
        return {}

    def throttled(self, state: BudgetState) -> tuple[int, dict[str, str], bytes]:
        return (
            429,
            {"Content-Type": "application/json", "Retry-After": str(state.retry_after_s)},
            _error("TooManyRequests", "Too many requests"),
        )

    def too_many_requests(self, state: BudgetState) -> tuple[int, dict[str, str], bytes]:
        return self.throttled(state)

    def server_error(self, status: int) -> tuple[int, dict[str, str], bytes]:
        return (
            status,
            {"Content-Type": "application/json", "Retry-After": "2"},
            _error("serviceNotAvailable", "Service unavailable"),
        )
