"""What every emulator shares: latency, fault injection, rate-limit budgets and the journal.

Each provider emulator builds one :class:`EmulatorControl`, wraps its ASGI app in
:class:`ControlMiddleware`, and supplies a :class:`ProviderStyle` that renders throttling and
server errors the way that provider does (Okta ``errorCode``, Graph ``error.code``, Google
``error.errors[].reason``).  The control endpoints under ``/_emulator/`` are served by the
middleware itself, so every emulator has the same ones:

- ``GET  /_emulator/journal``   every mutating request: time, method, path, status
- ``POST /_emulator/faults``    replace the fault plan: ``{"spec": "5xx:0.1,page:/api/v1/users:2"}``
  (``page:`` fails page N of every listing of that path; see :class:`FaultPlan`)
- ``POST /_emulator/rate``      ``{"limit": 100, "window_s": 60}`` (limit 0 disables)
- ``POST /_emulator/latency``   ``{"ms": 20}``
- ``POST /_emulator/trace``     ``{"enabled": true}`` records every request (method, path, query, time) until
  disabled; ``GET /_emulator/trace`` returns them (benchmarks replay them as the fetch-only floor)
- ``GET  /_emulator/state/...`` is the provider app's own (what the provider now holds)
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qs

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class FaultSpecError(ValueError):
    """A ``--faults`` spec that cannot be parsed; the message names the bad part."""


CURSOR_PARAMS = frozenset({"after", "$skiptoken", "pageToken"})  # Okta, Graph, Google


@dataclass(slots=True)
class PageFault:
    """Fail the N-th page (1-based) of every listing whose path matches ``path`` exactly.

    A GET without a cursor (Okta ``after``, Graph ``$skiptoken``, Google ``pageToken``) starts a new
    listing at page 1; each GET with a cursor is the listing's next page.  A retry of a failed page
    N > 1 therefore counts as page N+1 and succeeds, as a transient failure would; a retried page 1
    starts a new listing and fails again.
    """

    path: str
    page: int
    status: int = 500


@dataclass(slots=True)
class FaultPlan:
    """Shares of requests that fail, chosen by a seeded RNG so runs repeat.

    Spec syntax (comma separated): ``5xx:0.05``, ``429:0.02``, ``timeout:0.01``, ``reset:0.01``,
    ``page:/api/v1/users:3`` (fail page 3 of every listing of that path with a 500),
    ``page:/v1.0/users:2:503``,
    ``seed:7``.  Control paths (``/_emulator``) and token endpoints are never faulted.

    An injected 429 is a momentary throttle (Okta's concurrent limit, another client spending the
    shared budget): it asks the client to wait about a second (Okta's ``X-Rate-Limit-Reset``, Graph's
    ``Retry-After``), or S seconds with ``429:0.02:S``, or until the current minute's window ends with
    ``429:0.02:window``.  A budget that is really spent is what the rate limit (``--rate-limit``)
    emulates: every request over it is refused until its window ends.  A ``timeout`` holds the
    request ``hang:S`` seconds (30 by default) before answering 504, so a client whose timeout is
    shorter gives up first.
    """

    error_5xx: float = 0.0
    error_429: float = 0.0
    timeout: float = 0.0
    reset: float = 0.0
    pages: list[PageFault] = field(default_factory=list)
    seed: int = 0
    #: seconds an injected 429 asks the client to wait; None: until the current window ends
    throttle_wait_s: float | None = 1.0
    #: seconds a ``timeout`` fault holds the request; None: the control's ``hang_s``
    hang_s: float | None = None

    @classmethod
    def parse(cls, spec: str | None) -> FaultPlan:
        plan = cls()
        if not spec:
            return plan
        shares = {"5xx": "error_5xx", "429": "error_429", "timeout": "timeout", "reset": "reset"}
        for raw in spec.split(","):
            part = raw.strip()
            if not part:
                continue
            kind, _, rest = part.partition(":")
            if kind in shares:
                rest, _, wait = rest.partition(":") if kind == "429" else (rest, "", "")
                try:
                    share = float(rest)
                except ValueError:
                    raise FaultSpecError(f"fault {part!r}: share must be a number in [0, 1]") from None
                if not 0.0 <= share <= 1.0:
                    raise FaultSpecError(f"fault {part!r}: share must be in [0, 1]")
                setattr(plan, shares[kind], share)
                if wait:
                    plan.throttle_wait_s = None if wait == "window" else _seconds(part, wait)
            elif kind == "hang":
                plan.hang_s = _seconds(part, rest)
            elif kind == "page":
                match = re.fullmatch(r"(/[^:]*):(\d+)(?::(\d{3}))?", rest)
                if not match:
                    raise FaultSpecError(f"fault {part!r}: expected page:/path:N[:status]")
                plan.pages.append(PageFault(match[1], int(match[2]), int(match[3] or 500)))
            elif kind == "seed":
                if not rest.isdigit():
                    raise FaultSpecError(f"fault {part!r}: seed must be an integer")
                plan.seed = int(rest)
            else:
                raise FaultSpecError(
                    f"fault {part!r}: unknown kind {kind!r} (use 5xx, 429, timeout, reset, page, hang, seed)"
                )
        return plan


def _seconds(part: str, text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise FaultSpecError(f"fault {part!r}: seconds must be a number") from None
    if not 0.0 <= seconds <= 3600.0:
        raise FaultSpecError(f"fault {part!r}: seconds must be in [0, 3600]")
    return seconds


@dataclass(slots=True)
class BudgetState:
    limit: int
    remaining: int
    reset_epoch: int  # when the window ends, in epoch seconds (what Okta sends)

    @property
    def retry_after_s(self) -> int:
        return max(1, self.reset_epoch - int(time.time()))


class RateBudget:
    """A fixed-window request budget per bucket (Okta buckets per endpoint family).

    ``limit`` 0 means unlimited; ``take`` then still reports a generous synthetic budget so that
    Okta's headers are present on every response as they are in production.
    """

    def __init__(self, limit: int = 0, window_s: int = 60) -> None:
        self.limit = limit
        self.window_s = window_s
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, int]] = {}  # bucket -> (window_start, used)
        self.throttled = 0

    def configure(self, limit: int, window_s: int) -> None:
        with self._lock:
            self.limit, self.window_s = limit, window_s
            self._windows.clear()

    def take(self, bucket: str = "default") -> tuple[bool, BudgetState]:
        """Spend one request; return (allowed, state after spending)."""
        now = time.time()
        with self._lock:
            limit = self.limit or 100_000
            window_s = self.window_s if self.limit else 60
            start = int(now // window_s * window_s)
            window_start, used = self._windows.get(bucket, (start, 0))
            if window_start != start:
                window_start, used = start, 0
            reset = window_start + window_s
            if self.limit and used >= limit:
                self.throttled += 1
                return False, BudgetState(limit, 0, reset)
            used += 1
            self._windows[bucket] = (window_start, used)
            return True, BudgetState(limit, limit - used, reset)


@dataclass(slots=True)
class JournalEntry:
    time: str
    method: str
    path: str
    query: str
    status: int
    result: str  # "ok", "error", or the injected fault's name

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "status": self.status,
            "result": self.result,
        }


class ProviderStyle(Protocol):
    """How a provider says 'slow down' and 'I failed'."""

    def rate_bucket(self, method: str, path: str) -> str | None:
        """The budget bucket a request spends from, or None for requests that are never limited."""

    def throttled(self, state: BudgetState) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of a response to a request over the rate budget."""

    def too_many_requests(self, state: BudgetState) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of an injected ``429`` fault: always an HTTP 429."""

    def server_error(self, status: int) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and body of an injected 5xx."""

    def budget_headers(self, state: BudgetState) -> dict[str, str]:
        """Headers added to every limited response (Okta's X-Rate-Limit-*); {} for others."""


