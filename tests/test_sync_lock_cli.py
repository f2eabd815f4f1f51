"""Two `accessctl sync` processes on one store, for real, against running emulators, on SQLite and
PostgreSQL: one sync per provider at a time (the other exits 7 naming the holder, or waits with
--wait), one "complete" audit event per run, and a sync killed with SIGKILL mid-pass releases its
provider."""

from __future__ import annotations

import json
import os
import queue
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pytest
import sqlalchemy as sa

from accessctl import exitcodes
from accessctl.store.engine import make_engine
from accessctl.store.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
#: Okta's latency per request while a test holds a sync mid-pass: long enough that the holder cannot
#: finish before the other process (however slow to start) has tried, short of the client's timeout
STALL_MS = 5000


@dataclass
class Store:
    emulators: Emulators
    env: dict[str, str]
    url: str
    cwd: Path
    started: list[subprocess.Popen[str]] = field(default_factory=list)

    def sync(self, *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "accessctl.cli", "--config", str(self.emulators.config), "sync", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            cwd=self.cwd,
        )
        self.started.append(process)
        return process

    def query(self, statement: str) -> list[sa.Row]:
        engine = make_engine(self.url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(sa.text(statement)))
        finally:
            engine.dispose()


@dataclass
class Emulators:
    config: Path
    env: dict[str, str]

    def okta_latency(self, ms: float) -> None:
        """Okta's emulator answers every request ``ms`` later (its control endpoint)."""
        import tomllib

        import httpx

        okta = tomllib.loads(self.config.read_text())["okta"]
        verify = ssl.create_default_context(cafile=okta["ca_bundle"])
        response = httpx.post(
            f"{okta['org_url']}/_emulator/latency", json={"ms": ms}, verify=verify, timeout=30
        )
        response.raise_for_status()


@pytest.fixture(scope="module")
def emulators(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulators]:
    """Running emulators shared by this module's tests (syncs only read them)."""
    workdir = tmp_path_factory.mktemp("emulate")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    env = {
        k: v for k, v in env.items() if not k.startswith("ACCESSCTL_") or k == "ACCESSCTL_TEST_POSTGRES_URL"
    }
    config = workdir / "emu" / "accessctl.toml"
    emulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "accessctl.cli",
            "emulate",
            "--people",
            "20",
            "--workdir",
            "emu",
            "--write-config",
            str(config),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=workdir,
        env=env,
    )
    try:
        assert emulator.stderr is not None
        status = []
        for line in emulator.stderr:
            status.append(line)
            if "Ctrl-C stops" in line:
                break
        else:
            raise AssertionError("emulate did not come up: " + "".join(status))
        yield Emulators(config, env)
    finally:
        emulator.send_signal(signal.SIGINT)
        try:
            emulator.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            emulator.kill()
            emulator.communicate()


@pytest.fixture
def store(tmp_path: Path, db_url: str, emulators: Emulators) -> Iterator[Store]:
    """A migrated store on ``db_url`` that the CLI syncs the emulators into."""
    engine = make_engine(db_url)
    upgrade(engine)
    engine.dispose()
    store = Store(emulators, {**emulators.env, "ACCESSCTL_DATABASE_URL": db_url}, db_url, tmp_path)
    yield store
    emulators.okta_latency(0)
    for process in store.started:  # a holder a test had no more use for
        if process.poll() is None:
            process.kill()
            process.communicate()


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=300)
    return process.returncode, out, err


def completes_per_run(store: Store) -> dict[str, int]:
    rows = store.query(
        "SELECT target_id, count(*) FROM audit_event "
        "WHERE action = 'sync.run' AND outcome = 'complete' GROUP BY target_id"
    )
    return {str(run): count for run, count in rows}


def wait_until_syncing(store: Store, process: subprocess.Popen[str], provider: str) -> None:
    """Until ``process`` is in the middle of a pass of ``provider`` (a run begun, not finished)."""
    deadline = time.monotonic() + 120
    while not store.query(f"SELECT id FROM sync_run WHERE provider = '{provider}' AND finished_at IS NULL"):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the sync never began its pass"
        time.sleep(0.05)


def test_two_syncs_at_once_one_syncs_the_other_exits_busy(store: Store) -> None:
    store.emulators.okta_latency(STALL_MS)  # whichever takes okta first is still at it when the other tries
    first, second = store.sync("-p", "okta", "--format", "json"), store.sync("-p", "okta", "--format", "json")
    busy_code, busy_out, busy_err = finish(other := _first_to_exit(first, second))
    holder = second if other is first else first
    store.emulators.okta_latency(0)
    ok_code, ok_out, ok_err = finish(holder)
    assert (ok_code, busy_code) == (exitcodes.OK, exitcodes.BUSY), (ok_err, busy_err)
    synced = json.loads(ok_out)
    assert [p["provider"] for p in synced["providers"]] == ["okta"] and synced["complete"]
    assert synced["providers"][0]["accounts_added"] > 0
    skipped = json.loads(busy_out)
    assert skipped["providers"] == [] and [b["provider"] for b in skipped["busy"]] == ["okta"]
    error = [line for line in busy_err.splitlines() if line.startswith("error:")]
    assert len(error) == 1, busy_err
    assert f"another sync of okta is running (pid {holder.pid} on " in error[0], error
    assert " since " in error[0] and "--wait" in error[0]
    assert "Traceback" not in busy_err
    runs = store.query("SELECT id, complete FROM sync_run WHERE provider = 'okta'")
    assert len(runs) == 1 and runs[0].complete
    assert completes_per_run(store) == {str(runs[0].id): 1}


