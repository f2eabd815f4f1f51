"""A real `accessctl serve` on an emulator world with an HR source, for the tests that post HR
events to the running service (tests/web/test_hr_serve.py, test_hr_bad_input_service.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from accessctl.sync import clock
from accessctl.tokens import Scope, create_token
from tests.lifecycle.conftest import World
from tests.web.test_serve import DEADLINE_S, free_port, wait_for

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Service:
    world: World
    base: str
    read: dict[str, str]
    #: one client for the module's requests (a client per request costs its TLS setup each time)
    http: httpx.Client

    def post(self, raw: bytes, headers: dict[str, str], path: str = "/v1/hr/events") -> httpx.Response:
        return self.http.post(path, content=raw, headers=headers)

    def status(self, event_id: int) -> dict:
        shown = self.http.get(f"/v1/hr/events/{event_id}", headers=self.read)
        assert shown.status_code == 200, shown.text
        return shown.json()

    def metrics(self) -> str:
        return self.http.get("/metrics").text

    def job_finished(self, event_id: int, deadline_s: float = 60) -> dict:
        def finished() -> dict | None:
            shown = self.status(event_id)
            job = shown["job"]
            return shown if job and job["state"] in ("done", "failed", "quarantined") else None

        return wait_for(finished, f"HR event {event_id}'s job ends", deadline_s)


def serve(world: World) -> Iterator[Service]:
    """`accessctl serve` on ``world``'s config until the module's tests are done; it must stop
    cleanly, without a traceback in its log (written to a file beside the config, never a pipe
    that could fill and stall it)."""
    _, token = create_token(world.engine, name="dash", scope=Scope.READ, by="test", now=clock.now())
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCESSCTL_")}
    env.update(PYTHONPATH=str(ROOT), ACCESSCTL_CONFIG=str(world.config_path))
    log_path = world.config_path.parent / "serve.log"
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "accessctl.cli", "serve", "--port", str(port)],
            env=env,
            cwd=world.config_path.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert proc.poll() is None, log_path.read_text()
            try:
                return httpx.get(f"{base}/readyz", timeout=5).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, "/readyz answers 200")
        with httpx.Client(base_url=base, timeout=30) as http:
            yield Service(world, base, {"Authorization": f"Bearer {token}"}, http)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=DEADLINE_S)
    logged = log_path.read_text()
    assert proc.returncode == 0, logged
    assert "Traceback" not in logged
