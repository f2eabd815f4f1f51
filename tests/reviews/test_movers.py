"""Movers (issue 12): HR's person.moved, or a manager change a roster import or sync brought, gets a
one-person campaign of the person's privileged access for the new manager, emailed through a real
loopback SMTP server; once, never twice; by the review tick (serve) and by `campaign movers`.
SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from accessctl.cli import app
from accessctl.hr.events import parse_body
from accessctl.hr.queries import open_movers
from accessctl.hr.roster import import_roster
from accessctl.hr.store import record_event
from accessctl.reviews.campaigns import CAMPAIGNS, ITEMS
from accessctl.reviews.mailing import open_mailing
from accessctl.reviews.movers import MOVES, run_movers
from accessctl.reviews.scheduler import tick
from accessctl.settings import Settings, load_settings
from tests.hr.conftest import JobTableLifecycle
from tests.hr.helpers import encode, event
from tests.reviews.org import NOW, Org, seed
from tests.reviews.smtp_server import Inbox, parts, smtp_server

LATER = NOW + timedelta(days=1)


@pytest.fixture
def mail() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as server:
        yield server


def _settings(tmp_path: Path, engine: Engine, port: int, extra: str = "") -> Settings:
    path = tmp_path / "accessctl.toml"
    path.write_text(
        f'database_url = "{engine.url.render_as_string(hide_password=False)}"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nretry_delay_s = 0\n'
        '[web]\nbase_url = "https://access.example.com"\n'
        f'[reviews.mover_campaign]\nowner = "owner@example.com"\nduration_days = 7\n{extra}'
    )
    return load_settings(path, strict=True)


@pytest.fixture
def org(engine: Engine) -> Org:
    with engine.begin() as conn:
        org = seed(conn)
        # Bob holds something privileged too (the seed gives him only Engineering)
        org.entitlement("Prod DB", privileged=True, provider="entra")
        org.account("bob@contoso.com", person="BOB", provider="entra")
        org.grant("bob@contoso.com", "Prod DB")
    return org


def _moved(engine: Engine, employee_id: str, email: str, manager: str) -> None:
    """HR says ``employee_id`` now reports to ``manager`` (the intake's own path)."""
    body = event(
        "employee.updated",
        id_=f"evt-{employee_id}-{manager}",
        employee_id=employee_id,
        email=email,
        occurred_at="2027-01-04T10:00:00Z",
        manager_employee_id=manager,
        department="Eng",
    )
    raw = encode(body)
    with engine.begin() as conn:
        record_event(
            conn,
            source="workday",
            webhook_id=f"msg-{body['id']}",
            event=parse_body(raw, "application/json", now=NOW + timedelta(hours=2)),
            digest=hashlib.sha256(raw).hexdigest(),
            now=NOW + timedelta(hours=2),
            rehire="restore",
            lifecycle=JobTableLifecycle(),
        )


def _campaigns(engine: Engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(CAMPAIGNS).order_by(CAMPAIGNS.c.id)))


def _items(engine: Engine, campaign_id: int) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(ITEMS).where(ITEMS.c.campaign_id == campaign_id)))


def test_an_hr_mover_gets_one_campaign_of_their_privileged_access_for_the_new_manager(
    tmp_path: Path, engine: Engine, org: Org, mail: tuple[Inbox, int]
) -> None:
    inbox, port = mail
    settings = _settings(tmp_path, engine, port)
    first = run_movers(settings, engine, now=NOW, actor="t")
    assert first.campaigns == [] and first.detected == []  # everyone seen for the first time: no mover
    _moved(engine, "ANN", "ann@example.com", "VP")  # Ann: from Mia's team to the VP's
    with engine.connect() as conn:
        assert [m["employee_id"] for m in open_movers(conn)] == ["ANN"]

    with open_mailing(settings) as mailing:
        run = run_movers(settings, engine, now=LATER, actor="t", mailing=mailing)
    assert run.detected == []  # HR's move, not a second one from the changed manager
    [mover] = run.campaigns
    assert mover.employee_id == "ANN" and mover.sources == ["hr"]
    [campaign] = _campaigns(engine)
    assert campaign.id == mover.campaign_id and campaign.name == "mover ANN"
    assert campaign.owner == "owner@example.com"
    assert campaign.due_at.replace(tzinfo=None) == (LATER + timedelta(days=7)).replace(tzinfo=None)
    items = _items(engine, campaign.id)
    # only the privileged grant (Admins, not Engineering), and only Ann's
    assert [(i.snapshot["entitlement"], i.snapshot["login"]) for i in items] == [
        ("Admins", "ann@example.com")
    ]
    assert {i.reviewer_email for i in items} == {"vp@example.com"}  # the new manager, not Mia
    assert items[0].flagged  # no MFA on privileged access: the recommendation is there
    [message] = inbox.messages
    assert message["To"] == "vp@example.com"
    text = parts(message)["text/plain"]
    assert "https://access.example.com/review/" in text and "Admins" in text
    with engine.connect() as conn:
        assert open_movers(conn) == []  # `accessctl hr movers` no longer lists her
        move = conn.execute(sa.select(MOVES)).one()
    assert move.campaign_id == campaign.id and move.reviewed_at is not None

    again = run_movers(settings, engine, now=LATER + timedelta(minutes=1), actor="t", mailing=None)
    assert again.campaigns == [] and len(_campaigns(engine)) == 1 and len(inbox.messages) == 1


