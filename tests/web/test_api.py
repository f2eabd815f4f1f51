"""The admin API in-process (httpx on the ASGI app), on SQLite and PostgreSQL: what a client sees for
people, jobs, retry and cancel; bad input and unknown ids as JSON 4xx; each auth failure refused with
its status, nothing changed, counted in /metrics."""

from __future__ import annotations

import re

import httpx
import pytest
import sqlalchemy as sa
from fastapi import APIRouter, Depends
from sqlalchemy.engine import Engine

from accessctl.jobs import PlannedStep, claim, complete, fail_attempt
from accessctl.jobs.tables import JOBS
from accessctl.settings import Settings
from accessctl.store.engine import make_engine
from accessctl.tokens import TokenInfo, revoke_token
from accessctl.web import create_app, require_scope
from accessctl.web.runtime import Liveness
from tests.jobs.helpers import EVENTS, T0, job, leaver_plan, make_job
from tests.web.conftest import Api, seed_person


def audit_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar_one()


def metric(api: Api, name: str, **labels: str) -> float:
    text = api.get("/metrics", as_=None).text
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = "^" + re.escape(name) + (r"\{" + re.escape(want) + r"\}" if want else "") + r" (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def run_all_steps(engine: Engine) -> None:
    """Every step, each run 12 s after the job was made (a chain's next step is due once the one
    before it completed)."""
    later = T0.replace(second=12)
    while (step := claim(engine, worker_id="w", lease_s=30, now=later)) is not None:
        complete(engine, step, result="APPLIED", answer="ok", now=later)


def test_health_ready_docs(api: Api) -> None:
    assert api.get("/healthz", as_=None).json() == {"status": "ok"}
    ready = api.get("/readyz", as_=None)
    assert ready.status_code == 200 and ready.json()["checks"]["schema"] == "ok", ready.text
    assert api.get("/docs", as_=None).status_code == 200
    paths = api.get("/openapi.json", as_=None).json()["paths"]
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/retry", "/v1/people/{person}"} <= set(paths)


def test_readyz_names_a_missing_schema(tmp_path) -> None:
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    api = Api(create_app(Settings(), empty), empty, {})
    ready = api.get("/readyz", as_=None)
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok"
    assert "not initialised" in ready.json()["checks"]["schema"]
    empty.dispose()


def test_people_and_their_access(api: Api) -> None:
    seed_person(api.engine)
    people = api.get("/v1/people", as_="read").json()
    assert [p["email"] for p in people["people"]] == ["ada@example.com"]
    access = api.get("/v1/people/ada@example.com", as_="read").json()
    assert access["person"]["employee_id"] == "E1"
    assert [(a["provider"], a["entitlement"], a["privileged"]) for a in access["access"]] == [
        ("okta", "Admins", True)
    ]
    missing = api.get("/v1/people/nobody@example.com", as_="read")
    assert missing.status_code == 404 and "nobody@example.com" in missing.json()["error"]["message"]


def test_jobs_list_and_per_step_progress(api: Api) -> None:
    first = make_job(api.engine, leaver_plan(["okta"]))
    second = make_job(api.engine, [PlannedStep.protected("google", "suspend", {"account_id": "g1"})])
    listed = api.get("/v1/jobs", as_="read").json()["jobs"]
    assert [(j["id"], j["state"], j["steps"], j["steps_done"]) for j in listed] == [
        (second, "done", 1, 1),
        (first, "pending", 3, 0),
    ]
    assert [j["id"] for j in api.get("/v1/jobs?state=pending", as_="read").json()["jobs"]] == [first]
    shown = api.get(f"/v1/jobs/{first}", as_="read").json()
    assert [(s["provider"], s["action"], s["state"], s["attempts"]) for s in shown["steps"]] == [
        ("okta", "block_sign_in", "pending", 0),
        ("okta", "revoke_sessions", "pending", 0),
        ("okta", "remove_membership", "pending", 0),
    ]
    assert shown["steps"][0]["target"] == {"account_id": "okta-1"}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/jobs/999", 404),
        ("/v1/jobs/abc", 422),
        ("/v1/jobs/0", 422),
        ("/v1/jobs/99999999999999999999", 422),
        ("/v1/jobs?state=bogus", 422),
        ("/v1/jobs?limit=-1", 422),
        ("/v1/nothing-here", 404),
    ],
)
def test_bad_input_is_a_json_4xx(api: Api, path: str, status: int) -> None:
    answer = api.get(path, as_="read")
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] and error["message"] and "Traceback" not in answer.text