@dataclass
class EmulatorControl:
    """Knobs and observations of one emulator."""

    latency_ms: float = 0.0
    faults: FaultPlan = field(default_factory=FaultPlan)
    budget: RateBudget = field(default_factory=RateBudget)
    hang_s: float = 30.0  # how long a "timeout" fault holds the request before answering
    journal: list[JournalEntry] = field(default_factory=list)
    requests: int = 0
    trace: list[tuple[str, str, str, float]] | None = None
    _rng: random.Random = field(default_factory=random.Random)
    _page_counts: dict[str, int] = field(default_factory=dict)

    def set_faults(self, spec: str | None) -> None:
        self.faults = FaultPlan.parse(spec)
        self._rng = random.Random(self.faults.seed)
        self._page_counts.clear()

    def record(self, method: str, path: str, query: str, status: int, result: str) -> None:
        self.journal.append(
            JournalEntry(
                datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                method,
                path,
                query,
                status,
                result,
            )
        )

    def pick_fault(self, method: str, path: str, query: str = "") -> tuple[str, int] | None:
        """Decide whether this request fails; returns (fault name, status) or None."""
        page_faults = [p for p in self.faults.pages if p.path == path] if method == "GET" else []
        if page_faults:
            page = self._page_number(path, query)
            for page_fault in page_faults:
                if page == page_fault.page:
                    return "page", page_fault.status
        plan = self.faults
        roll = self._rng.random()
        for name, share, status in (
            ("5xx", plan.error_5xx, 503),
            ("429", plan.error_429, 429),
            ("timeout", plan.timeout, 504),
            ("reset", plan.reset, 0),
        ):
            if roll < share:
                return name, status
            roll -= share
        return None

    def _page_number(self, path: str, query: str) -> int:
        """Which page of its listing this GET is: 1 without a cursor, else one more than the last."""
        params = parse_qs(query, keep_blank_values=False)
        page = self._page_counts.get(path, 0) + 1 if CURSOR_PARAMS & params.keys() else 1
        self._page_counts[path] = page
        return page


