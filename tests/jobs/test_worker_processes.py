"""Worker processes against one store: two on PostgreSQL share a queue and run each step once; a
second one on SQLite is refused with a clear error; one SIGKILLed mid-step leaves a lease that
expires, and the step runs again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from accessctl import audit
from accessctl.jobs import PlannedStep, StepOutcome, StepView, enqueue, run_worker
from accessctl.jobs.tables import JOBS
from accessctl.store.engine import make_engine
from accessctl.store.locks import LOCKS
from accessctl.store.migrate import upgrade
from accessctl.sync import clock
from tests.jobs.helpers import job, make_job

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 60


def _worker(url: str, worker_id: str, log: Path, *extra: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.jobs.worker_proc", url, worker_id, str(log), *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _executions(log: Path) -> list[tuple[int, str, int, str]]:
    if not log.exists():
        return []
    lines = [line.split() for line in log.read_text().splitlines()]
    return [(int(step), worker, int(attempt), action) for step, worker, attempt, action in lines]


def _wait_for(what: str, ready: Callable[[], bool]) -> None:
    began = time.monotonic()
    while not ready():
        assert time.monotonic() - began < DEADLINE_S, f"never happened: {what}"
        time.sleep(0.02)


def _plan(n: int) -> list[PlannedStep]:
    return [
        PlannedStep("okta", "block_sign_in", {"account_id": f"o{n}"}),
        PlannedStep("okta", "revoke_sessions", {"account_id": f"o{n}"}),
        PlannedStep("google", "block_sign_in", {"account_id": f"g{n}"}),
    ]


@pytest.mark.postgres
def test_two_worker_processes_on_postgresql_share_200_jobs_and_run_each_step_once(
    postgres_url: str, tmp_path: Path
) -> None:
    engine = make_engine(postgres_url)
    upgrade(engine)
    with Session(engine) as session, session.begin():
        for n in range(200):
            step = PlannedStep(("okta", "entra", "google")[n % 3], "block_sign_in", {"account_id": f"a{n}"})
            enqueue(session, kind="leaver", person_id=None, reason="mass", requested_by="hr", steps=[step])
    log = tmp_path / "executions.log"
    workers = [_worker(postgres_url, f"w{i}", log, "--until-idle") for i in (1, 2)]
    for proc in workers:
        _, err = proc.communicate(timeout=DEADLINE_S)
        assert proc.returncode == 0, err
    runs = _executions(log)
    per_step = Counter(step for step, *_ in runs)
    assert len(per_step) == 200 and set(per_step.values()) == {1}
    by_worker = Counter(worker for _, worker, *_ in runs)
    assert by_worker["w1"] > 0 and by_worker["w2"] > 0, by_worker  # both took from the one queue
    with engine.connect() as conn:
        states = conn.execute(sa.select(JOBS.c.state, sa.func.count()).group_by(JOBS.c.state)).all()
        assert states == [("done", 200)]
        assert audit.verify(conn).ok
    engine.dispose()


def test_a_second_worker_process_on_a_sqlite_store_gets_a_clear_error(
    sqlite_url: str, tmp_path: Path
) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    url = sqlite_url
    first = _worker(url, "first", tmp_path / "log")
    try:

        def held() -> bool:
            with engine.connect() as conn:
                return (
                    conn.execute(sa.select(LOCKS.c.holder_pid).where(LOCKS.c.name == "jobs:worker")).first()
                    is not None
                )

        _wait_for("the first worker holds jobs:worker", held)
        second = _worker(url, "second", tmp_path / "log")
        _, err = second.communicate(timeout=DEADLINE_S)
        assert second.returncode == 3
        assert err.strip().splitlines() == [
            f"accessctl worker: another job worker already serves this store (pid {first.pid} on "
            f"{os.uname().nodename} since {err.split(' since ')[1].split(')')[0]}); a SQLite store has one "
            "worker process (stop it, or use PostgreSQL for several workers)"
        ]
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=DEADLINE_S)
    assert first.returncode == 0  # SIGTERM: a graceful stop


def test_a_worker_killed_mid_step_leaves_a_lease_that_expires_and_the_step_runs_again(
    engine: Engine, tmp_path: Path
) -> None:
    url = engine.url.render_as_string(hide_password=False)
    job_id = make_job(engine, _plan(1), now=clock.now())
    log = tmp_path / "executions.log"
    victim = _worker(url, "victim", log, "--hang-on", "revoke_sessions", "--lease", "30")
    try:
        _wait_for(
            "the victim is in revoke_sessions",
            lambda: any(a == "revoke_sessions" for *_, a in _executions(log)),
        )
        _wait_for(
            "google's step is done",
            lambda: (
                {s.provider: s.state for s in job(engine, job_id).steps if s.seq == 1}["google"] == "done"
            ),
        )
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=DEADLINE_S)
    hung = next(s for s in job(engine, job_id).steps if s.action == "revoke_sessions")
    assert (hung.state, hung.attempts) == ("running", 1)

    later = lambda: clock.now() + timedelta(seconds=31)  # noqa: E731 - the victim's lease has run out
    ran: list[tuple[int, str]] = []

    async def execute(step: StepView) -> StepOutcome:
        ran.append((step.step_id, step.action))
        return StepOutcome("ALREADY_DONE")

    async def successor() -> None:
        stop = asyncio.Event()
        worker = asyncio.create_task(
            run_worker(
                engine, execute=execute, worker_id="successor", clock=later, stop=stop, idle_poll_s=0.02
            )
        )
        began = time.monotonic()
        while (await asyncio.to_thread(job, engine, job_id)).state != "done":
            assert time.monotonic() - began < DEADLINE_S
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(worker, DEADLINE_S)

    asyncio.run(successor())
    assert ran == [(hung.id, "revoke_sessions")]  # only the step the victim never finished
    runs = Counter(step for step, *_ in _executions(log))
    assert runs[hung.id] == 1 and sum(runs.values()) == 3  # the victim ran each step once
    status = job(engine, job_id)
    assert status.state == "done"
    assert next(s for s in status.steps if s.id == hung.id).attempts == 2
    with engine.connect() as conn:
        assert audit.verify(conn).ok
