"""The emulators' shared knobs: fault specs, rate budgets, journal and trace, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from connectors.emulators.control import (
    BudgetState,
    ControlMiddleware,
    EmulatorControl,
    FaultPlan,
    FaultSpecError,
    RateBudget,
)
from connectors.emulators.server import ServerThread


class PlainStyle:
    def rate_bucket(self, method: str, path: str) -> str | None:
        return "all"

    def throttled(self, state: BudgetState) -> tuple[int, dict[str, str], bytes]:
        return 429, {"Retry-After": str(state.retry_after_s)}, b'{"error": "slow down"}'

    def too_many_requests(self, state: BudgetState) -> tuple[int, dict[str, str], bytes]:
        return self.throttled(state)

    def server_error(self, status: int) -> tuple[int, dict[str, str], bytes]:
        return status, {}, b'{"error": "boom"}'

    def budget_headers(self, state: BudgetState) -> dict[str, str]:
        return {"X-Remaining": str(state.remaining)}


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": b'{"hello": "world"}'})


@pytest.fixture
def served() -> Iterator[tuple[str, EmulatorControl]]:
    control = EmulatorControl()
    with ServerThread(ControlMiddleware(hello, control, PlainStyle())) as server:
        yield server.url, control


def test_fault_spec_parsing() -> None:
    plan = FaultPlan.parse(
        "5xx:0.1, 429:0.05,timeout:0.01,reset:0.02,page:/api/v1/users:3,page:/v1.0/users:2:503,seed:9"
    )
    assert (plan.error_5xx, plan.error_429, plan.timeout, plan.reset, plan.seed) == (0.1, 0.05, 0.01, 0.02, 9)
    assert [(p.path, p.page, p.status) for p in plan.pages] == [
        ("/api/v1/users", 3, 500),
        ("/v1.0/users", 2, 503),
    ]


@pytest.mark.parametrize("spec", ["5xx:2", "teapot:0.1", "page:users:x", "5xx:abc", "seed:x"])
def test_bad_fault_specs_are_refused_with_the_part_named(spec: str) -> None:
    with pytest.raises(FaultSpecError, match=spec.split(",")[0].split(":")[0]):
        FaultPlan.parse(spec)


def test_rate_budget_window() -> None:
    budget = RateBudget(limit=2, window_s=60)
    assert [budget.take("a")[0] for _ in range(3)] == [True, True, False]
    assert budget.take("b")[0]  # buckets are separate
    assert budget.throttled == 1


def test_budget_headers_throttling_and_journal(served: tuple[str, EmulatorControl]) -> None:
    url, _ = served
    with httpx.Client(base_url=url) as client:
        assert client.get("/x").headers["x-remaining"] == "99999"  # unlimited still states a budget
        client.post("/_emulator/rate", json={"limit": 2, "window_s": 60})
        assert [client.post("/things").status_code for _ in range(3)] == [200, 200, 429]
        journal = client.get("/_emulator/journal").json()
    assert [(e["method"], e["path"], e["status"], e["result"]) for e in journal] == [
        ("POST", "/things", 200, "ok"),
        ("POST", "/things", 200, "ok"),
        ("POST", "/things", 429, "throttled"),
    ]


def test_page_fault_and_reset(served: tuple[str, EmulatorControl]) -> None:
    url, _ = served
    with httpx.Client(base_url=url) as client:
        assert client.post("/_emulator/faults", json={"spec": "page:/list:2:503"}).status_code == 200
        assert [client.get("/list").status_code for _ in range(3)] == [200, 200, 200]  # three page 1s
        assert client.post("/_emulator/faults", json={"spec": "nonsense:1"}).status_code == 400
        client.post("/_emulator/faults", json={"spec": "reset:1"})
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/list")


def test_trace_records_requests_for_replay(served: tuple[str, EmulatorControl]) -> None:
    url, _ = served
    with httpx.Client(base_url=url) as client:
        client.get("/before")
        client.post("/_emulator/trace", json={"enabled": True})
        client.get("/users", params={"limit": 200})
        client.get("/users", params={"after": "x"})
        trace = client.get("/_emulator/trace").json()
    assert [entry[:3] for entry in trace] == [["GET", "/users", "limit=200"], ["GET", "/users", "after=x"]]
    assert trace[0][3] <= trace[1][3]


def test_page_fault_fails_that_page_of_every_listing(served: tuple[str, EmulatorControl]) -> None:
    url, _ = served
    cursors = {"/okta": "after", "/graph": "$skiptoken", "/google": "pageToken"}
    with httpx.Client(base_url=url) as client:
        spec = ",".join(f"page:{path}:2:503" for path in cursors)
        assert client.post("/_emulator/faults", json={"spec": spec}).status_code == 200
        for path, cursor in cursors.items():
            for _ in range(2):  # two listings of the same endpoint, each failing on its own page 2
                codes = [
                    client.get(path).status_code,
                    client.get(path, params={cursor: "p2"}).status_code,
                    client.get(path, params={cursor: "p2"}).status_code,  # the retry succeeds
                    client.get(path, params={cursor: "p3"}).status_code,
                ]
                assert codes == [200, 503, 200, 200], path
        other = [client.get("/other").status_code, client.get("/other", params={"after": "x"}).status_code]
    assert other == [200, 200]


def test_timeout_fault_holds_the_request_then_answers_504(served: tuple[str, EmulatorControl]) -> None:
    url, control = served
    control.hang_s = 1.0
    control.set_faults("timeout:1")
    with httpx.Client(base_url=url) as client:
        with pytest.raises(httpx.ReadTimeout):  # a client with a short read timeout gives up first
            client.get("/slow", timeout=0.2)
        late = client.get("/slow", timeout=5)
    assert late.status_code == 504
    assert late.headers["x-remaining"]  # the provider's per-response headers are on faults too
