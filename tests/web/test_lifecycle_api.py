"""PENDING the lifecycle branch's merge (then: rename to test_lifecycle_api.py and mount
accessctl.web.lifecycle_api.router in create_app).

The lifecycle's writes through the admin API, on the emulators: a dry run answers the plan and
queues nothing; a leaver POSTed to a real `accessctl serve` (the lifecycle's own step executor) ends
with the person suspended and stripped in the providers, read back through their APIs; quarantine
release and reject; refusals as JSON 4xx with nothing queued."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from accessctl.jobs import PlannedStep
from accessctl.jobs.tables import JOBS
from accessctl.sync import clock
from accessctl.tokens import Scope, create_token
from accessctl.web import create_app
from tests.jobs.helpers import job, make_job
from tests.lifecycle.conftest import World, _world
from tests.lifecycle.helpers import direct, live
from tests.web.conftest import Api
from tests.web.test_serve import DEADLINE_S, free_port, wait_for, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """The emulators on a small org, accessctl configured and synced against them (SQLite)."""
    yield from _world(tmp_path, f"sqlite:///{tmp_path / 'store.db'}")


def jobs_count(world: World) -> int:
    with world.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(JOBS)).scalar_one()


def accounts_of(world: World, person_id: int) -> dict[str, str]:
    from accessctl.store.models import Account

    table = Account.__table__  # type: ignore[attr-defined]
    with world.engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.provider, table.c.external_id).where(
                table.c.person_id == person_id, table.c.ended_at.is_(None)
            )
        )
        return dict(rows.all())


def in_process(world: World) -> Api:
    tokens = {
        s.value: create_token(world.engine, name=f"{s.value}-t", scope=s, by="test", now=clock.now())[1]
        for s in Scope
    }
    return Api(create_app(world.settings, world.engine), world.engine, tokens)


def test_a_dry_run_answers_the_plan_and_refusals_queue_nothing(world: World) -> None:
    api = in_process(world)
    person = world.people_with_accounts()[0]
    dry = api.post(f"/v1/people/{person.email}/deprovision", json={"dry_run": True, "reason": "left"})
    assert dry.status_code == 200, dry.text
    body = dry.json()
    assert body["dry_run"] is True and body["job_id"] is None
    assert {row["provider"] for row in body["plan"]} == {"okta", "entra", "google"}
    assert jobs_count(world) == 0
    unknown = api.post("/v1/people/nobody@example.invalid/deprovision", json={})
    assert unknown.status_code == 404 and unknown.json()["error"]["message"]
    refused = api.post(f"/v1/people/{person.email}/lockout", json={}, as_="read")
    assert refused.status_code == 403
    bad = api.post(f"/v1/people/{person.email}/revoke", json={"entitlement": ""})
    assert bad.status_code == 422
    assert jobs_count(world) == 0


def test_quarantine_release_and_reject(world: World) -> None:
    api = in_process(world)
    held = make_job(world.engine, [PlannedStep("okta", "suspend", {"account_id": "x"})], quarantined=True)
    other = make_job(world.engine, [PlannedStep("okta", "suspend", {"account_id": "y"})], quarantined=True)
    released = api.post(f"/v1/jobs/{held}/release")
    assert released.status_code == 200, released.text
    assert released.json()["state"] == "pending" and job(world.engine, held).state == "pending"
    again = api.post(f"/v1/jobs/{held}/release")
    assert again.status_code == 409 and "not quarantined" in again.json()["error"]["message"]
    rejected = api.post(f"/v1/jobs/{other}/reject", json={"reason": "a mistake in the HR export"})
    assert rejected.status_code == 200 and job(world.engine, other).state == "cancelled"


def test_a_leaver_posted_to_a_real_service_is_carried_out_in_every_provider(world: World) -> None:
    person = world.people_with_accounts()[0]
    accounts = accounts_of(world, person.id)
    _, token = create_token(world.engine, name="ops", scope=Scope.ADMIN, by="test", now=clock.now())
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCESSCTL_")}
    env.update(PYTHONPATH=str(ROOT), ACCESSCTL_CONFIG=str(world.config_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "accessctl.cli", "serve", "--port", str(port)],
        env=env,
        cwd=world.config_path.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        wait_until_ready(proc, base)
        made = httpx.post(
            f"{base}/v1/people/{person.email}/deprovision",
            json={"reason": "left"},
            headers=headers,
            timeout=60,
        )
        assert made.status_code == 202, made.text
        job_id = made.json()["job_id"]

        def finished() -> dict | None:
            shown = httpx.get(f"{base}/v1/jobs/{job_id}", headers=headers, timeout=10).json()
            return shown if shown["state"] in ("done", "failed") else None

        shown = wait_for(finished, "the leaver's job ends", 90)
        assert shown["state"] == "done", [(s["action"], s["last_answer"]) for s in shown["steps"]]
        seen = live(world, accounts)
        for provider, (record, grants, _lock) in seen.items():
            assert record is not None and str(record.status) != "active", provider
            assert direct(grants) == set(), provider
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
