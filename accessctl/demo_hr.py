"""The demo's leaver, as HR sends it: the demo runs the service (the same `run_service` as
`accessctl serve`: the API, the job workers, the scheduler) in a thread, posts a Standard Webhooks
signed `employee.terminated` to `POST /v1/hr/events` over HTTP, follows the job through
`GET /v1/hr/events/{id}`, and shows each provider's read-back (the job's verify steps)."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

#: the demo's HR system, as configured in `[hr.sources.NAME]`
SOURCE = "hris"
#: how long the demo waits for the service, and for the leaver's job
READY_S = 30.0
JOB_S = 120.0


def hr_config(workdir: Path) -> dict[str, Any]:
    """The `[hr]` table for the demo's config, its source's secret in a file beside it."""
    secret = workdir / "hr-webhook-secret"
    secret.write_text("whsec_" + base64.b64encode(secrets.token_bytes(32)).decode() + "\n", encoding="utf-8")
    secret.chmod(0o600)
    # absolute: a relative path in the config is read from the config's folder, and the demo's
    # folder is given relative to where the demo runs (`accessctl-demo`)
    return {"sources": {SOURCE: {"secret_file": str(secret.resolve())}}}


@dataclass
class RunningService:
    url: str
    read_token: str


@contextmanager
def running_service(settings: Any, engine: Any) -> Iterator[RunningService]:
    """The service on a free local port in a thread, stopped (gracefully) on exit."""
    from accessctl.sync import clock
    from accessctl.tokens import Scope, create_token
    from accessctl.web.service import ServiceOptions, bind, lifecycle_executor, run_service

    _, token = create_token(engine, name="demo-read", scope=Scope.READ, by="demo", now=clock.now())
    sock = bind("127.0.0.1", 0)
    port = sock.getsockname()[1]
    options = ServiceOptions.from_settings(settings, host="127.0.0.1", port=port)
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    failure: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(
                run_service(
                    settings,
                    engine,
                    executor=lifecycle_executor,
                    options=options,
                    stop=stop,
                    sock=sock,
                    on_ready=ready.set,
                )
            )
        except BaseException as exc:  # shown by the caller: the demo fails with it
            failure.append(exc)
            ready.set()
        finally:
            loop.close()

    thread = threading.Thread(target=serve, name="demo-service", daemon=True)
    thread.start()
    try:
        if not ready.wait(READY_S) or failure:
            raise RuntimeError(f"the service did not start: {failure[0] if failure else 'timed out'}")
        yield RunningService(f"http://127.0.0.1:{port}", token)
    finally:
        if thread.is_alive():
            loop.call_soon_threadsafe(stop.set)
            thread.join(options.shutdown_grace_s + 40)
        sock.close()


def termination(employee_id: str, email: str, *, now: datetime) -> bytes:
    """A canonical `employee.terminated`, effective at once."""
    stamp = now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    body = {
        "id": f"demo-termination-{int(now.timestamp())}",
        "type": "employee.terminated",
        "occurred_at": stamp,
        "employee": {"employee_id": employee_id, "email": email},
        "termination": {"immediate": True},
    }
    return json.dumps(body).encode()


def post_signed(url: str, raw: bytes, secret_text: str, *, now: datetime) -> httpx.Response:
    """POST the event signed per Standard Webhooks with the source's secret, as HR does."""
    from accessctl.hr.signature import WebhookSecret, sign_headers

    secret = WebhookSecret.parse(secret_text)
    headers = sign_headers(secret, f"msg_demo_{int(now.timestamp())}", int(now.timestamp()), raw)
    headers["content-type"] = "application/json"
    return httpx.post(f"{url}/v1/hr/events", content=raw, headers=headers, timeout=30)


def _settled(job: dict[str, Any] | None) -> bool:
    return job is not None and job["state"] in ("done", "failed", "cancelled", "quarantined")


