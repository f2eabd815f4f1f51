"""Why an HR event was refused: a machine reason (counted by reason in /metrics), a message for the
sender, and the HTTP status that carries it.  Raised once where the problem is found, rendered by the
router as ``{"error": reason, "message": message}``."""

from __future__ import annotations


class Rejected(Exception):
    """An HR event refused before anything was stored."""

    def __init__(self, reason: str, message: str, *, status: int = 400) -> None:
        if not 400 <= status < 500:
            raise ValueError("a rejection is the sender's problem: a 4xx")
        self.reason = reason
        self.message = message
        self.status = status
        super().__init__(f"{reason}: {message}")

    def body(self) -> dict[str, str]:
        return {"error": self.reason, "message": self.message}
