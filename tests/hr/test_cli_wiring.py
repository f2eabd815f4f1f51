"""`accessctl hr import` matches the HR events no one matched (a termination's leaver starts, through
the real engine bridge), and an admin's `accessctl restore` settles a rehire HR queued for review."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from accessctl.cli import app
from accessctl.hr.events import parse_body
from accessctl.hr.store import EVENTS, record_event, settle_admin_restores
from accessctl.jobs.tables import JOBS, write_tx
from accessctl.lifecycle.hr_jobs import HrLifecycle
from accessctl.settings import Settings
from accessctl.store.engine import make_engine
from accessctl.store.migrate import upgrade
from tests.hr.conftest import add_person
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


def _send(engine: Engine, body: dict, rehire: str = "restore") -> int:  # type: ignore[type-arg]
    raw = encode(body)
    with engine.begin() as conn:
        return record_event(
            conn,
            source="workday",
            webhook_id=f"msg_{body['id']}",
            event=parse_body(raw, "application/json", now=NOW),
            digest=hashlib.sha256(raw).hexdigest(),
            now=NOW,
            rehire=rehire,  # type: ignore[arg-type]
            lifecycle=HrLifecycle(Settings(), now=lambda: NOW),
        ).event_id


def _event(engine: Engine, event_id: int) -> sa.Row:
    with engine.connect() as conn:
        return conn.execute(sa.select(EVENTS).where(EVENTS.c.id == event_id)).one()


def test_a_roster_import_matches_an_unmatched_termination_and_starts_its_leaver(
    store: tuple[Path, Engine], tmp_path: Path
) -> None:
    config, engine = store
    event_id = _send(
        engine,
        event(
            employee_id="E404",
            email="new@example.com",
            occurred_at="2026-11-01T09:00:00Z",  # before the real clock the import reads
            termination={"immediate": True},
        ),
    )
    assert _event(engine, event_id).status == "unmatched"
    roster = tmp_path / "roster.csv"
    roster.write_text("employee_id,email,first_name\nE404,new@example.com,Nell\n")
    result = runner.invoke(app, ["--config", str(config), "hr", "import", str(roster)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert "1 unmatched HR event(s) now match a person" in result.output
    row = _event(engine, event_id)
    assert row.status == "applied" and row.job_id is not None
    with engine.connect() as conn:
        job = conn.execute(sa.select(JOBS).where(JOBS.c.id == row.job_id)).one()
    assert (job.kind, job.hr_event_id, job.requested_by) == ("leaver", event_id, "hr")
    again = runner.invoke(app, ["--config", str(config), "hr", "import", str(roster)])
    assert again.exit_code == 0 and "now match" not in again.output


def test_an_admins_restore_settles_a_rehire_queued_for_review(store: tuple[Path, Engine]) -> None:
    _, engine = store
    person_id = add_person(engine)
    _send(engine, event(id_="t1", termination={"immediate": True}), rehire="review")
    rehire_id = _send(
        engine, event("employee.rehired", id_="r1", occurred_at="2026-12-02T11:30:00Z"), "review"
    )
    queued = _event(engine, rehire_id)
    assert queued.needs_admin and queued.job_id is None
    with engine.begin() as conn:
        assert settle_admin_restores(conn, person_id, job_id=99, by="ann", now=NOW) == [rehire_id]
        assert settle_admin_restores(conn, person_id, job_id=100, by="ann", now=NOW) == []
    settled = _event(engine, rehire_id)
    assert settled.job_id == 99 and "approved by ann" in settled.note
    pending = runner.invoke(app, ["--config", str(store[0]), "hr", "pending"], env={"COLUMNS": "80"})
    assert "restore (admin)" not in pending.output


def _okta_account(engine: Engine, person_id: int) -> None:
    from accessctl.store.models import Account

    with engine.begin() as conn:
        conn.execute(
            Account.__table__.insert().values(  # type: ignore[attr-defined]
                provider="okta",
                external_id="00u1",
                login="ada@example.com",
                person_id=person_id,
                status="active",
            )
        )


def test_a_rehire_while_its_leaver_still_runs_is_refused_and_stores_nothing(
    store: tuple[Path, Engine],
) -> None:
    from accessctl.hr.rejections import Rejected
    from accessctl.lifecycle.plan_pending import plan_pending

    _, engine = store
    _okta_account(engine, add_person(engine))
    settings = Settings(okta={"enabled": True})

    def send(body: dict) -> int:  # type: ignore[type-arg]
        raw = encode(body)
        with write_tx(engine) as conn:  # as the intake writes
            return record_event(
                conn,
                source="workday",
                webhook_id=f"msg_{body['id']}",
                event=parse_body(raw, "application/json", now=NOW),
                digest=hashlib.sha256(raw).hexdigest(),
                now=NOW,
                rehire="restore",
                lifecycle=HrLifecycle(settings, now=lambda: NOW),
            ).event_id

    send(event(id_="t1", termination={"immediate": True}))
    with engine.connect() as conn:
        [leaver] = conn.execute(sa.select(JOBS)).all()
    assert leaver.kind == "leaver" and leaver.state == "planning"  # committed, not yet planned
    with pytest.raises(Rejected) as refused:
        send(event("employee.rehired", id_="r1", occurred_at="2026-12-02T11:30:00Z"))
    assert refused.value.status == 409 and refused.value.reason == "leaver_running"
    assert plan_pending(settings, engine, now=NOW) == 1
    with engine.connect() as conn:
        assert conn.execute(sa.select(JOBS.c.state)).scalar_one() == "pending"  # suspend, revoke, ...
    with pytest.raises(Rejected) as refused:
        send(event("employee.rehired", id_="r1", occurred_at="2026-12-02T11:30:00Z"))
    assert refused.value.status == 409 and refused.value.reason == "leaver_running"
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar_one() == 1
        assert conn.execute(sa.select(sa.func.count()).select_from(JOBS)).scalar_one() == 1
