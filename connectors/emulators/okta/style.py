"""How Okta signals throttling and failure: per-endpoint-family budgets stated on every response."""

from __future__ import annotations

from connectors.emulators.control import BudgetState
from connectors.emulators.okta.routes import error_body


class OktaStyle:
    """Okta keeps a separate rate limit per endpoint family and states it on every response."""

    BUCKETS = (
        ("/api/v1/users", "users"),
        ("/api/v1/groups", "groups"),
        ("/api/v1/apps", "apps"),
        ("/api/v1/logs", "logs"),
        ("/api/v1/meta", "meta"),
    )

    def rate_bucket(self, method: str, path: str) -> str | None:
        for prefix, bucket in self.BUCKETS:
            if path.startswith(prefix):
                return f"{bucket}:{'read' if method == 'GET' else 'write'}"
        return "default"

    def budget_headers(self, state: BudgetState) -> dict[str, str]:
        return {
            "X-Rate-Limit-Limit": str(state.limit),
            "X-Rate-Limit-Remaining": str(state.remaining),
            "X-Rate-Limit-Reset": str(state.reset_epoch),
        }

    def throttled(self, state: BudgetState) -> tuple[int, dict[str, str], bytes]:
        body = error_body("E0000047", "API call exceeded rate limit due to too many requests.")
        return 429, {"Content-Type": "application/json", **self.budget_headers(state)}, body

    def too_many_requests(self, state: BudgetState) -> tuple[int, dict[str, str], bytes]:
        return self.throttled(state)

    def server_error(self, status: int) -> tuple[int, dict[str, str], bytes]:
        body = error_body("E0000009", "Internal Server Error")
        return status, {"Content-Type": "application/json"}, body
