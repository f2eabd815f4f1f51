"""The emails of a campaign: one invitation per reviewer, reminders at the cadence to reviewers with
open items, an escalation to the reviewer's manager once overdue, and the owner's summary at close.

Every message is recorded in ``email_send`` (sent or failed, attempts, error); a failed invitation is
tried again by the next run (``accessctl campaign remind``).  A reviewer's link token is committed
before the email carrying it is sent; each message's record is committed after it, so a crash loses
at most the record of the one message in flight, never a sent link's validity.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from accessctl import audit
from accessctl.notify.render import Templates, build_message
from accessctl.notify.smtp import SendResult
from accessctl.reviews.campaigns import ASSIGNMENTS, ITEMS, SENDS, get_campaign, reviewer_progress
from accessctl.reviews.reviewers import Directory
from accessctl.reviews.tokens import issue_token
from accessctl.settings import Settings
from accessctl.timestamps import utc

#: how many items an email lists (the page has them all)
ITEMS_IN_EMAIL = 50


@dataclass
class Mailing:
    """What sending needs: a mailer (``send(message) -> SendResult``), templates, where links point."""

    send: Callable[[Any], SendResult]
    templates: Templates
    base_url: str
    sender: str
    zone: str = "UTC"

    def link(self, token: str) -> str:
        return f"{self.base_url.rstrip('/')}/review/{token}"

    def when(self, value: datetime) -> str:
        local = utc(value).astimezone(ZoneInfo(self.zone))
        return f"{local:%a %d %b %Y %H:%M} {local.tzname()}"


@dataclass
class MailRun:
    sent: list[tuple[str, str]] = field(default_factory=list)  # (kind, recipient)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, recipient, error)

    def add(self, other: MailRun) -> MailRun:
        self.sent += other.sent
        self.failed += other.failed
        return self


def _reviewer_items(conn: Connection, campaign_id: int, email: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.select(ITEMS.c.snapshot, ITEMS.c.recommendations, ITEMS.c.flagged, ITEMS.c.decision)
        .where(ITEMS.c.campaign_id == campaign_id, ITEMS.c.reviewer_email == email)
        .order_by(ITEMS.c.flagged.desc(), ITEMS.c.id)
    ).all()
    return [
        {
            "person": r.snapshot.get("person"),
            "login": r.snapshot.get("login"),
            "provider": r.snapshot.get("provider"),
            "entitlement": r.snapshot.get("entitlement"),
            "flagged": r.flagged,
            "reasons": [rec["reason"] for rec in r.recommendations],
            "decided": r.decision is not None,
        }
        for r in rows
    ]


def _deliver(
    engine: Engine,
    mailing: Mailing,
    *,
    campaign_id: int,
    assignment_id: int | None,
    kind: str,
    to: str,
    template: str,
    context: dict[str, Any],
    now: datetime,
    mark: dict[str, Any] | None = None,
) -> SendResult:
    subject, text, html = mailing.templates.render(template, context)
    result = mailing.send(build_message(sender=mailing.sender, to=to, subject=subject, text=text, html=html))
    with engine.begin() as conn:
        conn.execute(
            sa.insert(SENDS).values(
                campaign_id=campaign_id,
                assignment_id=assignment_id,
                kind=kind,
                recipient=to,
                subject=subject[:400],
                status="sent" if result.ok else "failed",
                attempts=result.attempts,
                error=(result.error or "")[:1000] or None,
                created_at=now,
            )
        )
        if result.ok and mark and assignment_id is not None:
            conn.execute(sa.update(ASSIGNMENTS).where(ASSIGNMENTS.c.id == assignment_id).values(**mark))
        audit.record(
            conn,
            actor="accessctl",
            action=f"email.{kind}",
            target_type="campaign",
            target_id=str(campaign_id),
            outcome="success" if result.ok else "failure",
            details={"to": to, "attempts": result.attempts, "error": result.error},
            occurred_at=now,
        )
    return result


def _review_email(
    engine: Engine, mailing: Mailing, campaign: Any, assignment: Any, *, kind: str, now: datetime
) -> SendResult:
    with engine.begin() as conn:
        items = _reviewer_items(conn, campaign.id, assignment.reviewer_email)
        token = issue_token(conn, assignment.id, expires_at=utc(campaign.due_at) + _grace(campaign))
    open_items = [i for i in items if not i["decided"]]
    context = {
        "reviewer_name": assignment.reviewer_name or assignment.reviewer_email,
        "campaign": campaign.name,
        "items": open_items if kind == "reminder" else items,
        "limit": ITEMS_IN_EMAIL,
        "item_count": len(items),
        "open_count": len(open_items),
        "flagged_count": sum(1 for i in open_items if i["flagged"]),
        "due": mailing.when(campaign.due_at),
        "link": mailing.link(token),
    }
    mark = {"invited_at": now} if kind == "invitation" else {"last_reminded_at": now}
    return _deliver(
        engine,
        mailing,
        campaign_id=campaign.id,
        assignment_id=assignment.id,
        kind=kind,
        to=assignment.reviewer_email,
        template=kind,
        context=context,
        now=now,
        mark=mark,
    )


def _grace(campaign: Any) -> timedelta:
    """The link works until the campaign's end: its due date, and the escalation days after it."""
    return timedelta(days=int(campaign.config.get("escalate_after_days", 0)))


