"""`accessctl campaign` as a user runs it: start (dry run and real, with the invitations landing in a
loopback SMTP server), list, show (progress and failed sends), remind, close --dry-run; errors in one
line with exit 2; every line within 80 columns."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from accessctl.cli import app
from accessctl.reviews.campaigns import ITEMS
from accessctl.store.engine import make_engine
from accessctl.store.migrate import upgrade
from tests.reviews.org import seed
from tests.reviews.smtp_server import Inbox, smtp_server

runner = CliRunner()


@dataclass
class Setup:
    config: Path
    inbox: Inbox
    url: str

    def run(self, *args: str) -> Result:
        result = runner.invoke(app, ["--config", str(self.config), *args], env={"COLUMNS": "80"})
        for line in result.output.splitlines():  # an error is one line, however long
            assert len(line) <= 80 or line.startswith("error:"), line
        return result


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        seed(conn)
    engine.dispose()
    with smtp_server() as (inbox, port):
        config = tmp_path / "accessctl.toml"
        config.write_text(
            f'database_url = "{url}"\n'
            f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nretry_delay_s = 0\n'
            '[web]\nbase_url = "https://access.example.com"\n'
            '[reviews]\ntimezone = "Europe/Paris"\n'
            '[[reviews.campaigns]]\nname = "q1"\nowner = "owner@example.com"\nundecided = "revoke"\n'
            '[[reviews.campaigns]]\nname = "admins"\nowner = "owner@example.com"\n'
            "[reviews.campaigns.scope]\nprivileged_only = true\n"
        )
        yield Setup(config, inbox, url)


def test_start_dry_run_then_start_list_show_remind_and_close_preview(setup: Setup) -> None:
    dry = setup.run("campaign", "start", "admins", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "admins: would snapshot 3 items, 2 reviewers, 2 flagged" in dry.output
    assert "dry run: nothing written, no email sent" in dry.output and not setup.inbox.messages

    started = setup.run("campaign", "start", "q1")
    assert started.exit_code == 0, started.output
    assert "q1: campaign 1 started: 8 items, 3 reviewers, 4 flagged" in started.output
    lines = started.output.splitlines()
    assert any(line.split()[:3] == ["mia@example.com", "4", "2"] for line in lines), lines
    assert "emails sent: 3 invitations" in started.output
    assert sorted(m["To"] for m in setup.inbox.messages) == [
        "ceo@example.com",
        "mia@example.com",
        "vp@example.com",
    ]

    listed = setup.run("campaign", "list")
    assert listed.exit_code == 0
    row = next(line for line in listed.output.splitlines() if line.strip().startswith("1 "))
    assert row.split()[:3] == ["1", "q1", "open"] and row.split()[-3:] == ["8", "0", "3"]

    engine = make_engine(setup.url)
    with engine.begin() as conn:
        conn.execute(
            sa.update(ITEMS)
            .where(ITEMS.c.reviewer_email == "ceo@example.com")
            .values(decision="keep", decided_by="ceo@example.com")
        )
    engine.dispose()
    shown = setup.run("campaign", "show", "1")
    assert shown.exit_code == 0, shown.output
    assert "Campaign 1 'q1': open, owner owner@example.com" in shown.output
    assert "1 of 8 items decided; undecided at close: revoke" in shown.output
    ceo = next(line for line in shown.output.splitlines() if line.startswith("ceo@example.com"))
    assert ceo.split()[1] == "1/1"
    assert "Emails: 3 sent, 0 failed" in shown.output

    reminded = setup.run("campaign", "remind", "1")  # nothing due yet: not 3 days since the invitations
    assert reminded.exit_code == 0 and "emails sent: none" in reminded.output

    preview = setup.run("campaign", "close", "1", "--dry-run")
    assert preview.exit_code == 0, preview.output
    assert "undecided items: 7, policy 'revoke'" in preview.output
    assert "keep 1, revoke 7, escalate 0" in preview.output
    # no provider is configured here: each revoke says why it cannot be queued
    revocations = [line for line in preview.output.splitlines() if "not possible (below)" in line]
    assert len(revocations) == 7
    assert any("ann@example.com" in line for line in revocations)
    assert "item 6: the account is linked to no person; revoke it by hand" in preview.output

    closing = setup.run("campaign", "close", "1")
    assert closing.exit_code == 1, closing.output  # closed, but 7 revokes could not be queued
    assert "Campaign 1 'q1' closed:" in closing.output and "emails sent: 1 summary" in closing.output
    assert [m["To"] for m in setup.inbox.messages][-1] == "owner@example.com"
    again = setup.run("campaign", "close", "1")
    assert again.exit_code == 2 and "campaign 1 is already closed: nothing queued again" in again.output


def test_a_failed_invitation_shows_in_campaign_show_and_remind_sends_it(setup: Setup) -> None:
    setup.inbox.refused.add("vp@example.com")
    started = setup.run("campaign", "start", "q1")
    assert started.exit_code == 0
    assert "✗ invitation to vp@example.com failed:\n    recipient refused: 550" in started.output
    shown = setup.run("campaign", "show", "1")
    assert "Emails: 2 sent, 1 failed" in shown.output
    failed = next(line for line in shown.output.splitlines() if line.startswith("invitation"))
    assert failed.split()[:3] == ["invitation", "vp@example.com", "1"] and "550" in failed
    setup.inbox.refused.clear()
    reminded = setup.run("campaign", "remind", "1")
    assert reminded.exit_code == 0 and "emails sent: 1 invitation" in reminded.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("campaign", "start", "nope"),
            "no campaign named 'nope' in [[reviews.campaigns]] (known: q1, admins)",
        ),
        (("campaign", "show", "42"), "no campaign 42 (see `accessctl campaign list`)"),
        (("campaign", "remind", "42"), "no campaign 42"),
        (("campaign", "close", "42", "--dry-run"), "no campaign 42"),
        (("campaign", "show", "x"), "Invalid value for 'campaign_id'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(setup: Setup, args: tuple[str, ...], message: str) -> None:
    result = setup.run(*args)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert "Traceback" not in result.output


def test_list_with_no_campaigns(setup: Setup) -> None:
    result = setup.run("campaign", "list")
    assert result.exit_code == 0 and "(no campaigns yet)" in result.output


def test_reassign_an_item_and_refuse_self_review(setup: Setup) -> None:
    assert setup.run("campaign", "start", "q1", "--no-email").exit_code == 0
    moved = setup.run("campaign", "reassign", "2", "--to", "VP@example.com")  # Ann's Engineering
    assert moved.exit_code == 0, moved.output
    assert "review item 2: reassigned from mia@example.com to vp@example.com" in moved.output
    own = setup.run("campaign", "reassign", "2", "--to", "ann@example.com")
    assert own.exit_code == 2 and "ann@example.com cannot review their own access" in own.output
    missing = setup.run("campaign", "reassign", "99", "--to", "vp@example.com")
    assert missing.exit_code == 2 and "no review item 99" in missing.output
