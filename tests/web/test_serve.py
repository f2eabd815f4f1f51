"""A real `accessctl serve` process (tests/web/serve_proc.py: the command itself, with a step executor
the test controls): ready within a deadline, the API over HTTP, SIGTERM with in-flight steps finished
or released, SIGKILL and the lease taken over by the next worker, and the start-up refusals (a busy
port, a second worker on a SQLite store, an old schema) as one line and an exit code."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl import exitcodes
from accessctl.jobs import PlannedStep
from accessctl.store.engine import make_engine
from accessctl.store.migrate import upgrade
from accessctl.sync import clock
from accessctl.tokens import Scope, create_token
from tests.jobs.helpers import EVENTS, job, make_job

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 30.0
pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def url_of(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False).replace("postgresql+psycopg://", "postgresql://")


def wait_for(check: Callable[[], Any], what: str, deadline_s: float = DEADLINE_S) -> Any:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"not within {deadline_s:g}s: {what}")


def wait_until_ready(proc: subprocess.Popen[str], base: str) -> None:
    """Until the `accessctl serve` ``proc`` at ``base`` answers /readyz 200 (its stderr shown if it
    exits first)."""

    def ready() -> bool:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            return httpx.get(f"{base}/readyz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(ready, "/readyz answers 200")


@dataclass
class Service:
    engine: Engine
    tmp: Path
    port: int = field(default_factory=free_port)
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def log(self) -> Path:
        return self.tmp / "steps.log"

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ACCESSCTL_")}
        env.update(
            PYTHONPATH=str(ROOT),
            ACCESSCTL_DATABASE_URL=url_of(self.engine),
            ACCESSCTL_WEB_LEASE_S="2",
            ACCESSCTL_WEB_SHUTDOWN_GRACE_S="5",
            SERVE_PROC_LOG=str(self.log),
            COLUMNS="80",
        )
        env.update(extra)
        return env

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        command = args or ("serve", "--port", str(self.port), "--workers", "2")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.web.serve_proc", *command],
            env=self.env(**env),
            cwd=self.tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def get(self, path: str, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", headers=headers, timeout=5)

    def ready(self, proc: subprocess.Popen[str]) -> None:
        def up() -> bool:
            assert proc.poll() is None, proc.communicate()[1]
            try:
                return self.get("/readyz").status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, "/readyz answers 200")

    def lines(self, what: str) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [line.split()[1:] for line in self.log.read_text().splitlines() if line.startswith(what + " ")]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=30)


@pytest.fixture
def service(engine: Engine, tmp_path: Path) -> Iterator[Service]:
    """On SQLite and PostgreSQL (where claiming and the one-worker rule differ)."""
    svc = Service(engine, tmp_path)
    yield svc
    svc.stop()


@pytest.fixture
def sqlite_service(_sqlite_template: Path, tmp_path: Path) -> Iterator[Service]:
    """On SQLite only: for what does not depend on the database (signals, ports, schema)."""
    path = tmp_path / "accessctl.db"
    shutil.copyfile(_sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    svc = Service(engine, tmp_path)
    yield svc
    svc.stop()
    engine.dispose()


def one_chain(n: int = 3) -> list[PlannedStep]:
    return [PlannedStep("okta", f"step{i}", {"account_id": "u1"}, "") for i in range(1, n + 1)]


def step_states(engine: Engine, job_id: int) -> list[str]:
    return [s.state for s in job(engine, job_id).steps]


def test_serve_answers_runs_jobs_and_stops_on_sigterm_with_the_running_step_finished(
    service: Service,
) -> None:
    _, token = create_token(service.engine, name="admin", scope=Scope.ADMIN, by="test", now=_now())
    proc = service.start(SERVE_PROC_STEP_S="1.5")
    service.ready(proc)
    assert service.get("/readyz").json()["checks"] == {
        "database": "ok",
        "schema": "ok",
        "workers": "ok",
        "scheduler": "ok",
    }
    assert service.get("/v1/jobs").status_code == 401
    job_id = make_job(service.engine, one_chain(), now=_now())
    wait_for(lambda: service.lines("start"), "the first step starts")
    shown = service.get(f"/v1/jobs/{job_id}", token).json()
    assert [s["state"] for s in shown["steps"]] == ["running", "pending", "pending"]

    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 0, err
    assert "SIGTERM: stopping" in err and "Traceback" not in err
    assert step_states(service.engine, job_id) == ["done", "pending", "pending"]  # finished, none started
    assert len(service.lines("end")) == 1
    restarted = service.start(SERVE_PROC_STEP_S="0.01")
    service.ready(restarted)
    wait_for(lambda: job(service.engine, job_id).state == "done", "the restarted service finishes the job")
    text = service.get("/metrics").text
    assert 'accessctl_jobs{state="done"} 1.0' in text
    assert 'accessctl_step_seconds_count{action="step2",provider="okta",result="APPLIED"} 1.0' in text


def test_sigterm_releases_a_step_that_outlasts_the_grace_period(sqlite_service: Service) -> None:
    proc = sqlite_service.start(SERVE_PROC_HANG_ON="step1", ACCESSCTL_WEB_SHUTDOWN_GRACE_S="0.5")
    sqlite_service.ready(proc)
    job_id = make_job(sqlite_service.engine, one_chain(2), now=_now())
    wait_for(lambda: sqlite_service.lines("start"), "the step starts")
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 0, err
    assert time.monotonic() - began < 10
    assert step_states(sqlite_service.engine, job_id) == ["pending", "pending"]
    with sqlite_service.engine.connect() as conn:
        released = conn.execute(
            sa.select(EVENTS.c.details).where(EVENTS.c.action == "job.step.released")
        ).scalar_one()
    assert released["released_because"] == "worker stopping"


def test_a_second_signal_exits_at_once(sqlite_service: Service) -> None:
    proc = sqlite_service.start(SERVE_PROC_HANG_ON="step1", ACCESSCTL_WEB_SHUTDOWN_GRACE_S="60")
    sqlite_service.ready(proc)
    make_job(sqlite_service.engine, one_chain(1), now=_now())
    wait_for(lambda: sqlite_service.lines("start"), "the step starts")
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    began = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=DEADLINE_S)
    assert time.monotonic() - began < 5
    assert proc.returncode == exitcodes.FAILED
    assert "SIGINT again: exiting at once" in err


def test_after_sigkill_the_lease_expires_and_the_next_worker_finishes_the_step(service: Service) -> None:
    proc = service.start(SERVE_PROC_HANG_ON="step1")
    service.ready(proc)
    job_id = make_job(service.engine, one_chain(2), now=_now())
    wait_for(lambda: service.lines("start"), "the step starts")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=DEADLINE_S)
    assert step_states(service.engine, job_id)[0] == "running"  # its lease is still held by the dead
    successor = service.start("worker", "--workers", "2")
    wait_for(lambda: job(service.engine, job_id).state == "done", "the next worker finishes the job", 40)
    first = job(service.engine, job_id).steps[0]
    assert first.attempts == 2 and first.last_answer == f"step1 done by {successor.pid}"
    starts = [(s[0], s[2]) for s in service.lines("start")]
    assert starts[:2] == [(str(first.id), "1"), (str(first.id), "2")]
    successor.send_signal(signal.SIGTERM)
    assert successor.wait(timeout=DEADLINE_S) == 0


def test_startup_refusals_are_one_line_and_an_exit_code(sqlite_service: Service, tmp_path: Path) -> None:
    proc = sqlite_service.start()
    sqlite_service.ready(proc)

    busy_port = sqlite_service.start("serve", "--port", str(sqlite_service.port))
    _, err = busy_port.communicate(timeout=DEADLINE_S)
    assert busy_port.returncode == exitcodes.BUSY
    assert err.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{sqlite_service.port}: the port is in use (--port, web.port)"
    ]

    second = sqlite_service.start("worker")
    _, err = second.communicate(timeout=DEADLINE_S)
    assert second.returncode == exitcodes.BUSY, err
    lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "another job worker already serves this store" in lines[0]
    assert "Traceback" not in err

    old = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(old, "0005")
    outdated = sqlite_service.start("serve", "--port", str(free_port()), ACCESSCTL_DATABASE_URL=url_of(old))
    _, err = outdated.communicate(timeout=DEADLINE_S)
    assert outdated.returncode == exitcodes.SCHEMA
    assert len(err.strip().splitlines()) == 1 and "accessctl db upgrade" in err
    old.dispose()


def _now() -> datetime:
    return clock.now()
