"""Campaign email through a real SMTP server on loopback: one invitation per reviewer over one
connection, content (items, flagged count, due date, a working link), reminders only to reviewers with
open items, escalation to the manager, the owner's summary, retries and recorded failures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.notify.render import Templates
from accessctl.notify.smtp import SmtpMailer
from accessctl.reviews import decide as decisions
from accessctl.reviews.campaigns import ITEMS, campaign_detail, start_campaign
from accessctl.reviews.errors import BadToken
from accessctl.reviews.mailing import Mailing, send_due_emails, send_invitations, send_reminders, send_summary
from accessctl.reviews.tokens import resolve_token, revoke_token
from accessctl.settings import CampaignSettings, SmtpSettings
from tests.reviews.org import NOW, seed
from tests.reviews.smtp_server import Inbox, parts, smtp_server


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as server:
        yield server


def _mailing(mailer: SmtpMailer, folder: Path | None = None) -> Mailing:
    return Mailing(
        mailer.send, Templates(folder), "https://review.example.com/", "accessctl@example.com", "Europe/Paris"
    )


def _campaign(engine: Engine, **kw: Any) -> int:
    settings = CampaignSettings(name="q1", owner="owner@example.com", **kw)
    with engine.begin() as conn:
        seed(conn)
        campaign_id = start_campaign(conn, settings, actor="t", now=NOW).campaign_id
    assert campaign_id is not None
    return campaign_id


def _smtp(port: int, **kw: Any) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=port, retry_delay_s=0, timeout_s=5, **kw)


def test_one_email_per_reviewer_over_one_connection_with_items_and_a_working_link(
    engine: Engine, inbox: tuple[Inbox, int]
) -> None:
    server, port = inbox
    campaign_id = _campaign(engine)
    with SmtpMailer(_smtp(port)) as mailer:
        run = send_invitations(engine, campaign_id, _mailing(mailer), now=NOW)
    assert sorted(to for _, to in run.sent) == ["ceo@example.com", "mia@example.com", "vp@example.com"]
    assert server.connections == 1 and len(server.messages) == 3
    mia = server.to("mia@example.com")[0]
    assert mia["Subject"] == 'Access review "q1": 4 items to review by Mon 18 Jan 2027 10:00 CET'
    assert mia.is_multipart() and mia.get_content_type() == "multipart/alternative"
    bodies = parts(mia)
    text, html = bodies["text/plain"], bodies["text/html"]
    assert "4 items to review, 2 flagged for a closer look" in text
    assert "ANN Test: Admins (okta, ann@example.com) [FLAGGED]" in text
    assert "no MFA enrolled on an account holding privileged access" in text
    assert "LEFT Test is terminated in HR (since 2026-12-01)" in html
    link = next(line for line in text.splitlines() if line.startswith("https://review.example.com/review/"))
    assert f'href="{link}"' in html
    token = link.rsplit("/", 1)[1]
    with engine.begin() as conn:
        assignment = resolve_token(conn, token, now=NOW)
        assert assignment.reviewer_email == "mia@example.com" and assignment.campaign_id == campaign_id
        stored = conn.execute(sa.text("SELECT token_hash FROM reviewer_assignment")).scalars().all()
        assert token not in stored  # only its hash is kept
        with pytest.raises(BadToken, match="expired"):
            resolve_token(conn, token, now=NOW + timedelta(days=17))
        revoke_token(conn, assignment.id, actor="admin", now=NOW)
        with pytest.raises(BadToken, match="revoked"):
            resolve_token(conn, token, now=NOW)
    # sending again invites nobody twice
    with SmtpMailer(_smtp(port)) as mailer:
        assert send_invitations(engine, campaign_id, _mailing(mailer), now=NOW).sent == []


def test_reminders_go_only_to_reviewers_with_open_items_at_the_cadence(
    engine: Engine, inbox: tuple[Inbox, int]
) -> None:
    server, port = inbox
    campaign_id = _campaign(engine, reminder_every_days=3)
    with SmtpMailer(_smtp(port)) as mailer:
        mailing = _mailing(mailer)
        send_invitations(engine, campaign_id, mailing, now=NOW)
        with engine.begin() as conn:  # the CEO decides their one item
            item = conn.execute(
                sa.select(ITEMS.c.id).where(ITEMS.c.reviewer_email == "ceo@example.com")
            ).scalar_one()
            decisions.decide(conn, item_id=item, reviewer_email="ceo@example.com", decision="revoke", now=NOW)
        assert (
            send_reminders(engine, campaign_id, mailing, now=NOW + timedelta(days=2)).sent == []
        )  # too soon
        run = send_reminders(engine, campaign_id, mailing, now=NOW + timedelta(days=3))
        assert sorted(to for _, to in run.sent) == ["mia@example.com", "vp@example.com"]
        assert send_reminders(engine, campaign_id, mailing, now=NOW + timedelta(days=4)).sent == []
    reminder = server.to("mia@example.com")[-1]
    assert reminder["Subject"].startswith('Reminder: 4 access review items still open in "q1"')
    assert not any(m["Subject"].startswith("Reminder") for m in server.to("ceo@example.com"))


def test_escalation_to_the_reviewers_manager_when_overdue_and_summary_to_the_owner(
    engine: Engine, inbox: tuple[Inbox, int]
) -> None:
    server, port = inbox
    campaign_id = _campaign(engine, reminder_every_days=0, escalate_after_days=2)
    with SmtpMailer(_smtp(port)) as mailer:
        mailing = _mailing(mailer)
        send_due_emails(engine, campaign_id, mailing, now=NOW)
        assert [
            k for k, _ in send_due_emails(engine, campaign_id, mailing, now=NOW + timedelta(days=15)).sent
        ] == []
        run = send_due_emails(engine, campaign_id, mailing, now=NOW + timedelta(days=16))
        escalated = sorted(to for kind, to in run.sent if kind == "escalation")
        # Mia's manager is the VP; the VP's is the CEO; the CEO has none: the owner
        assert escalated == ["ceo@example.com", "owner@example.com", "vp@example.com"]
        assert send_due_emails(engine, campaign_id, mailing, now=NOW + timedelta(days=17)).sent == []  # once
        send_summary(engine, campaign_id, mailing, now=NOW + timedelta(days=17))
    to_vp = next(m for m in server.to("vp@example.com") if m["Subject"].startswith("Overdue"))
    assert to_vp["Subject"] == 'Overdue access review: MIA Test has 4 open items in "q1"'
    assert "2 days after the due date" in parts(to_vp)["text/plain"]
    summary = server.to("owner@example.com")[-1]
    assert summary["Subject"] == 'Access review "q1" closed: 0 revoked, 0 kept, 8 undecided'
    assert "mia@example.com: 0 of 4 decided" in parts(summary)["text/plain"]


def test_a_refused_send_is_retried_then_a_permanent_refusal_is_recorded_and_shown(
    engine: Engine, inbox: tuple[Inbox, int]
) -> None:
    server, port = inbox
    server.busy["mia@example.com"] = 2  # two 451s, then accepted
    server.refused.add("vp@example.com")
    campaign_id = _campaign(engine)
    with SmtpMailer(_smtp(port, max_attempts=3)) as mailer:
        run = send_invitations(engine, campaign_id, _mailing(mailer), now=NOW)
    assert sorted(to for _, to in run.sent) == ["ceo@example.com", "mia@example.com"]
    assert [(to, error) for _, to, error in run.failed] == [
        ("vp@example.com", "recipient refused: 550 5.1.1 no such mailbox")
    ]
    assert len(server.to("mia@example.com")) == 1 and server.connections == 1
    with engine.connect() as conn:
        sends = {s["recipient"]: s for s in campaign_detail(conn, campaign_id).sends}
    assert (sends["mia@example.com"]["status"], sends["mia@example.com"]["attempts"]) == ("sent", 3)
    assert (sends["vp@example.com"]["status"], sends["vp@example.com"]["attempts"]) == ("failed", 1)
    # the next run tries the failed invitation again, and only it
    server.refused.clear()
    with SmtpMailer(_smtp(port)) as mailer:
        again = send_invitations(engine, campaign_id, _mailing(mailer), now=NOW)
    assert again.sent == [("invitation", "vp@example.com")]


def test_a_server_that_is_down_is_a_recorded_failure_not_a_crash(engine: Engine) -> None:
    from tests.reviews.smtp_server import free_port

    campaign_id = _campaign(engine)
    with SmtpMailer(_smtp(free_port(), max_attempts=2)) as mailer:
        run = send_invitations(engine, campaign_id, _mailing(mailer), now=NOW)
    assert run.sent == [] and len(run.failed) == 3
    assert run.failed[0][2].startswith("cannot reach the SMTP server 127.0.0.1:")
    assert "Connection refused" in run.failed[0][2]


def test_templates_are_overridden_from_the_configured_folder(
    engine: Engine, inbox: tuple[Inbox, int], tmp_path: Path
) -> None:
    server, port = inbox
    (tmp_path / "invitation.subject.txt").write_text(
        "Please review {{ item_count }} things, {{ reviewer_name }}"
    )
    campaign_id = _campaign(engine)
    with SmtpMailer(_smtp(port)) as mailer:
        send_invitations(engine, campaign_id, _mailing(mailer, tmp_path), now=NOW)
    assert server.to("mia@example.com")[0]["Subject"] == "Please review 4 things, MIA Test"
    assert (
        "4 items to review" in parts(server.to("mia@example.com")[0])["text/plain"]
    )  # the body stays built in


def test_starttls_and_login_with_the_password_from_a_file(engine: Engine, tls: Any, tmp_path: Path) -> None:
    import ssl

    from accessctl.settings import load_settings

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls.cert_path), str(tls.key_path))
    (tmp_path / "smtp-password").write_text("s3cret-pw\n")
    campaign_id = _campaign(engine)
    with smtp_server(tls=context, login=("mailer", "s3cret-pw")) as (server, port):
        config = tmp_path / "accessctl.toml"
        config.write_text(
            f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nstarttls = true\nusername = "mailer"\n'
            f'password_file = "smtp-password"\nca_bundle = "{tls.ca_path}"\nretry_delay_s = 0\n'
        )
        smtp = load_settings(config).smtp
        with SmtpMailer(smtp) as mailer:
            run = send_invitations(engine, campaign_id, _mailing(mailer), now=NOW)
        assert len(run.sent) == 3 and len(server.messages) == 3
        wrong = smtp.model_copy(update={"password": None})
        with SmtpMailer(wrong) as mailer:
            result = mailer.send(server.messages[0])  # type: ignore[arg-type]
        assert not result.ok and result.attempts == 1 and "login refused" in (result.error or "")
