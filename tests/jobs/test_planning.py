"""Jobs committed unplanned (an HR leaver's request) get their steps from a worker: exactly once when
two plan at the same time, never half-planned after a failure part-way; and the HR intake's group
commit keeps one event's refusal from touching the others."""

from __future__ import annotations

import shutil
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl import audit
from accessctl.hr.rejections import Rejected
from accessctl.hr.writer import GroupWriter
from accessctl.jobs.enqueue import enqueue_unplanned
from accessctl.jobs.tables import JOBS, STEPS, write_tx
from accessctl.lifecycle import plan_pending as planning
from accessctl.settings import Settings
from accessctl.store.engine import make_engine
from accessctl.store.models import Account, AuditEvent, Person

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
SETTINGS = Settings(okta={"enabled": True}, lifecycle={"guard": {"max_per_hour": 1000, "max_share": 1.0}})
EVENTS: sa.Table = AuditEvent.__table__  # type: ignore[attr-defined]


def _leavers(engine: Engine, count: int) -> list[int]:
    """``count`` people with an Okta account each, and a leaver job committed unplanned for each."""
    jobs = []
    with engine.begin() as conn:
        for _ in range(count):
            tag = uuid.uuid4().hex[:10]
            person = conn.execute(
                Person.__table__.insert()  # type: ignore[attr-defined]
                .values(
                    employee_id=f"E-{tag}",
                    email=f"{tag}@example.com",
                    first_name="A",
                    last_name="B",
                    employment_type="employee",
                    status="active",
                    updated_at=NOW,
                )
                .returning(sa.literal_column("id"))
            ).scalar_one()
            conn.execute(
                Account.__table__.insert().values(  # type: ignore[attr-defined]
                    provider="okta", external_id=f"00u{tag}", login=f"{tag}@example.com", person_id=person
                )
            )
            jobs.append(
                enqueue_unplanned(
                    conn, kind="leaver", person_id=person, reason="HR termination", requested_by="hr", now=NOW
                )
            )
    return jobs


def _planned_events(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        query = sa.select(EVENTS.c.target_id).where(EVENTS.c.action == "job.planned")
        return list(conn.execute(query).scalars())


def test_two_workers_planning_at_once_plan_each_job_exactly_once(engine: Engine) -> None:
    jobs = _leavers(engine, 12)
    counts: list[int] = []
    start = threading.Barrier(2)

    def worker() -> None:
        start.wait(timeout=10)
        counts.append(planning.plan_pending(SETTINGS, engine, now=NOW, limit=100))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sum(counts) == len(jobs)
    with engine.connect() as conn:
        states = dict(conn.execute(sa.select(JOBS.c.id, JOBS.c.state).where(JOBS.c.id.in_(jobs))).all())
        steps = dict(
            conn.execute(
                sa.select(STEPS.c.job_id, sa.func.count())
                .where(STEPS.c.job_id.in_(jobs))
                .group_by(STEPS.c.job_id)
            ).all()
        )
    assert set(states.values()) == {"pending"}
    # suspend, revoke_sessions, verify, refresh_store: once each, not twice
    assert steps == {job: 4 for job in jobs}
    assert sorted(_planned_events(engine)) == sorted(str(job) for job in jobs)
    assert planning.plan_pending(SETTINGS, engine, now=NOW) == 0


def test_a_plan_that_fails_part_way_leaves_its_job_unplanned_for_the_next_try(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    [job] = _leavers(engine, 1)

    def crash(*_args: object, **_kwargs: object) -> str:
        raise RuntimeError("the worker died here")

    with monkeypatch.context() as patched:
        patched.setattr(planning, "settle", crash)  # after the steps were written
        with pytest.raises(RuntimeError):
            planning.plan_pending(SETTINGS, engine, now=NOW)
    with engine.connect() as conn:
        assert conn.execute(sa.select(JOBS.c.state).where(JOBS.c.id == job)).scalar_one() == "planning"
        assert conn.execute(sa.select(sa.func.count()).where(STEPS.c.job_id == job)).scalar_one() == 0
    assert planning.plan_pending(SETTINGS, engine, now=NOW) == 1
    assert _planned_events(engine) == [str(job)]


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path) -> Engine:
    path = tmp_path_factory.mktemp("writer") / "accessctl.db"
    shutil.copyfile(_sqlite_template, path)
    return make_engine(f"sqlite:///{path}")


def test_the_group_commit_answers_each_request_alone_and_only_after_the_commit(sqlite_store: Engine) -> None:
    engine = sqlite_store
    writer = GroupWriter(engine)
    committed: list[bool] = []

    def record(action: str) -> object:
        def work(conn: sa.Connection) -> str:
            audit.record(conn, actor="hr", action=action)
            if action == "refused":
                raise Rejected("replay_mismatch", "another body", status=409)
            return action

        return work

    with write_tx(engine):  # the store busy: the writer's group waits for it
        futures = [writer.submit(record(a)) for a in ("first", "refused", "third")]
        committed.append(any(f.done() for f in futures))
    results = [f.exception(timeout=10) or f.result() for f in futures]
    writer.close()
    assert committed == [False]
    assert results[0] == "first" and results[2] == "third"
    assert isinstance(results[1], Rejected) and results[1].status == 409
    with engine.connect() as conn:
        actions = list(conn.execute(sa.select(EVENTS.c.action).order_by(EVENTS.c.seq)).scalars())
        assert audit.verify(conn).ok
    assert actions == ["first", "third"]  # the refused one left nothing, not even its audit event