def _first_to_exit(*processes: subprocess.Popen[str]) -> subprocess.Popen[str]:
    deadline = time.monotonic() + 240
    while True:
        for process in processes:
            if process.poll() is not None:
                return process
        assert time.monotonic() < deadline, "neither sync ended"
        time.sleep(0.05)


def test_a_busy_provider_does_not_stop_the_others(store: Store) -> None:
    """okta + entra while okta is being synced: entra syncs, okta is skipped, and the exit code says so."""
    store.emulators.okta_latency(STALL_MS)
    holder = store.sync("-p", "okta")
    wait_until_syncing(store, holder, "okta")
    code, out, err = finish(store.sync("-p", "okta", "-p", "entra", "--format", "json"))
    assert code == exitcodes.BUSY, err
    summary = json.loads(out)
    assert [(p["provider"], p["complete"]) for p in summary["providers"]] == [("entra", True)]
    assert [b["provider"] for b in summary["busy"]] == ["okta"]
    assert f"error: another sync of okta is running (pid {holder.pid} on " in err
    assert list(completes_per_run(store).values()) == [1]  # entra's run
    assert holder.poll() is None  # the holder was not disturbed


def test_wait_runs_after_the_other_sync(store: Store) -> None:
    store.emulators.okta_latency(STALL_MS)
    first = store.sync("-p", "okta")
    wait_until_syncing(store, first, "okta")
    second = store.sync("-p", "okta", "--wait", "--wait-timeout", "300", "--format", "json")
    assert second.stderr is not None
    lines = _lines(second.stderr)
    waiting = lines.get(timeout=120)
    while "waiting for" not in waiting:
        waiting = lines.get(timeout=120)
    assert f"okta: waiting for another sync of okta (pid {first.pid} on " in waiting
    assert " since " in waiting and "(up to 300s)" in waiting
    store.emulators.okta_latency(0)  # the first sync can now end
    first_code, _, first_err = finish(first)
    second_out = second.stdout.read() if second.stdout else ""
    second_code = second.wait(timeout=300)
    second_err = "".join(lines.get(timeout=30) for _ in range(lines.qsize()))
    assert (first_code, second_code) == (exitcodes.OK, exitcodes.OK), (first_err, second_err)
    assert json.loads(second_out)["providers"][0]["complete"], second_out
    runs = store.query("SELECT id, started_at, finished_at FROM sync_run ORDER BY id")
    assert len(runs) == 2 and _instant(runs[1].started_at) >= _instant(runs[0].finished_at), runs
    assert completes_per_run(store) == {str(runs[0].id): 1, str(runs[1].id): 1}


def _instant(value: datetime | str) -> datetime:
    """A stored timestamp as an aware datetime (SQLite hands back naive UTC text)."""
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _lines(stream: IO[str]) -> queue.Queue[str]:
    """The stream's lines as they come (read in a thread, so a test can wait for one with a deadline)."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def test_wait_gives_up_at_its_timeout(store: Store) -> None:
    store.emulators.okta_latency(STALL_MS)
    first = store.sync("-p", "okta")
    wait_until_syncing(store, first, "okta")
    code, out, err = finish(store.sync("-p", "okta", "--wait", "--wait-timeout", "1"))
    assert code == exitcodes.BUSY, err
    assert out == ""  # nothing ran: no empty summary table
    errors = [line for line in err.splitlines() if "another sync of okta is running" in line]
    assert len(errors) == 1 and errors[0].startswith("error: ") and "gave up waiting after 1s" in errors[0], (
        err
    )
    assert "Traceback" not in err
    assert first.poll() is None  # the holder was not disturbed


def test_a_sync_killed_mid_pass_releases_its_provider(store: Store) -> None:
    store.emulators.okta_latency(STALL_MS)
    killed = store.sync("-p", "okta")
    wait_until_syncing(store, killed, "okta")
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    store.emulators.okta_latency(0)
    code, out, err = finish(store.sync("-p", "okta", "--format", "json"))
    assert code == exitcodes.OK, err
    result = json.loads(out)["providers"][0]
    assert result["complete"] and result["resumed"]  # it took over the killed sync's run
    assert len(completes_per_run(store)) == 1
