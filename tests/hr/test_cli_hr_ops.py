"""`accessctl hr sources | events | reconcile | send-test-event`: what a person setting up or running
HR intake reads, on a store the intake wrote, against a real service on loopback (uvicorn serving
``create_app``), and on the emulators for the reconciliation; bad input is one line and its exit
code, and changes nothing."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from accessctl import exitcodes
from accessctl.cli import app
from accessctl.hr.events import parse_body
from accessctl.hr.queries import source_rows
from accessctl.hr.reconcile import LOCK
from accessctl.hr.store import EVENTS, record_event
from accessctl.settings import HrScimSettings, HrSettings, load_settings
from accessctl.store.engine import make_engine
from accessctl.store.locks import StoreLock
from accessctl.store.migrate import upgrade
from accessctl.web.app import create_app
from tests.hr.conftest import JobTableLifecycle, add_person
from tests.hr.helpers import NEW_SECRET_TEXT, NOW, SECRET_TEXT, encode, event
from tests.hr.world import jobs, with_hr_source
from tests.lifecycle.conftest import World, _world
from tests.reviews.smtp_server import free_port

runner = CliRunner()
OTHER_SECRET = "whsec_" + base64.b64encode(b"o" * 32).decode()
WRONG_SECRET = "whsec_" + base64.b64encode(b"w" * 32).decode()


def _config(tmp_path: Path, name: str, secret: str, *, database: Path) -> Path:
    secret_file = tmp_path / f"{name}.whsec"
    secret_file.write_text(secret + "\n")
    config = tmp_path / f"{name}.toml"
    config.write_text(
        f'database_url = "sqlite:///{database}"\n'
        "[hr.sources.workday]\n"
        f'secret_file = "{secret_file}"\n'
        "[hr.sources.people]\n"
        'secret_env = "PEOPLE_WEBHOOK_SECRETS"\n'
    )
    return config


ENV = {"COLUMNS": "80", "PEOPLE_WEBHOOK_SECRETS": f"{NEW_SECRET_TEXT} {OTHER_SECRET}"}


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, Engine]:
    database = tmp_path / "accessctl.db"
    config = _config(tmp_path, "accessctl", SECRET_TEXT, database=database)
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    return config, engine


def _send(engine: Engine, body: dict[str, Any], source: str = "workday") -> None:
    raw = encode(body)
    with engine.begin() as conn:
        record_event(
            conn,
            source=source,
            webhook_id=f"msg_{body['id']}",
            event=parse_body(raw, "application/json", now=NOW),
            digest=hashlib.sha256(raw).hexdigest(),
            now=NOW,
            rehire="restore",
            lifecycle=JobTableLifecycle(),
        )


SERVICE_LOG = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (INFO|WARNING) +(uvicorn|accessctl)")


def _hr(config: Path, *args: str, code: int = 0) -> Result:
    result = runner.invoke(app, ["--config", str(config), "hr", *args], env=ENV)
    assert result.exit_code == code, result.output
    if code:  # an error: one line on stderr, nothing on stdout
        # (the log lines of a service running in this process land on the same stderr)
        said = [line for line in result.stderr.splitlines() if not SERVICE_LOG.match(line)]
        assert result.stdout == "" and len(said) == 1, result.output
        assert said[0].startswith("error: ") and "Traceback" not in result.output
    if "json" not in args:  # tables fit 80 columns (JSON is for scripts)
        assert all(len(line) <= 80 for line in result.stdout.splitlines()), result.stdout
    return result


def _events(engine: Engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(EVENTS).order_by(EVENTS.c.id)))


# --- sources -----------------------------------------------------------------------------------


def test_sources_lists_each_source_and_never_its_secret(store: tuple[Path, Engine]) -> None:
    config, engine = store
    add_person(engine)
    _send(engine, event(termination={"immediate": True}))
    _send(engine, event("employee.updated", id_="evt_2", employee_id="E999", email="x@example.com"))
    nobody = f"http://127.0.0.1:{free_port()}"

    out = _hr(config, "sources", "--url", nobody).stdout
    workday = next(line for line in out.splitlines() if line.startswith("workday"))
    assert "standard  yes  " in workday and "file" in workday and "2026-12-02 12:00" in workday
    assert workday.split()[-2:] == ["2", "1"]  # stored, unmatched
    people = next(line for line in out.splitlines() if line.startswith("people"))
    assert "yes (2 keys)" in people and "env PEOPL" in people  # rotating
    assert out.splitlines()[-1] == f"rejected: unknown ({nobody}/metrics did not answer: ConnectError)"
    wide = json.loads(_hr(config, "sources", "--format", "json").stdout)
    assert wide[1]["secret_from"] == "env PEOPLE_WEBHOOK_SECRETS"
    for secret in (SECRET_TEXT, NEW_SECRET_TEXT, OTHER_SECRET):
        assert secret not in out and secret.removeprefix("whsec_") not in out

    rows = json.loads(_hr(config, "sources", "--format", "json").stdout)
    assert [(r["source"], r["accepted"], r["unmatched"]) for r in rows] == [
        ("workday", 2, 1),
        ("people", 0, 0),
    ]


def test_sources_lists_scim_when_it_is_enabled(store: tuple[Path, Engine]) -> None:
    _, engine = store
    enabled = HrSettings(scim=HrScimSettings(enabled=True))
    with engine.connect() as conn:
        assert [r["source"] for r in source_rows(conn, HrSettings())] == []
        (scim,) = source_rows(conn, enabled)
    assert (scim["source"], scim["vendor"], scim["secret"], scim["secret_from"]) == (
        "scim",
        "scim",
        "token",
        "scope hr",
    )


# --- events ------------------------------------------------------------------------------------


def test_events_newest_first_filtered_by_person_status_and_limit(store: tuple[Path, Engine]) -> None:
    config, engine = store
    assert _hr(config, "events").stdout.strip() == "HR events: none"
    add_person(engine)
    _send(engine, event(termination={"immediate": True}))
    _send(engine, event("employee.updated", id_="evt_2", employee_id="E999", email="x@example.com"))

    rows = json.loads(_hr(config, "events", "--format", "json").stdout)
    assert [(r["employee_id"], r["status"]) for r in rows] == [("E999", "unmatched"), ("E100", "applied")]
    assert rows[1]["job"] is not None and rows[1]["job_state"] == "pending"
    table = _hr(config, "events").stdout
    e100 = next(line for line in table.splitlines() if "E100" in line)
    assert "terminated" in e100 and "applied" in e100 and f"{rows[1]['job']} pending" in e100

    only = json.loads(_hr(config, "events", "--person", "ADA@example.com", "--format", "json").stdout)
    assert [r["employee_id"] for r in only] == ["E100"]
    unmatched = json.loads(_hr(config, "events", "--status", "unmatched", "--format", "json").stdout)
    assert [r["employee_id"] for r in unmatched] == ["E999"]
    assert len(json.loads(_hr(config, "events", "--limit", "1", "--format", "json").stdout)) == 1

    bad = _hr(config, "events", "--status", "done", code=exitcodes.USAGE)
    assert "unknown status 'done'" in bad.stderr and "unmatched" in bad.stderr
    _hr(config, "events", "--limit", "0", code=exitcodes.USAGE)


# --- send-test-event, against a real service ----------------------------------------------------


@contextmanager
def _serving(config: Path, engine: Engine) -> Iterator[str]:
    """``create_app`` on uvicorn, on a loopback port, in a thread (as `accessctl serve` runs it)."""
    import uvicorn

    settings = load_settings(config)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, engine), host="127.0.0.1", port=port, log_config=None, lifespan="off"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_send_test_event_reaches_the_service_and_changes_no_one(
    store: tuple[Path, Engine], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, engine = store
    monkeypatch.setenv("PEOPLE_WEBHOOK_SECRETS", ENV["PEOPLE_WEBHOOK_SECRETS"])
    add_person(engine)
    with _serving(config, engine) as base:
        sent = _hr(config, "send-test-event", "--source", "workday", "--url", base)
        [line] = sent.stdout.splitlines()
        [stored] = _events(engine)
        assert line == f"HTTP 202: event {stored.id} unmatched (GET /v1/hr/events/{stored.id} shows it)"
        assert (stored.source, stored.event_type, stored.employee_id, stored.status) == (
            "workday",
            "employee.updated",
            "accessctl-test-unmatched",
            "unmatched",
        )
        # a source with two keys (rotating) signs with both; the service accepts it
        rotating = _hr(config, "send-test-event", "--source", "people", "--url", base).stdout
        assert rotating.startswith("HTTP 202: event ") and " unmatched " in rotating
        assert _hr(config, "sources", "--url", base).stdout.splitlines()[-1] == (
            f"rejected: none since the service at {base} started"
        )

        # a sender whose secret the service does not have: refused (401), nothing stored
        wrong = _config(tmp_path, "wrong", WRONG_SECRET, database=tmp_path / "unused.db")
        refused = _hr(wrong, "send-test-event", "--source", "workday", "--url", base, code=exitcodes.FAILED)
        assert "refused the event: HTTP 401 signature_mismatch" in refused.stderr
        assert len(_events(engine)) == 2 and jobs_count(engine) == 0
        last = _hr(config, "sources", "--url", base).stdout.splitlines()[-1]
        assert last == "rejected since the service started: 1 (1 signature_mismatch)"


def jobs_count(engine: Engine) -> int:
    from accessctl.jobs.tables import JOBS

    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(JOBS)).scalar_one())


def test_send_test_event_bad_input_is_one_line(store: tuple[Path, Engine]) -> None:
    config, engine = store
    nobody = f"http://127.0.0.1:{free_port()}"
    cases = [
        (
            ["--source", "nope"],
            exitcodes.USAGE,
            "no HR source 'nope' in the config (sources: workday, people)",
        ),
        (["--source", "workday", "--type", "employee.fired"], exitcodes.USAGE, "unknown event type"),
        (["--source", "workday", "--url", "ftp://example.com"], exitcodes.USAGE, "is not an http(s) URL"),
        (["--source", "workday", "--url", nobody], exitcodes.FAILED, f"cannot reach the service at {nobody}"),
        ([], exitcodes.USAGE, "Missing option '--source'"),
    ]
    for args, code, message in cases:
        result = _hr(config, "send-test-event", *args, code=code)
        assert message in result.stderr, (args, result.stderr)
    assert _events(engine) == []


# --- reconcile -----------------------------------------------------------------------------------


def test_reconcile_with_no_terminated_people_says_so(store: tuple[Path, Engine]) -> None:
    config, _engine = store
    out = _hr(config, "reconcile").stdout
    assert out.strip() == "HR reconcile: 0 terminated people checked; none still has access"


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    for made in _world(tmp_path, f"sqlite:///{tmp_path / 'store.db'}"):
        made.reload(guard={"max_per_hour": 100, "max_share": 1.0})
        yield with_hr_source(made)


@pytest.mark.timeout(180)
def test_reconcile_dry_run_then_for_real_then_busy(world: World) -> None:
    from accessctl.lifecycle.people import PEOPLE

    person = world.people_with_accounts()[0]
    with world.engine.begin() as conn:
        conn.execute(PEOPLE.update().where(PEOPLE.c.id == person.id).values(status="terminated"))
    config = world.config_path

    dry = _hr(config, "reconcile", "--dry-run").stdout
    assert dry.startswith("HR reconcile (dry run): ") and dry.endswith("dry run: nothing was queued\n")
    lines = dry.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(person.employee_id))
    assert lines[at] == f"{person.employee_id}  {person.email}: would queue"
    assert lines[at + 2].split() == ["provider", "account", "active", "grants", "it", "still", "holds"]
    assert {line.split()[0] for line in lines[at + 3 : at + 6]} == {"okta", "entra", "google"}
    assert all(line.split()[2] == "yes" for line in lines[at + 3 : at + 6])
    assert jobs(world) == []

    rows = json.loads(_hr(config, "reconcile", "--format", "json").stdout)
    row = next(r for r in rows if r["employee_id"] == person.employee_id)
    assert {a["provider"] for a in row["accounts"]} == {"okta", "entra", "google"}
    assert row["action"] == "queued" and [j.id for j in jobs(world) if j.person_id == person.id] == [
        row["job"]
    ]
    again = json.loads(_hr(config, "reconcile", "--format", "json").stdout)
    assert {r["action"] for r in again} == {"in flight"}

    other = StoreLock(world.engine, LOCK)
    assert other.try_acquire() is None
    try:
        busy = _hr(config, "reconcile", code=exitcodes.BUSY)
        assert "an HR reconciliation is already running" in busy.stderr
    finally:
        other.release()