def test_cancel_and_retry(api: Api) -> None:
    pending = make_job(api.engine, leaver_plan(["okta"]))
    cancelled = api.post(f"/v1/jobs/{pending}/cancel", json={"reason": "wrong person"})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["steps_cancelled"] == 3 and cancelled.json()["job"]["state"] == "cancelled"
    again = api.post(f"/v1/jobs/{pending}/cancel")
    assert again.status_code == 409 and "nothing to cancel" in again.json()["error"]["message"]
    with api.engine.connect() as conn:
        actor = conn.execute(sa.select(EVENTS.c.actor).where(EVENTS.c.action == "job.cancelled")).scalar_one()
    assert actor == "token:admin-token"

    failing = make_job(api.engine, [PlannedStep("entra", "block_sign_in", {"account_id": "e1"})])
    assert api.post(f"/v1/jobs/{failing}/retry").status_code == 409  # not failed (yet)
    step = claim(api.engine, worker_id="w", lease_s=30, now=T0)
    assert step is not None
    fail_attempt(api.engine, step, error="NotFoundError (404): no such user", permanent=True, now=T0)
    failed = api.get(f"/v1/jobs/{failing}", as_="read").json()
    assert failed["state"] == "failed" and failed["steps"][0]["last_answer"].startswith("NotFoundError")
    retried = api.post(f"/v1/jobs/{failing}/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["steps_retried"] == 1
    assert retried.json()["job"]["steps"][0]["state"] == "pending"
    assert api.post("/v1/jobs/424242/retry").status_code == 404


@pytest.mark.parametrize(
    ("who", "status", "reason"),
    [
        (None, 401, "missing"),
        ("not-a-token", 401, "malformed"),
        ("actk_000000000000_" + "A" * 43, 401, "unknown"),
        ("WRONG", 401, "wrong_secret"),
        ("REVOKED", 401, "revoked"),
        ("read", 403, "scope"),
        ("hr", 403, "scope"),
    ],
)
def test_each_auth_failure_is_refused_counted_and_changes_nothing(
    api: Api, who: str | None, status: int, reason: str
) -> None:
    job_id = make_job(api.engine, leaver_plan(["okta"]))
    revoke_token(api.engine, name="read-token", by="test", now=T0)
    api.tokens["REVOKED"] = api.tokens["read"]
    api.tokens["WRONG"] = api.tokens["admin"][:-5] + "AAAAA"
    if reason == "scope" and who == "read":
        from accessctl.tokens import Scope, create_token

        api.tokens["read"] = create_token(api.engine, name="reader2", scope=Scope.READ, by="t", now=T0)[1]
    events = audit_count(api.engine)
    before = metric(api, "accessctl_auth_failures_total", reason=reason)
    answer = api.post(f"/v1/jobs/{job_id}/cancel", as_=who)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == ("forbidden" if status == 403 else "unauthorized")
    assert api.tokens["admin"] not in answer.text
    assert job(api.engine, job_id).state == "pending"
    assert audit_count(api.engine) == events
    assert metric(api, "accessctl_auth_failures_total", reason=reason) == before + 1


def test_metrics_read_the_store(api: Api) -> None:
    make_job(api.engine, leaver_plan(["okta"]))
    make_job(api.engine, [PlannedStep.protected("google", "suspend", {"account_id": "g1"})], kind="lockout")
    assert metric(api, "accessctl_jobs", state="pending") == 1
    assert metric(api, "accessctl_jobs", state="done") == 1
    assert metric(api, "accessctl_protected_skips_total") == 1
    run_all_steps(api.engine)  # done 12 s after it was made
    with api.engine.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(JOBS).where(JOBS.c.state == "done")).scalar()
            == 2
        )
    assert metric(api, "accessctl_time_to_revoke_seconds_bucket", le="10.0") == 1  # the lockout: at once
    assert metric(api, "accessctl_time_to_revoke_seconds_bucket", le="30.0") == 2
    assert metric(api, "accessctl_time_to_revoke_seconds_sum") == 12.0


def test_a_router_mounts_in_one_line_and_a_bug_is_a_json_500(engine: Engine) -> None:
    router = APIRouter()

    @router.get("/hr/ping")
    def ping(token: TokenInfo = Depends(require_scope("hr"))) -> dict[str, str]:
        return {"hello": token.name}

    @router.get("/hr/bug")
    def bug() -> None:
        raise RuntimeError("secret internals")

    from accessctl.tokens import Scope, create_token

    _, hr = create_token(engine, name="workday", scope=Scope.HR, by="t", now=T0)
    app = create_app(Settings(), engine, routers=[router])
    api = Api(app, engine, {"hr": hr})
    assert api.get("/hr/ping", as_="hr").json() == {"hello": "workday"}

    async def bug_call() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/hr/bug", timeout=10)

    import asyncio

    answer = asyncio.run(bug_call())
    assert answer.status_code == 500
    assert answer.json()["error"]["code"] == "internal_error"
    assert "secret internals" not in answer.text and "Traceback" not in answer.text


def test_readyz_is_503_when_the_workers_or_the_scheduler_are_not_running(engine: Engine) -> None:
    class Stopped:
        running = False

    app = create_app(Settings(), engine, liveness=Liveness(workers=1, scheduler=Stopped()))
    ready = Api(app, engine, {}).get("/readyz", as_=None)
    assert ready.status_code == 503
    assert ready.json()["checks"] == {
        "database": "ok",
        "schema": "ok",
        "workers": "0 of 1 job worker(s) running",
        "scheduler": "the scheduler is not running",
    }
