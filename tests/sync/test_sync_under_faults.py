"""Every provider's full and incremental sync under throttling, server errors and timeouts, one kind at
a time and all together: each run ends by itself, complete or incomplete with its reason on record,
within a bounded time, and reports its waits as wall time.

Small orgs and the production code paths, with the retry policy and client timeouts turned down
through the settings; the faults are the emulators' own (``--faults``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.emulation import emulator_config, write_config
from accessctl.settings import load_settings
from accessctl.store.engine import make_engine
from accessctl.store.migrate import upgrade
from accessctl.store.models import SyncRun
from accessctl.sync.results import ProviderResult
from accessctl.sync.service import run_sync
from connectors.emulators.generate import generate_org
from connectors.emulators.runner import RunningEmulators, start_emulators

#: the client gives up on a hung request after CLIENT_TIMEOUT_S; a timeout fault holds it HANG_S
CLIENT_TIMEOUT_S = 0.5
HANG_S = 2
FAULTS = {
    "429": "429:0.05:0",  # 5% throttled, each asking to wait until the next second (of Okta's clock)
    "5xx": "5xx:0.05",
    "timeout": f"timeout:0.02,hang:{HANG_S}",
    "all": f"429:0.05:0,5xx:0.05,timeout:0.02,hang:{HANG_S},seed:3",
}
#: no run may take longer than this (the runs take a few seconds; the bound is for a loaded machine)
RUN_BOUND_S = 30.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'accessctl.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def _config(running: RunningEmulators, engine: Engine, tmp_path: Path, provider: str, **sync: object) -> Path:
    config = emulator_config(running, database_url=engine.url.render_as_string(hide_password=False))
    config[provider].update(timeout_s=CLIENT_TIMEOUT_S, page_size=20)
    config["sync"] = {"backoff_base_s": 0.02, "backoff_max_s": 0.2, "max_wait_s": 5.0, **sync}
    return write_config(config, tmp_path / "accessctl.toml")


def _timed_sync(config: Path, engine: Engine, *, full: bool) -> tuple[ProviderResult, float]:
    started = time.monotonic()
    summary = run_sync(load_settings(config, strict=True), engine, full=full)
    (result,) = summary.results
    return result, time.monotonic() - started


def _recorded(engine: Engine, result: ProviderResult) -> sa.Row:
    runs = SyncRun.__table__
    with engine.connect() as conn:
        return conn.execute(sa.select(runs).where(runs.c.id == result.run_id)).one()


def _ended_by_itself(engine: Engine, result: ProviderResult, elapsed: float) -> None:
    assert elapsed < RUN_BOUND_S
    row = _recorded(engine, result)
    assert row.finished_at is not None
    assert row.complete == result.complete
    if not result.complete:  # incomplete only with its reason on record
        assert result.reason and row.incomplete_reason == result.reason
    # waits are wall time: never more than the run took, however many workers waited at once
    assert 0.0 <= result.throttled_s <= result.duration_s
    assert 0.0 <= result.backoff_s <= result.duration_s


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", FAULTS)
@pytest.mark.parametrize("provider", ["okta", "entra", "google"])
def test_full_and_incremental_sync_end_by_themselves(
    provider: str, kind: str, tmp_path: Path, store: Engine
) -> None:
    org = generate_org(15, seed=21)
    with start_emulators(org, workdir=tmp_path / "emu", providers=(provider,)) as running:
        config = _config(running, store, tmp_path, provider)
        baseline, _ = _timed_sync(config, store, full=True)  # no faults yet: the change feed's start
        assert baseline.complete, baseline.reason

        running.controls[provider].set_faults(FAULTS[kind])
        full, elapsed = _timed_sync(config, store, full=True)
        assert full.mode == "full"
        _ended_by_itself(store, full, elapsed)

        incremental, elapsed = _timed_sync(config, store, full=False)
        assert incremental.mode == "incremental"
        _ended_by_itself(store, incremental, elapsed)

        if kind in ("429", "all"):
            assert full.throttled + incremental.throttled > 0
            assert full.throttled_s + incremental.throttled_s > 0
        if kind in ("5xx", "timeout"):
            assert full.throttled == incremental.throttled == 0
            assert full.throttled_s == incremental.throttled_s == 0.0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("provider", ["okta", "entra"])
def test_a_throttle_longer_than_the_allowed_wait_ends_the_pass_incomplete_at_once(
    provider: str, tmp_path: Path, store: Engine
) -> None:
    """Every request throttled until a minute from now; allowed to wait 0.5 s, the pass stops
    waiting and ends incomplete, saying why."""
    org = generate_org(10, seed=21)
    emulators = start_emulators(org, workdir=tmp_path / "emu", providers=(provider,), faults="429:1.0:60")
    with emulators as running:
        config = _config(running, store, tmp_path, provider, max_wait_s=0.5)
        result, elapsed = _timed_sync(config, store, full=True)
    assert elapsed < 10
    assert not result.complete
    assert "more than sync.max_wait_s (0.5s)" in (result.reason or "")
    assert _recorded(store, result).incomplete_reason == result.reason
