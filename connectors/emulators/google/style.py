"""How the Directory API signals throttling and failure: 403/429 rateLimitExceeded, 503 backendError."""

from __future__ import annotations

import json

from connectors.emulators.control import BudgetState
from connectors.emulators.google.state import error_body


class GoogleStyle:
    def rate_bucket(self, method: str, path: str) -> str | None:
        if path.startswith("/admin/directory/v1/"):
            return "directory"
        if path.startswith("/admin/reports/v1/"):
            return "reports"
        return None  # the token endpoint and the batch envelope (its calls are counted one by one)

    def budget_headers(self, state: BudgetState) -> dict[str, str]:
        return {}

    def throttled(self, state: BudgetState) -> tuple[int, dict[str, str], bytes]:
        # Google answers an exhausted per-user quota with 403 userRateLimitExceeded / rateLimitExceeded
        body = error_body(403, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits")
        return 403, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def too_many_requests(self, state: BudgetState) -> tuple[int, dict[str, str], bytes]:
        # ... and a real 429 RESOURCE_EXHAUSTED when the project's per-minute quota runs out
        body = error_body(429, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits")
        return 429, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def server_error(self, status: int) -> tuple[int, dict[str, str], bytes]:
        if status == 429:
            return self.too_many_requests(BudgetState(0, 0, 0))
        body = error_body(status, "backendError", "Backend Error")
        return status, {"Content-Type": "application/json"}, json.dumps(body).encode()
