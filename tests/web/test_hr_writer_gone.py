"""`accessctl serve` with an HR source commits events in a helper process: a real serve's helper
SIGKILLed stops the service with one line and exit 1 (a service that cannot store HR events must not
look healthy), and SIGTERM stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from accessctl import exitcodes
from accessctl.store.engine import make_engine
from accessctl.store.migrate import upgrade
from tests.hr.helpers import SECRET_TEXT, encode, event, signed
from tests.web.test_serve import free_port, wait_until_ready

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(120)


def _children(pid: int) -> list[int]:
    """The HR writer processes ``pid`` started (Linux /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return [
        child
        for child in found
        if b"accessctl.hr.writer_process" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def _start(tmp_path: Path) -> tuple[subprocess.Popen[str], int]:
    store = tmp_path / "store.db"
    upgrade(make_engine(f"sqlite:///{store}"))
    config = tmp_path / "accessctl.toml"
    config.write_text(
        f'database_url = "sqlite:///{store}"\n\n[hr.sources.workday]\nsecret_env = "HR_SECRET"\n'
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCESSCTL_")}
    env.update(PYTHONPATH=str(ROOT), HR_SECRET=SECRET_TEXT, COLUMNS="80")
    proc = subprocess.Popen(
        [sys.executable, "-m", "accessctl.cli", "--config", str(config), "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until_ready(proc, f"http://127.0.0.1:{port}")
    return proc, port


def _post(port: int) -> httpx.Response:
    raw = encode(event(id_="evt_unknown", employee_id="E404", email="nobody@example.com"))
    return httpx.post(
        f"http://127.0.0.1:{port}/v1/hr/events",
        content=raw,
        headers=signed(raw, at=datetime.now(UTC)),
        timeout=30,
    )


def test_the_helper_that_commits_hr_events_dying_stops_the_service_saying_so(tmp_path: Path) -> None:
    proc, port = _start(tmp_path)
    try:
        assert _post(port).status_code == 202  # stored by the helper (an unmatched employee)
        (helper,) = _children(proc.pid)
        os.kill(helper, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == exitcodes.FAILED
    assert "the HR writer process exited (-9)" in stderr.strip().splitlines()[-1]
    assert "Traceback" not in stderr


def test_sigterm_stops_the_service_and_its_helper(tmp_path: Path) -> None:
    proc, port = _start(tmp_path)
    try:
        assert _post(port).status_code == 202
        (helper,) = _children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert not Path(f"/proc/{helper}").exists() or "zombie" in Path(f"/proc/{helper}/status").read_text()
    assert "HR writer process: 1 event(s) in 1 commit(s)" in stderr
    assert "Traceback" not in stderr