def _open_counts(conn: Connection, campaign_id: int) -> Counter[str]:
    return Counter(
        dict(
            conn.execute(
                sa.select(ITEMS.c.reviewer_email, sa.func.count())
                .where(ITEMS.c.campaign_id == campaign_id, ITEMS.c.decision.is_(None))
                .group_by(ITEMS.c.reviewer_email)
            ).all()
        )
    )


def _record(run: MailRun, kind: str, to: str, result: SendResult) -> None:
    if result.ok:
        run.sent.append((kind, to))
    else:
        run.failed.append((kind, to, result.error or "failed"))


def send_invitations(engine: Engine, campaign_id: int, mailing: Mailing, *, now: datetime) -> MailRun:
    """One email to each reviewer not yet invited (a failed invitation is tried again here)."""
    run = MailRun()
    with engine.connect() as conn:
        campaign = get_campaign(conn, campaign_id)
        counts = Counter(
            dict(
                conn.execute(
                    sa.select(ITEMS.c.reviewer_email, sa.func.count())
                    .where(ITEMS.c.campaign_id == campaign_id)
                    .group_by(ITEMS.c.reviewer_email)
                ).all()
            )
        )
        pending = conn.execute(
            sa.select(ASSIGNMENTS)
            .where(ASSIGNMENTS.c.campaign_id == campaign_id, ASSIGNMENTS.c.invited_at.is_(None))
            .order_by(ASSIGNMENTS.c.id)
        ).all()
    if campaign.status != "open":
        return run
    for assignment in pending:
        if counts[assignment.reviewer_email]:
            result = _review_email(engine, mailing, campaign, assignment, kind="invitation", now=now)
            _record(run, "invitation", assignment.reviewer_email, result)
    return run


def send_reminders(engine: Engine, campaign_id: int, mailing: Mailing, *, now: datetime) -> MailRun:
    """A reminder to each invited reviewer who still has open items, once per ``reminder_every_days``."""
    run = MailRun()
    with engine.connect() as conn:
        campaign = get_campaign(conn, campaign_id)
        open_counts = _open_counts(conn, campaign_id)
        assignments = conn.execute(
            sa.select(ASSIGNMENTS)
            .where(ASSIGNMENTS.c.campaign_id == campaign_id, ASSIGNMENTS.c.invited_at.is_not(None))
            .order_by(ASSIGNMENTS.c.id)
        ).all()
    every = int(campaign.config.get("reminder_every_days", 0))
    if campaign.status != "open" or every <= 0:
        return run
    for assignment in assignments:
        if not open_counts[assignment.reviewer_email]:
            continue  # finished: no more reminders
        last = utc(assignment.last_reminded_at or assignment.invited_at)
        if now - last < timedelta(days=every):
            continue
        result = _review_email(engine, mailing, campaign, assignment, kind="reminder", now=now)
        _record(run, "reminder", assignment.reviewer_email, result)
    return run


