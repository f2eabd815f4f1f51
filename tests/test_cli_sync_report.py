"""What `accessctl sync` tells its user about waits and failures: an unreachable provider's error once,
waits as wall time (throttled apart from backoff), and Ctrl-C while throttled exits at once."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from rich.console import Console
from rich.progress import Progress, TextColumn
from typer.testing import CliRunner

from accessctl import exitcodes
from accessctl.cli import app
from accessctl.commands.sync_cmd import RichProgress
from accessctl.emulation import emulator_config, write_config
from accessctl.store.engine import make_engine
from accessctl.store.models import SyncRun
from accessctl.sync.progress import Waits
from connectors.emulators.generate import generate_org
from connectors.emulators.runner import RunningEmulators, start_emulators

pytestmark = pytest.mark.timeout(120)
runner = CliRunner()
FAST = {
    "ACCESSCTL_SYNC_MAX_ATTEMPTS": "2",
    "ACCESSCTL_SYNC_BACKOFF_BASE_S": "0.01",
    "ACCESSCTL_SYNC_BACKOFF_MAX_S": "0.05",
}
CLOSED = "https://127.0.0.1:9"  # nothing listens on the discard port


@pytest.fixture
def emulators(tmp_path: Path) -> Iterator[RunningEmulators]:
    with start_emulators(generate_org(20, seed=4), workdir=tmp_path / "emu") as running:
        yield running


def _config(running: RunningEmulators, tmp_path: Path, provider: str, **overrides: str) -> Path:
    config = emulator_config(running, database_url=f"sqlite:///{tmp_path / 's.db'}")
    for name in ("okta", "entra", "google"):
        if name in config:
            config[name]["enabled"] = name == provider
    config[provider].update(overrides)
    path = write_config(config, tmp_path / "accessctl.toml")
    assert runner.invoke(app, ["--config", str(path), "db", "upgrade"]).exit_code == 0
    return path


def _last_run(tmp_path: Path) -> sa.Row:
    engine = make_engine(f"sqlite:///{tmp_path / 's.db'}")
    runs = SyncRun.__table__
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(runs).order_by(runs.c.id.desc()).limit(1)).one()
    finally:
        engine.dispose()


UNREACHABLE = {
    "okta": {"org_url": CLOSED},
    "entra": {"authority_host": CLOSED, "graph_url": CLOSED},
    "google": {"api_endpoint": CLOSED},
}


@pytest.mark.parametrize("provider", ["okta", "entra", "google"])
def test_an_unreachable_provider_is_reported_once(
    provider: str, emulators: RunningEmulators, tmp_path: Path
) -> None:
    config = _config(emulators, tmp_path, provider, **UNREACHABLE[provider])
    result = runner.invoke(app, ["--config", str(config), "sync"], env=FAST)
    assert result.exit_code == exitcodes.PROVIDER, result.output
    reason = _last_run(tmp_path).incomplete_reason
    assert reason and "TransientError" in reason
    assert result.output.count(reason) == 1, result.output
    assert f"error: {provider} could not be reached or refused: {reason}" in result.output


def test_the_progress_line_shows_throttled_and_backoff_wall_time_apart() -> None:
    stream = io.StringIO()
    console = Console(file=stream, width=120, force_terminal=False)
    with Progress(TextColumn("{task.description} {task.fields[extra]}"), console=console) as bars:
        progress = RichProgress(bars)
        progress.advance("okta", 200, pages=1)
        progress.waiting("okta", Waits(throttled_s=12.3, backoff_s=4.5, resume_at=time.time() + 30))
        extra = bars.tasks[0].fields["extra"]
    assert extra == "1 pages, throttled 12.3s, backoff 4.5s"
    assert "rate-limit" not in stream.getvalue()


def test_the_summary_reports_waits_as_wall_time(emulators: RunningEmulators, tmp_path: Path) -> None:
    emulators.controls["entra"].set_faults("429:0.1:0,seed:5")
    config = _config(emulators, tmp_path, "entra")
    env = {**FAST, "ACCESSCTL_SYNC_MAX_ATTEMPTS": "8"}
    result = runner.invoke(app, ["--config", str(config), "sync", "--format", "json"], env=env)
    import json

    (entra,) = json.loads(result.stdout)["providers"]
    assert entra["throttled"] > 1  # several workers throttled, their pauses overlapping
    assert 0 < entra["throttled_s"] <= entra["duration_s"]
    assert entra["backoff_s"] <= entra["duration_s"]


def test_ctrl_c_while_throttled_exits_at_once_and_records_the_interruption(tmp_path: Path) -> None:
    """The reported hang: Okta lookups throttled until their window resets; Ctrl-C must end the
    process promptly (it recorded "interrupted", then waited forever on the governor)."""
    org = generate_org(300, seed=4)
    with start_emulators(org, workdir=tmp_path / "emu", providers=("okta",), latency_ms=100) as running:
        control = running.controls["okta"]
        config = _config(running, tmp_path, "okta")
        control.trace = []
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        process = subprocess.Popen(
            [sys.executable, "-m", "accessctl.cli", "--config", str(config), "sync"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 90  # start-up and the listings, on a loaded machine
            while not any(path.endswith("/factors") for _, path, _, _ in list(control.trace or [])):
                assert process.poll() is None, "the sync ended before its lookups"
                assert time.monotonic() < deadline, "no lookups started"
                time.sleep(0.01)
            # Every lookup is throttled for a minute from now on: requests still in flight are
            # answered 429 too (the emulator decides after its latency), and one 429 pauses every
            # worker of the bucket, so a new request may never come.  Wait for one, or for the
            # in-flight ones (100 ms each) to have been answered.
            throttled_at = control.requests
            control.set_faults("429:1.0:60")
            answered = time.monotonic() + 1.0
            while control.requests <= throttled_at and time.monotonic() < answered:
                assert process.poll() is None, "the sync ended before a throttled lookup"
                time.sleep(0.01)
            time.sleep(0.2)
            interrupted = time.monotonic()
            process.send_signal(signal.SIGINT)
            process.communicate(timeout=20)
            took = time.monotonic() - interrupted
        finally:
            process.kill()
    assert took < 10
    run = _last_run(tmp_path)
    assert (run.complete, run.incomplete_reason) == (False, "interrupted")