def _roster(path: Path, org: Org, engine: Engine, **managers: str) -> Path:
    """The roster as the HR export has it, with some managers changed."""
    with engine.connect() as conn:
        people = conn.execute(sa.text("SELECT * FROM person ORDER BY id")).mappings().all()
    lines = ["employee_id,email,first_name,last_name,department,manager_employee_id,status"]
    for p in people:
        manager = managers.get(p["employee_id"], p["manager_employee_id"] or "")
        lines.append(
            f"{p['employee_id']},{p['email']},{p['first_name']},{p['last_name']},"
            f"{p['department'] or ''},{manager},{p['status']}"
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_manager_change_from_a_roster_import_is_a_mover_the_review_tick_handles(
    tmp_path: Path, engine: Engine, org: Org, mail: tuple[Inbox, int]
) -> None:
    inbox, port = mail
    settings = _settings(tmp_path, engine, port)

    def _tick(when):  # type: ignore[no-untyped-def]
        return asyncio.run(tick(settings, engine, now=when, sync=None, connectors={}))

    assert _tick(NOW).movers == []  # the first look only remembers
    with engine.begin() as conn:  # the sync's roster import: Bob now reports to the CEO
        import_roster(conn, _roster(tmp_path / "roster.csv", org, engine, BOB="CEO"), actor="sync")
    report = _tick(LATER)
    assert len(report.movers) == 1 and not report.errors
    [campaign] = _campaigns(engine)
    items = _items(engine, campaign.id)
    assert [(i.snapshot["entitlement"], i.reviewer_email) for i in items] == [("Prod DB", "ceo@example.com")]
    assert [m["To"] for m in inbox.messages] == ["ceo@example.com"]
    with engine.connect() as conn:
        move = conn.execute(sa.select(MOVES)).one()
        assert open_movers(conn) == []
    assert (move.source, move.hr_event_id, move.campaign_id) == ("sync", None, campaign.id)
    assert (move.old_manager_employee_id, move.new_manager_employee_id) == ("MIA", "CEO")
    # the same roster again, and later ticks: nothing new
    with engine.begin() as conn:
        import_roster(conn, tmp_path / "roster.csv", actor="sync")
    assert _tick(LATER + timedelta(minutes=1)).movers == []
    assert _tick(LATER + timedelta(minutes=2)).movers == []
    assert len(_campaigns(engine)) == 1 and len(inbox.messages) == 1


def test_a_mover_with_nothing_privileged_is_marked_reviewed_without_a_campaign(
    tmp_path: Path, engine: Engine, org: Org, mail: tuple[Inbox, int]
) -> None:
    settings = _settings(tmp_path, engine, mail[1])
    run_movers(settings, engine, now=NOW, actor="t")
    with engine.begin() as conn:  # Mia's privileged Admins grant ends; then she moves
        conn.execute(
            sa.text("UPDATE access_grant SET ended_at = :t WHERE id = :g"),
            {"t": NOW, "g": org.grants[("mia@example.com", "Admins")]},
        )
    _moved(engine, "MIA", "mia@example.com", "CEO")
    run = run_movers(settings, engine, now=LATER, actor="t")
    [mover] = run.campaigns
    assert mover.campaign_id is None and mover.skipped == "no privileged access"
    assert _campaigns(engine) == [] and mail[0].messages == []
    with engine.connect() as conn:
        assert open_movers(conn) == []


def test_campaign_movers_cli_dry_run_writes_nothing_then_starts_and_emails(
    tmp_path: Path, engine: Engine, org: Org, mail: tuple[Inbox, int]
) -> None:
    inbox, port = mail
    settings = _settings(tmp_path, engine, port)
    run_movers(settings, engine, now=NOW, actor="t")
    _moved(engine, "ANN", "ann@example.com", "VP")
    runner = CliRunner()
    config = ["--config", str(tmp_path / "accessctl.toml")]
    dry = runner.invoke(app, [*config, "campaign", "movers", "--dry-run"], env={"COLUMNS": "80"})
    assert dry.exit_code == 0, dry.output
    assert "ann@example.com" in dry.output and "vp@example.com" in dry.output
    assert "dry run: nothing written" in dry.output
    assert _campaigns(engine) == [] and inbox.messages == []
    real = runner.invoke(app, [*config, "campaign", "movers"], env={"COLUMNS": "80"})
    assert real.exit_code == 0, real.output
    assert all(len(line) <= 80 for line in real.output.splitlines())
    [campaign] = _campaigns(engine)
    assert str(campaign.id) in real.output and "1 invitation" in real.output
    assert [m["To"] for m in inbox.messages] == ["vp@example.com"]
    again = runner.invoke(app, [*config, "campaign", "movers"], env={"COLUMNS": "80"})
    assert "(no movers to review)" in again.output and len(_campaigns(engine)) == 1


def test_campaign_movers_without_an_owner_is_one_line_and_exit_2(
    tmp_path: Path, engine: Engine, org: Org
) -> None:
    path = tmp_path / "accessctl.toml"
    path.write_text(f'database_url = "{engine.url.render_as_string(hide_password=False)}"\n')
    run_movers(load_settings(path, strict=True), engine, now=NOW, actor="t")  # nobody moved: fine
    _moved(engine, "ANN", "ann@example.com", "VP")
    result = CliRunner().invoke(app, ["--config", str(path), "campaign", "movers"])
    assert result.exit_code == 2
    assert "[reviews.mover_campaign] owner" in result.output and "Traceback" not in result.output
    with engine.connect() as conn:
        assert len(open_movers(conn)) == 1  # nothing changed