def send_escalations(engine: Engine, campaign_id: int, mailing: Mailing, *, now: datetime) -> MailRun:
    """Once ``escalate_after_days`` past the due date, tell each unfinished reviewer's manager (else the
    campaign owner), once."""
    run = MailRun()
    with engine.connect() as conn:
        campaign = get_campaign(conn, campaign_id)
        after = timedelta(days=int(campaign.config.get("escalate_after_days", 0)))
        overdue_since = utc(campaign.due_at) + after
        if campaign.status != "open" or now < overdue_since:
            return run
        progress = {p.email: p for p in reviewer_progress(conn, campaign_id)}
        assignments = conn.execute(
            sa.select(ASSIGNMENTS)
            .where(ASSIGNMENTS.c.campaign_id == campaign_id, ASSIGNMENTS.c.escalated_at.is_(None))
            .order_by(ASSIGNMENTS.c.id)
        ).all()
        directory = Directory(conn)
    for assignment in assignments:
        mine = progress.get(assignment.reviewer_email)
        if mine is None or not mine.open:
            continue
        manager = directory.manager_of_reviewer(assignment.reviewer_email)
        to = manager.email if manager else campaign.owner
        context = {
            "manager_name": manager.name if manager else to,
            "reviewer_name": assignment.reviewer_name or assignment.reviewer_email,
            "reviewer_email": assignment.reviewer_email,
            "campaign": campaign.name,
            "open_count": mine.open,
            "item_count": mine.items,
            "due": mailing.when(campaign.due_at),
            "days_overdue": (now - utc(campaign.due_at)).days,
        }
        result = _deliver(
            engine,
            mailing,
            campaign_id=campaign.id,
            assignment_id=assignment.id,
            kind="escalation",
            to=to,
            template="escalation",
            context=context,
            now=now,
            mark={"escalated_at": now},
        )
        _record(run, "escalation", to, result)
    return run


def send_due_emails(engine: Engine, campaign_id: int, mailing: Mailing, *, now: datetime) -> MailRun:
    """Everything due now: invitations not yet delivered, reminders, escalations (what
    ``accessctl campaign remind`` and, later, the scheduler run)."""
    run = send_invitations(engine, campaign_id, mailing, now=now)
    run.add(send_reminders(engine, campaign_id, mailing, now=now))
    return run.add(send_escalations(engine, campaign_id, mailing, now=now))


def send_summary(engine: Engine, campaign_id: int, mailing: Mailing, *, now: datetime) -> MailRun:
    """The owner's summary of a campaign (sent at close)."""
    with engine.connect() as conn:
        campaign = get_campaign(conn, campaign_id)
        progress = reviewer_progress(conn, campaign_id)
        decisions = Counter(
            dict(
                conn.execute(
                    sa.select(ITEMS.c.decision, sa.func.count())
                    .where(ITEMS.c.campaign_id == campaign_id)
                    .group_by(ITEMS.c.decision)
                ).all()
            )
        )
        failures = conn.execute(
            sa.select(sa.func.count())
            .select_from(SENDS)
            .where(SENDS.c.campaign_id == campaign_id, SENDS.c.status == "failed")
        ).scalar_one()
    context = {
        "campaign": campaign.name,
        "campaign_id": campaign.id,
        "started": mailing.when(campaign.started_at),
        "due": mailing.when(campaign.due_at),
        "items": sum(decisions.values()),
        "kept": decisions["keep"],
        "revoked": decisions["revoke"],
        "undecided": decisions[None],
        "policy": campaign.config.get("undecided", "keep"),
        "reviewers": [{"email": p.email, "total": p.items, "decided": p.decided} for p in progress],
        "failures": failures,
    }
    run = MailRun()
    result = _deliver(
        engine,
        mailing,
        campaign_id=campaign.id,
        assignment_id=None,
        kind="summary",
        to=campaign.owner,
        template="summary",
        context=context,
        now=now,
    )
    _record(run, "summary", campaign.owner, result)
    return run


@contextmanager
def open_mailing(settings: Settings) -> Iterator[Mailing]:
    """The configured SMTP server, templates and links (one connection, opened at the first send)."""
    from accessctl.notify.smtp import SmtpMailer

    with SmtpMailer(settings.smtp) as mailer:
        yield Mailing(
            mailer.send,
            Templates(settings.reviews.templates_dir),
            settings.web.base_url,
            settings.smtp.from_address,
            settings.reviews.timezone,
        )
