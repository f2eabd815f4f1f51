"""SIGKILL `accessctl serve` at three seeded random moments while it carries out a batch of
leavers, restarting it each time: every job ends done, every provider shows the accounts suspended
with no direct grants (read back through the connectors), no write reached a provider twice, no
write was refused (a step run again after a kill finds its work done and says ALREADY_DONE), and
`accessctl audit verify` passes."""

from __future__ import annotations

import random
import signal
import time
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
    run_cli,
    scaled,
    scaled_timeout,
    states,
    unfinished,
    writes,
)
from tests.web.test_serve import free_port, wait_for, wait_until_ready

pytestmark = pytest.mark.timeout(scaled_timeout(240))

LEAVERS = scaled(5, 100)
KILLS = 3
SEED = 20261202


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from reliability_world(
        tmp_path, f"sqlite:///{tmp_path / 'store.db'}", people=scaled(LEAVERS + 10, LEAVERS * 5 // 4 + 10)
    )


def _serve(world: World, port: int):
    proc = accessctl(world, "serve", "--port", str(port))
    wait_until_ready(proc, f"http://127.0.0.1:{port}")
    return proc


def _steps_done(world: World, job_ids: list[int]) -> int:
    return sum(s.state == "done" for status in states(world, job_ids).values() for s in status.steps)


def test_three_sigkills_during_a_batch_of_leavers_lose_nothing_and_repeat_nothing(world: World) -> None:
    jobs = queue_leavers(world, LEAVERS)
    job_ids = list(jobs)
    total = sum(len(status.steps) for status in states(world, job_ids).values())
    rng = random.Random(SEED)
    # three kills at seeded random points of the batch: after this many steps are done
    kill_at = sorted(rng.sample(range(1, total * 3 // 4), KILLS))
    port = free_port()
    kills = 0
    proc = _serve(world, port)
    try:
        for target in kill_at:
            wait_for(
                lambda t=target: _steps_done(world, job_ids) >= t, f"{target} steps done", scaled_timeout(60)
            )
            time.sleep(rng.uniform(0, 0.3))  # and somewhere inside the next steps
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=10)
            kills += 1
            proc = _serve(world, port)
        try:
            wait_for(lambda: not unfinished(world, job_ids), "every leaver's job ends", scaled_timeout(60))
        except AssertionError:
            left = states(world, unfinished(world, job_ids))
            raise AssertionError({j: explain(s) for j, s in left.items()}) from None
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert kills == KILLS
    assert proc.returncode == 0 and "Traceback" not in err, err

    assert_left(world, jobs)
    twice = {where: n for where, n in writes(world).items() if n > 1}
    assert twice == {}, {where: journal_of(world, where[0], where[2]) for where in twice}
    assert refused_writes(world) == [], refused_writes(world)
    for status in states(world, job_ids).values():
        assert {s.result for s in status.steps} <= {"APPLIED", "ALREADY_DONE"}, explain(status)
    verified = run_cli(world, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
