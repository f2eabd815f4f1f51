"""Two `accessctl worker` processes on one PostgreSQL store share a batch of leavers: every job
ends done, both workers ran steps, and each write step reached its provider exactly once (counted
at the emulators' journal: one successful write per step, none twice)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lifecycle.conftest import World
from tests.reliability.helpers import (
    accessctl,
    assert_left,
    explain,
    journal_of,
    queue_leavers,
    refused_writes,
    reliability_world,
    scaled,
    scaled_timeout,
    set_web,
    states,
    unfinished,
    writes,
)
from tests.web.test_serve import wait_for

pytestmark = [pytest.mark.timeout(scaled_timeout(240)), pytest.mark.postgres]

LEAVERS = scaled(6, 200)
WRITES = ("suspend", "deactivate", "remove_grant")


@pytest.fixture
def pg_world(tmp_path: Path, postgres_url: str) -> Iterator[World]:
    yield from reliability_world(
        tmp_path, postgres_url, people=scaled(LEAVERS + 8, LEAVERS * 5 // 4 + 10), seed=13
    )


def test_two_workers_on_postgresql_run_each_step_once(pg_world: World) -> None:
    world = pg_world
    jobs = queue_leavers(world, LEAVERS)
    job_ids = list(jobs)
    # a lease longer than a worker's first Google call (which holds its event loop for seconds on a
    # busy machine: with 2 s, the other worker took such steps over and Google saw the write twice)
    set_web(world, lease_s=10)
    workers = [accessctl(world, "worker", "--workers", "3") for _ in range(2)]
    try:
        try:
            wait_for(lambda: not unfinished(world, job_ids), "every leaver's job ends", scaled_timeout(120))
        except AssertionError:
            left = states(world, unfinished(world, job_ids))
            raise AssertionError({j: explain(s) for j, s in left.items()}) from None
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        errs = [proc.communicate(timeout=30)[1] for proc in workers]
    for proc, err in zip(workers, errs, strict=True):
        assert proc.returncode == 0 and "Traceback" not in err, err
    ran = [int(err.rsplit("stopped; ", 1)[1].split()[0]) for err in errs]
    assert all(ran), f"one worker ran no step: {ran}"

    assert_left(world, jobs)
    statuses = list(states(world, job_ids).values())
    steps = [s for status in statuses for s in status.steps]
    assert [(s.id, s.provider, s.action) for s in steps if s.attempts != 1] == [], "a step ran twice"
    counted = writes(world)
    twice = {where: journal_of(world, where[0], where[2]) for where, n in counted.items() if n > 1}
    assert twice == {}, twice
    applied = [s for s in steps if s.action in WRITES and s.result == "APPLIED"]
    assert len(applied) <= sum(counted.values()), "a step said APPLIED but no write reached a provider"
    assert refused_writes(world) == []
