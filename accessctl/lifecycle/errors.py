"""What a use case refuses, as errors that carry their CLI exit code and HTTP status (nothing queued)."""

from __future__ import annotations

from collections.abc import Sequence

from accessctl import exitcodes


class LifecycleError(Exception):
    """A request a use case refuses; nothing was queued or changed."""

    exit_code = exitcodes.FAILED
    http_status = 400

    def __init__(self, message: str, *, candidates: Sequence[str] = ()) -> None:
        self.candidates = list(candidates)
        super().__init__(message)


class PersonNotFound(LifecycleError):
    exit_code = exitcodes.NOT_FOUND
    http_status = 404


class AmbiguousPerson(LifecycleError):
    exit_code = exitcodes.NOT_FOUND
    http_status = 409


class EntitlementNotFound(LifecycleError):
    exit_code = exitcodes.NOT_FOUND
    http_status = 404


class AmbiguousEntitlement(LifecycleError):
    exit_code = exitcodes.NOT_FOUND
    http_status = 409


class HeldThroughGroup(LifecycleError):
    """The grant is held only through a group: the group's membership is what can be removed."""

    exit_code = exitcodes.REFUSED
    http_status = 409


class NothingToRestore(LifecycleError):
    exit_code = exitcodes.NOT_FOUND
    http_status = 404


class SafeguardRefused(LifecycleError):
    """A safeguard said no (the two-person rule, a job still running)."""

    exit_code = exitcodes.REFUSED
    http_status = 403


class NotQuarantined(LifecycleError):
    exit_code = exitcodes.NOT_FOUND
    http_status = 409


def listing(message: str, candidates: Sequence[str], limit: int = 10) -> str:
    """``message``, then the candidates (the first ``limit``)."""
    if not candidates:
        return message
    shown = ", ".join(candidates[:limit])
    more = f" and {len(candidates) - limit} more" if len(candidates) > limit else ""
    return f"{message}: {shown}{more}"
