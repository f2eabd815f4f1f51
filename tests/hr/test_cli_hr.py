"""`accessctl hr pending | unmatched | movers` on a store the intake has written."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from accessctl.cli import app
from accessctl.hr.events import parse_body
from accessctl.hr.store import record_event
from accessctl.store.engine import make_engine
from accessctl.store.migrate import upgrade
from tests.hr.conftest import JobTableLifecycle, add_person
from tests.hr.helpers import NOW, encode, event

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, Engine]:
    database = tmp_path / "accessctl.db"
    config = tmp_path / "accessctl.toml"
    config.write_text(f'database_url = "sqlite:///{database}"\n')
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    return config, engine


def _send(engine: Engine, body: dict) -> None:  # type: ignore[type-arg]
    raw = encode(body)
    with engine.begin() as conn:
        record_event(
            conn,
            source="workday",
            webhook_id=f"msg_{body['id']}",
            event=parse_body(raw, "application/json", now=NOW),
            digest=hashlib.sha256(raw).hexdigest(),
            now=NOW,
            rehire="restore",
            lifecycle=JobTableLifecycle(),
        )


def _run(config: Path, *args: str) -> str:
    result = runner.invoke(app, ["--config", str(config), "hr", *args], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result.output


def test_pending_lists_scheduled_terminations_soonest_first(store: tuple[Path, Engine]) -> None:
    config, engine = store
    assert "none" in _run(config, "pending")
    add_person(engine)
    add_person(engine, "E200", "bob@example.com")
    _send(engine, event(termination={"effective_date": "2027-01-31", "timezone": "Europe/Berlin"}))
    _send(
        engine,
        event(
            id_="evt_2",
            employee_id="E200",
            email="bob@example.com",
            termination={"effective_at": "2026-12-24T17:00:00-05:00"},
        ),
    )
    output = _run(config, "pending")
    lines = output.splitlines()
    assert all(len(line) <= 80 for line in lines)
    bob = next(i for i, line in enumerate(lines) if "E200" in line)
    ada = next(i for i, line in enumerate(lines) if "E100" in line)
    assert bob < ada and "2026-12-24 22:00" in lines[bob] and "2027-01-31 23:00" in lines[ada]
    rows = json.loads(_run(config, "pending", "--format", "json"))
    assert [r["employee_id"] for r in rows] == ["E200", "E100"]


def test_unmatched_and_movers_are_listed(store: tuple[Path, Engine]) -> None:
    config, engine = store
    add_person(engine, manager_employee_id="E1", department="Eng")
    _send(engine, event(employee_id="E404", email="ghost@example.com"))
    _send(engine, event("employee.updated", id_="evt_m", manager_employee_id="E7", department="Sales"))
    unmatched = _run(config, "unmatched")
    assert "E404" in unmatched and "terminated" in unmatched
    movers = _run(config, "movers")
    assert "E100" in movers and "E7" in movers and "Sales" in movers
    assert all(len(line) <= 80 for line in movers.splitlines())
