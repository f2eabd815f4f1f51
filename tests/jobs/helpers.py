"""Shared pieces of the job engine's tests: a clock tests move, a plan made into a job, the audit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from accessctl.jobs import PlannedStep, enqueue, get_job
from accessctl.jobs.read import JobStatus
from accessctl.store.models import AuditEvent

EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class ManualClock:
    """Time that moves only when a test moves it."""

    def __init__(self, start: datetime = T0) -> None:
        self.at = start

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> datetime:
        self.at += timedelta(seconds=seconds)
        return self.at


def leaver_plan(providers: Sequence[str] = ("okta", "entra", "google")) -> list[PlannedStep]:
    """Block, revoke sessions, remove a group: three ordered steps per provider."""
    steps = []
    for provider in providers:
        account = {"account_id": f"{provider}-1"}
        steps += [
            PlannedStep(provider, "block_sign_in", account, "sign-in blocked"),
            PlannedStep(provider, "revoke_sessions", account, "signed out everywhere"),
            PlannedStep(provider, "remove_membership", {**account, "group": "eng"}, "no longer in eng"),
        ]
    return steps


def make_job(
    engine: Engine, steps: Sequence[PlannedStep], *, now: datetime = T0, kind: str = "leaver", **kw: Any
) -> int:
    with Session(engine) as session, session.begin():
        return enqueue(
            session,
            kind=kind,
            person_id=None,
            reason=kw.pop("reason", "terminated"),
            requested_by=kw.pop("requested_by", "alice@example.com"),
            steps=steps,
            now=now,
            **kw,
        )


def job(engine: Engine, job_id: int) -> JobStatus:
    with engine.connect() as conn:
        status = get_job(conn, job_id)
    assert status is not None
    return status


def step_events(engine: Engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(
            conn.execute(sa.select(EVENTS).where(EVENTS.c.target_type == "job_step").order_by(EVENTS.c.seq))
        )


def start_worker(engine: Engine, execute: Any, stop: Any, **kw: Any) -> Any:
    """``run_worker`` as a task of the running loop: worker "w1", the real clock, quick idle polls."""
    import asyncio

    from accessctl.jobs import run_worker
    from accessctl.sync import clock

    options: dict[str, Any] = {"clock": clock.now, "idle_poll_s": 0.02, "lease_s": 30, **kw}
    return asyncio.create_task(run_worker(engine, execute=execute, worker_id="w1", stop=stop, **options))
