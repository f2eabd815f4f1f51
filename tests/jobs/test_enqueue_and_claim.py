"""A plan becomes a job in the caller's transaction; claims honour each provider's order, run providers
in parallel, skip protected steps and quarantined or cancelled jobs."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from accessctl import audit
from accessctl.jobs import PlanError, PlannedStep, claim, complete, enqueue, release_job
from accessctl.jobs.tables import JOBS, STEPS
from accessctl.store.engine import make_engine
from accessctl.store.migrate import _config, upgrade
from accessctl.store.models import HrEvent
from tests.jobs.helpers import T0, job, leaver_plan, make_job, step_events


def test_the_job_commits_or_rolls_back_with_the_callers_transaction(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(
            HrEvent(source="workday", source_event_id="e1", event_type="termination", payload_digest="d")
        )
        session.flush()
        enqueue(
            session, kind="leaver", person_id=None, reason="r", requested_by="hr", steps=leaver_plan(), now=T0
        )
        session.rollback()
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(JOBS)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(STEPS)).scalar() == 0
        assert audit.verify(conn).checked == 0
    with Session(engine) as session, session.begin():
        event = HrEvent(source="workday", source_event_id="e1", event_type="termination", payload_digest="d")
        session.add(event)
        session.flush()
        job_id = enqueue(
            session,
            kind="leaver",
            person_id=None,
            reason="terminated",
            requested_by="hr:workday",
            steps=leaver_plan(("okta",)),
            hr_event_id=event.id,
            now=T0,
        )
    status = job(engine, job_id)
    assert status.state == "pending" and status.requested_by == "hr:workday"
    assert [(s.seq, s.action, s.state) for s in status.steps] == [
        (1, "block_sign_in", "pending"),
        (2, "revoke_sessions", "pending"),
        (3, "remove_membership", "pending"),
    ]
    assert status.steps[2].target == {"account_id": "okta-1", "group": "eng"}
    assert status.steps[0].expected_effect == "sign-in blocked"


def test_steps_run_in_order_within_a_provider_and_in_parallel_across_providers(engine: Engine) -> None:
    job_id = make_job(engine, leaver_plan(("okta", "google")))
    first = claim(engine, worker_id="w1", lease_s=60, now=T0)
    second = claim(engine, worker_id="w2", lease_s=60, now=T0)
    assert first is not None and second is not None
    assert {(first.provider, first.action), (second.provider, second.action)} == {
        ("okta", "block_sign_in"),
        ("google", "block_sign_in"),
    }
    # each provider's next step waits for its first: nothing else is runnable
    assert claim(engine, worker_id="w3", lease_s=60, now=T0) is None
    assert job(engine, job_id).state == "running"
    complete(engine, first, result="APPLIED", now=T0)
    nxt = claim(engine, worker_id="w3", lease_s=60, now=T0)
    assert nxt is not None and (nxt.provider, nxt.action) == (first.provider, "revoke_sessions")
    assert claim(engine, worker_id="w3", lease_s=60, now=T0) is None


def test_a_protected_step_is_skipped_and_does_not_hold_up_its_chain(engine: Engine) -> None:
    steps = [
        PlannedStep.protected("okta", "block_sign_in", {"account_id": "admin"}, "sign-in blocked"),
        PlannedStep("okta", "revoke_sessions", {"account_id": "admin"}),
    ]
    job_id = make_job(engine, steps)
    assert job(engine, job_id).steps[0].result == "skipped: protected"
    step = claim(engine, worker_id="w", lease_s=60, now=T0)
    assert step is not None and step.action == "revoke_sessions"
    assert complete(engine, step, result="ALREADY_DONE", now=T0).job_state == "done"
    assert [s.result for s in job(engine, job_id).steps] == ["skipped: protected", "ALREADY_DONE"]
    only_skipped = make_job(engine, steps[:1])
    assert job(engine, only_skipped).state == "done"


def test_a_quarantined_job_runs_only_once_released(engine: Engine) -> None:
    job_id = make_job(engine, leaver_plan(("okta",)), quarantined=True)
    assert job(engine, job_id).state == "quarantined"
    assert claim(engine, worker_id="w", lease_s=60, now=T0) is None
    assert release_job(engine, job_id, by="bob@example.com", now=T0) == "pending"
    assert claim(engine, worker_id="w", lease_s=60, now=T0) is not None
    with engine.connect() as conn:
        released = conn.execute(sa.text("SELECT actor FROM audit_event WHERE action = 'job.released'")).all()
    assert released == [("bob@example.com",)]


def test_a_plan_the_store_cannot_keep_is_refused_and_nothing_is_written(engine: Engine) -> None:
    with pytest.raises(PlanError, match="provider 'okta-but-far-too-long'"):
        make_job(engine, [PlannedStep("okta-but-far-too-long", "suspend")])
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(JOBS)).scalar() == 0


def test_enqueue_audits_the_job_and_each_planned_step(engine: Engine) -> None:
    make_job(
        engine,
        [*leaver_plan(("okta",)), PlannedStep.protected("google", "block_sign_in", {"account_id": "g"})],
    )
    events = step_events(engine)
    assert [e.action for e in events] == ["job.step.planned"] * 3 + ["job.step.skipped"]
    assert all(e.actor == "alice@example.com" for e in events)
    assert events[0].details["requested_by"] == "alice@example.com"
    assert events[0].details["target"] == {"account_id": "okta-1"}
    with engine.connect() as conn:
        assert audit.verify(conn).ok


def test_migration_0006_upgrades_and_downgrades(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine, "0005")
    upgrade(engine)
    make_job(engine, leaver_plan(("okta",)))
    with engine.begin() as conn:  # a placeholder table's rows are not kept by a downgrade
        conn.execute(sa.delete(STEPS))
        conn.execute(sa.delete(JOBS))
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0005")
    columns = {c["name"] for c in sa.inspect(engine).get_columns("job")}
    assert "idempotency_key" in columns and "state" not in columns
    upgrade(engine)
    assert "state" in {c["name"] for c in sa.inspect(engine).get_columns("job")}
    engine.dispose()
