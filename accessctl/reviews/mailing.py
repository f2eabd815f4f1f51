"""The emails of a campaign: one invitation per reviewer, reminders at the cadence to reviewers with
open items, an escalation to the reviewer's manager once overdue, and the owner's summary at close.

Every message is recorded in ``email_send`` (sent or failed, attempts, error); a failed invitation is
tried again by the next run (``accessctl campaign remind``).  Messages go out in batches of
:data:`MAIL_BATCH` over the mailer's one connection: a batch's link tokens are committed before any
of its emails is sent, and its records (sends, assignment marks, audit events) in one transaction
after the last of them, each message marked sent only once the server accepted it.  So a crash
loses at most the records of one batch's messages, never a sent link's validity: the next run sends
those reviewers their email again (a second message, whose newer link replaces the first's).
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
from accessctl.reviews.tokens import issue_tokens
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


def _reviewer_items(conn: Connection, campaign_id: int, emails: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each reviewer's items as their email lists them (flagged first), for several reviewers at once."""
    found: dict[str, list[dict[str, Any]]] = {email: [] for email in emails}
    rows = conn.execute(
        sa.select(
            ITEMS.c.reviewer_email,
            ITEMS.c.snapshot,
            ITEMS.c.recommendations,
            ITEMS.c.flagged,
            ITEMS.c.decision,
        )
        .where(ITEMS.c.campaign_id == campaign_id, ITEMS.c.reviewer_email.in_(emails))
        .order_by(ITEMS.c.flagged.desc(), ITEMS.c.id)
    )
    for r in rows:
        found[r.reviewer_email].append(
            {
                "person": r.snapshot.get("person"),
                "login": r.snapshot.get("login"),
                "provider": r.snapshot.get("provider"),
                "entitlement": r.snapshot.get("entitlement"),
                "flagged": r.flagged,
                "reasons": [rec["reason"] for rec in r.recommendations],
                "decided": r.decision is not None,
            }
        )
    return found


#: messages sent between two commits of what was sent (see :func:`_deliver`)
MAIL_BATCH = 100


@dataclass(frozen=True, slots=True)
class _Email:
    """One message to send and what recording it needs."""

    kind: str
    to: str
    template: str
    context: dict[str, Any]
    assignment_id: int | None
    #: the assignment's columns set once the server accepted the message
    mark: dict[str, Any] | None


def _deliver(
    engine: Engine, mailing: Mailing, emails: list[_Email], *, campaign_id: int, now: datetime, run: MailRun
) -> None:
    """Send ``emails`` one after the other over the mailer's connection, then record them all in one
    transaction: an ``email_send`` row and an audit event each, and the assignment's mark of each
    one the server accepted.  A message is recorded as sent only once the server has accepted it; a
    crash before the commit loses the record of at most this batch's messages (their reviewers are
    invited again by the next run, the newer link replacing the older)."""
    sent: list[tuple[_Email, str, SendResult]] = []
    for message in emails:
        subject, text, html = mailing.templates.render(message.template, message.context)
        outgoing = build_message(sender=mailing.sender, to=message.to, subject=subject, text=text, html=html)
        result = mailing.send(outgoing)
        sent.append((message, subject, result))
        _record(run, message.kind, message.to, result)
    if not sent:
        return
    with engine.begin() as conn:
        conn.execute(
            sa.insert(SENDS),
            [
                {
                    "campaign_id": campaign_id,
                    "assignment_id": message.assignment_id,
                    "kind": message.kind,
                    "recipient": message.to,
                    "subject": subject[:400],
                    "status": "sent" if result.ok else "failed",
                    "attempts": result.attempts,
                    "error": (result.error or "")[:1000] or None,
                    "created_at": now,
                }
                for message, subject, result in sent
            ],
        )
        marks: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for message, _, result in sent:
            if result.ok and message.mark and message.assignment_id is not None:
                columns = tuple(sorted(message.mark))
                row = {f"_{c}": v for c, v in message.mark.items()}
                marks.setdefault(columns, []).append({"_id": message.assignment_id, **row})
        for columns, rows in marks.items():
            conn.execute(
                sa.update(ASSIGNMENTS)
                .where(ASSIGNMENTS.c.id == sa.bindparam("_id"))
                .values({c: sa.bindparam(f"_{c}") for c in columns}),
                rows,
            )
        audit.record_many(
            conn,
            [
                audit.Entry(
                    actor="accessctl",
                    action=f"email.{message.kind}",
                    target_type="campaign",
                    target_id=str(campaign_id),
                    outcome="success" if result.ok else "failure",
                    details={"to": message.to, "attempts": result.attempts, "error": result.error},
                    occurred_at=now,
                )
                for message, _, result in sent
            ],
        )


def _deliver_all(
    engine: Engine, mailing: Mailing, emails: list[_Email], *, campaign_id: int, now: datetime, run: MailRun
) -> None:
    for start in range(0, len(emails), MAIL_BATCH):
        _deliver(
            engine, mailing, emails[start : start + MAIL_BATCH], campaign_id=campaign_id, now=now, run=run
        )


def _review_emails(
    engine: Engine, mailing: Mailing, campaign: Any, assignments: list[Any], *, kind: str, now: datetime
) -> MailRun:
    """Invitations or reminders to ``assignments``, :data:`MAIL_BATCH` at a time: their items read and
    their link tokens issued and committed in one transaction, before any of their emails is sent."""
    run = MailRun()
    expires_at = utc(campaign.due_at) + _grace(campaign)
    for start in range(0, len(assignments), MAIL_BATCH):
        batch = assignments[start : start + MAIL_BATCH]
        with engine.begin() as conn:
            items = _reviewer_items(conn, campaign.id, [a.reviewer_email for a in batch])
            tokens = issue_tokens(conn, [a.id for a in batch], expires_at=expires_at)
        emails = []
        for assignment, token in zip(batch, tokens, strict=True):
            mine = items[assignment.reviewer_email]
            open_items = [i for i in mine if not i["decided"]]
            context = {
                "reviewer_name": assignment.reviewer_name or assignment.reviewer_email,
                "campaign": campaign.name,
                "items": open_items if kind == "reminder" else mine,
                "limit": ITEMS_IN_EMAIL,
                "item_count": len(mine),
                "open_count": len(open_items),
                "flagged_count": sum(1 for i in open_items if i["flagged"]),
                "due": mailing.when(campaign.due_at),
                "link": mailing.link(token),
            }
            mark = {"invited_at": now} if kind == "invitation" else {"last_reminded_at": now}
            emails.append(_Email(kind, assignment.reviewer_email, kind, context, assignment.id, mark))
        _deliver(engine, mailing, emails, campaign_id=campaign.id, now=now, run=run)
    return run


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
    due = [a for a in pending if counts[a.reviewer_email]]
    return run.add(_review_emails(engine, mailing, campaign, due, kind="invitation", now=now))


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
    due = [
        a
        for a in assignments
        # finished: no more reminders
        if open_counts[a.reviewer_email]
        and now - utc(a.last_reminded_at or a.invited_at) >= timedelta(days=every)
    ]
    return run.add(_review_emails(engine, mailing, campaign, due, kind="reminder", now=now))


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
    emails = []
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
        emails.append(_Email("escalation", to, "escalation", context, assignment.id, {"escalated_at": now}))
    _deliver_all(engine, mailing, emails, campaign_id=campaign.id, now=now, run=run)
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
    summary = _Email("summary", campaign.owner, "summary", context, None, None)
    _deliver(engine, mailing, [summary], campaign_id=campaign.id, now=now, run=run)
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