def _with_headers(
    extra: dict[str, str], response: tuple[int, dict[str, str], bytes]
) -> tuple[int, dict[str, str], bytes]:
    """``response`` with the provider's per-response headers added (the response's own win)."""
    status, headers, body = response
    return status, {**extra, **headers}, body


class ControlMiddleware:
    """ASGI middleware: control endpoints, latency, rate budget, faults and the journal.

    ``never_fault`` are path prefixes (token endpoints, batch envelopes) that faults and the
    journal skip: a batch's own requests are faulted and journaled one by one.
    """

    def __init__(
        self,
        app: ASGIApp,
        control: EmulatorControl,
        style: ProviderStyle,
        never_fault: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.control = control
        self.style = style
        self.never_fault = never_fault

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        if path.startswith("/_emulator/") and not path.startswith("/_emulator/state"):
            await self._control_endpoint(path, method, receive, send)
            return
        control = self.control
        control.requests += 1
        query = scope.get("query_string", b"").decode("latin-1")
        if control.trace is not None:
            control.trace.append((method, path, query, time.time()))
        if control.latency_ms:
            await asyncio.sleep(control.latency_ms / 1000)
        mutating = method in MUTATING_METHODS
        extra_headers: dict[str, str] = {}
        bucket = None if path.startswith("/_emulator") else self.style.rate_bucket(method, path)
        if bucket is not None:
            allowed, state = control.budget.take(bucket)
            extra_headers = self.style.budget_headers(state)
            if not allowed:
                await self._respond(send, *self.style.throttled(state))
                if mutating:
                    control.record(method, path, query, 429, "throttled")
                return
        faultable = not path.startswith(self.never_fault) if self.never_fault else True
        fault = (
            control.pick_fault(method, path, query)
            if faultable and not path.startswith("/_emulator")
            else None
        )
        if fault is not None:
            if mutating:
                control.record(method, path, query, fault[1], f"fault:{fault[0]}")
            await self._fault(send, fault, extra_headers)
            return

        status_seen = 0

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status_seen
            if message["type"] == "http.response.start":
                status_seen = message["status"]
                if extra_headers:
                    headers = list(message.get("headers", []))
                    headers.extend((k.lower().encode(), v.encode()) for k, v in extra_headers.items())
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapper)
        if mutating and faultable and not path.startswith("/_emulator"):
            control.record(method, path, query, status_seen, "ok" if status_seen < 400 else "error")

    async def _fault(self, send: Send, fault: tuple[str, int], extra_headers: dict[str, str]) -> None:
        """Answer with an injected fault, carrying the headers every response of the provider has."""
        name, status = fault
        if name == "reset":
            await self._reset(send)
            return
        plan = self.control.faults
        if name == "timeout":
            await asyncio.sleep(self.control.hang_s if plan.hang_s is None else plan.hang_s)
            response = self.style.server_error(504)
        elif status == 429:
            _, state = self.control.budget.take("__fault__")
            reset = state.reset_epoch
            if plan.throttle_wait_s is not None:  # epoch seconds, as Okta states them: rounded up
                reset = math.ceil(time.time() + plan.throttle_wait_s)
            response = self.style.too_many_requests(BudgetState(state.limit, 0, reset))
        else:
            response = self.style.server_error(status)
        await self._respond(send, *_with_headers(extra_headers, response))

    @staticmethod
    async def _respond(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
        all_headers = {"content-length": str(len(body)), **{k.lower(): v for k, v in headers.items()}}
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in all_headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _reset(send: Send) -> None:
        """Promise a body, send part of it, then drop the connection (the client sees a reset)."""
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"partial":', "more_body": True})
        raise ConnectionResetError("emulator fault: connection reset")

    async def _control_endpoint(self, path: str, method: str, receive: Receive, send: Send) -> None:
        control = self.control
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        try:
            payload = json.loads(body) if body else {}
        except json.JSONDecodeError:
            await self._json(send, 400, {"error": "body must be JSON"})
            return
        if path == "/_emulator/journal" and method == "GET":
            await self._json(send, 200, [entry.as_dict() for entry in control.journal])
        elif path == "/_emulator/journal" and method == "DELETE":
            control.journal.clear()
            await self._json(send, 200, {"cleared": True})
        elif path == "/_emulator/faults" and method == "POST":
            try:
                control.set_faults(payload.get("spec"))
            except FaultSpecError as exc:
                await self._json(send, 400, {"error": str(exc)})
                return
            await self._json(send, 200, {"spec": payload.get("spec")})
        elif path == "/_emulator/rate" and method == "POST":
            control.budget.configure(int(payload.get("limit", 0)), int(payload.get("window_s", 60)))
            await self._json(send, 200, {"limit": control.budget.limit, "window_s": control.budget.window_s})
        elif path == "/_emulator/latency" and method == "POST":
            control.latency_ms = float(payload.get("ms", 0))
            await self._json(send, 200, {"ms": control.latency_ms})
        elif path == "/_emulator/trace" and method == "POST":
            control.trace = [] if payload.get("enabled", True) else None
            await self._json(send, 200, {"enabled": control.trace is not None})
        elif path == "/_emulator/trace" and method == "GET":
            await self._json(send, 200, [list(entry) for entry in control.trace or []])
        elif path == "/_emulator/stats" and method == "GET":
            await self._json(send, 200, {"requests": control.requests, "throttled": control.budget.throttled})
        else:
            await self._json(send, 404, {"error": f"no control endpoint {method} {path}"})

    @classmethod
    async def _json(cls, send: Send, status: int, payload: Any) -> None:
        await cls._respond(send, status, {"content-type": "application/json"}, json.dumps(payload).encode())