def follow(url: str, status_url: str, token: str, console: Console) -> dict[str, Any]:
    """Poll the event's status until its job ends, a bar per provider; returns the last status."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    headers = {"Authorization": f"Bearer {token}"}
    end = time.monotonic() + JOB_S
    tasks: dict[str, Any] = {}
    with (
        httpx.Client(base_url=url, headers=headers, timeout=30) as client,
        Progress(
            TextColumn("  [bold]{task.description:<7}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("{task.fields[now]}"),
            console=console,
        ) as bars,
    ):
        while True:
            shown = client.get(status_url)
            shown.raise_for_status()
            status = shown.json()
            job = status["job"]
            by_provider: dict[str, list[dict[str, Any]]] = {}
            for step in job["steps"] if job else []:
                by_provider.setdefault(step["provider"], []).append(step)
            for provider, steps in sorted(by_provider.items()):
                settled = sum(s["state"] in ("done", "skipped", "failed", "cancelled") for s in steps)
                running = next((s["action"] for s in steps if s["state"] in ("running", "pending")), "done")
                if provider not in tasks:
                    tasks[provider] = bars.add_task(provider, total=len(steps), now=running)
                bars.update(tasks[provider], completed=settled, now=running)
            if _settled(job) or time.monotonic() > end:
                return status
            time.sleep(0.2)


def _steps_table(steps: list[dict[str, Any]], width: int, limit: int = 10) -> str:
    """The job's plan as it ran: each step, what it acted on, its answer."""
    from accessctl.lifecycle.plan import describe_target
    from accessctl.output import Column, table_lines

    columns = [
        Column("provider", keep=True, priority=0),
        Column("step", keep=True, priority=1),
        Column("target", priority=2, min_width=12),
        Column("answer", priority=3, min_width=16),
    ]
    rows = [
        {
            "provider": s["provider"],
            "step": s["action"],
            "target": describe_target(s["action"], s["target"]),
            "answer": s["last_answer"] or s["result"] or s["state"],
        }
        for s in steps
        if s["action"] != "verify"
    ]
    more = [f"  … and {len(rows) - limit} more"] if len(rows) > limit else []
    lines = table_lines(rows[:limit], columns, width=width, title=f"The job's steps ({len(rows)})")
    return "\n".join([*lines, *more])


def hr_leaver_stage(settings: Any, engine: Any, person: tuple[str, str], console: Console) -> bool:
    """HR terminates ``person`` (employee id, email) by a signed webhook to the running service;
    the job runs in the service's workers; each provider is read back."""
    employee_id, email = person
    secret = settings.hr.sources[SOURCE].secrets[0].get_secret_value()  # HR's copy of the secret
    with running_service(settings, engine) as service:
        console.print(f"  accessctl serve (API, job workers, scheduler) at {service.url}")
        now = datetime.now(UTC)
        raw = termination(employee_id, email, now=now)
        answer = post_signed(service.url, raw, secret, now=now)
        console.print(
            f"  HR ({SOURCE}) posts a signed employee.terminated for {email}\n"
            "  to POST /v1/hr/events (Standard Webhooks signature):",
            markup=False,
            highlight=False,
        )
        if answer.status_code != 202:
            console.print(f"  [red]✗ HTTP {answer.status_code}[/] {answer.text[:200]}", highlight=False)
            return False
        accepted = answer.json()
        console.print(
            f"  HTTP 202: event {accepted['event_id']} {accepted['status']}, its leaver job committed;"
            f"\n  the service's workers run it (GET {accepted['status_url']}):",
            markup=False,
            highlight=False,
        )
        status = follow(service.url, accepted["status_url"], service.read_token, console)
    job = status["job"]
    if not _settled(job):
        console.print(f"  [red]✗ the leaver's job is still {job['state'] if job else 'not queued'}[/]")
        return False
    console.print(_steps_table(job["steps"], console.width), markup=False, highlight=False)
    for step in job["steps"]:
        if step["action"] == "verify":
            mark = "[green]✓[/]" if step["state"] == "done" else "[red]✗[/]"
            read_back = (step["last_answer"] or step["state"]).removeprefix("verified: ")
            console.print(f"  {mark} {step['provider']:<6} {read_back}")
    console.print(
        f"  HR event {status['event_id']} ({status['status']}), job {job['id']}: {job['state']}.\n"
        "  `accessctl restore PERSON --by NAME` undoes a leaver."
    )
    return job["state"] == "done"
