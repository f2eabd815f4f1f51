"""Providers that fail some of the time (10% 5xx, 5% 429, 2% timeouts): every leaver completes.
A provider that stays down (every request a 5xx) leaves a `failed` job whose error `accessctl jobs
show` prints, and `accessctl jobs retry ID` completes it once the provider is back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lifecycle.conftest import World
from tests.reliability.helpers import (
    assert_left,
    explain,
    queue_leavers,
    refused_writes,
    reliability_world,
    run_cli,
    states,
    work_until_final,
)

pytestmark = pytest.mark.timeout(180)

FLAKY = "5xx:0.1,429:0.05,timeout:0.02,hang:1,seed:{seed}"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from reliability_world(tmp_path, f"sqlite:///{tmp_path / 'store.db'}", people=12, seed=8)


def test_every_leaver_completes_on_flaky_providers_and_a_provider_down_fails_until_retried(
    world: World,
) -> None:
    jobs = queue_leavers(world, 3)
    flaky = list(jobs)
    for n, control in enumerate(world.running.controls.values()):
        control.set_faults(FLAKY.format(seed=n + 1))
    work_until_final(world, flaky)
    faults = sum(e.result.startswith("fault:") for c in world.running.controls.values() for e in c.journal)
    assert faults >= 5, f"only {faults} writes were faulted: the test did not test retries"
    for control in world.running.controls.values():
        control.set_faults(None)  # the test's own read-back is not what is under test
    assert_left(world, jobs)
    assert refused_writes(world) == []

    later = queue_leavers(world, 1)  # people who have left are no longer candidates
    (down,) = later

    world.running.controls["google"].set_faults("5xx:1.0")
    work_until_final(world, [down])
    failed = states(world, [down])[down]
    assert failed.state == "failed", explain(failed)
    shown = run_cli(world, "jobs", "show", str(down))
    assert shown.returncode == 0, shown.stderr
    assert "failed" in shown.stdout and "503" in shown.stdout, shown.stdout
    assert max(len(line) for line in shown.stdout.splitlines()) <= 80, shown.stdout

    world.running.controls["google"].set_faults(None)
    retried = run_cli(world, "jobs", "retry", str(down))
    assert retried.returncode == 0, retried.stdout + retried.stderr
    work_until_final(world, [down])
    assert_left(world, {down: later[down]})
