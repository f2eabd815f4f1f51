"""Closing a campaign: the undecided policy applied, every revoke a deprovisioning-engine job.

``close_campaign`` is the one use case the CLI (`accessctl campaign close`), the scheduler and the
admin page call; its dry run returns exactly what a real close then does (the same plans).

- keep: the item is kept; revoke: one ``revoke`` job per item (remove that grant, verify by reading
  back, refresh the store), its id recorded on the item; outcomes are written on the items by
  :func:`accessctl.reviews.remediate.record_outcomes` once the jobs have run.
- escalate: undecided items go to their reviewer's manager (else the owner), the due date moves
  :data:`ESCALATION_DAYS` on and the campaign stays open; decided revokes are queued at once.  At
  the next close an item still undecided after its escalation is kept.
- the engine's safeguards hold (protected accounts, the last super-admin: see remediate), and when
  the close would queue more revocations than ``lifecycle.guard.max_campaign_revokes`` they all wait
  in quarantine for an admin (`accessctl jobs release`).
- idempotent: an item that has a job keeps it; a closed campaign is not closed again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from accessctl import audit
from accessctl.jobs import enqueue
from accessctl.lifecycle.connections import Connectors
from accessctl.reviews.campaigns import (
    ASSIGNMENTS,
    CAMPAIGNS,
    ESCALATED,
    ITEMS,
    CloseAction,
    ClosePlan,
    get_campaign,
    plan_close,
)
from accessctl.reviews.decide import reassign
from accessctl.reviews.errors import ReviewError
from accessctl.reviews.mailing import Mailing, MailRun, send_invitations, send_summary
from accessctl.reviews.remediate import ItemRevoke, plan_item_revoke
from accessctl.settings import Settings
from accessctl.timestamps import utc

#: how much longer an escalated campaign runs
ESCALATION_DAYS = 7


class AlreadyClosed(ReviewError):
    """The campaign is closed: nothing is queued again."""


class ClosedMeanwhile(ReviewError):
    """Another close of the same campaign committed first (nothing of this one was written)."""


@dataclass
class CloseResult:
    campaign_id: int
    name: str
    plan: ClosePlan
    #: item id -> what its revoke does (only items not yet remediated)
    revokes: dict[int, ItemRevoke]
    #: item id -> its job from an earlier close (not queued again)
    earlier_jobs: dict[int, int]
    quarantine_reason: str | None
    dry_run: bool
    #: False when escalated items keep the campaign open
    closes: bool
    due_at: datetime
    #: item id -> the job queued now
    jobs: dict[int, int] = field(default_factory=dict)
    mail: MailRun | None = None

    @property
    def runnable(self) -> list[int]:
        return [i for i, r in self.revokes.items() if r.plan is not None and r.plan.runnable]


def _guard_reason(settings: Settings, count: int) -> str | None:
    limit = settings.lifecycle.guard.max_campaign_revokes
    if count > limit:
        return f"{count} revocations, more than lifecycle.guard.max_campaign_revokes = {limit}"
    return None


async def close_campaign(
    settings: Settings,
    engine: Engine,
    campaign_id: int,
    *,
    actor: str,
    connectors: Connectors,
    now: datetime,
    dry_run: bool = False,
    mailing: Mailing | None = None,
) -> CloseResult:
    """Close (or, with escalations, extend) the campaign; the dry run writes and sends nothing.

    Reads the providers live (each revoke's plan), then writes the jobs, the items and the campaign
    in one transaction.  With ``mailing``: the owner's summary at close, the invitations of the
    managers an escalation reached."""
    with engine.connect() as conn:
        campaign = get_campaign(conn, campaign_id)
        if campaign.status != "open":
            raise AlreadyClosed(f"campaign {campaign_id} is already {campaign.status}: nothing queued again")
        plan = plan_close(conn, campaign_id)
        jobs = dict(
            conn.execute(
                sa.select(ITEMS.c.id, ITEMS.c.job_id).where(
                    ITEMS.c.campaign_id == campaign_id, ITEMS.c.job_id.is_not(None)
                )
            ).all()
        )
    revokes = {}
    for action in plan.of("revoke"):
        if action.item_id not in jobs:
            revokes[action.item_id] = await plan_item_revoke(
                settings, engine, connectors, action.item_id, now=now
            )
    escalating = bool(plan.of("escalate"))
    due = (
        max(utc(campaign.due_at), now) + timedelta(days=ESCALATION_DAYS)
        if escalating
        else utc(campaign.due_at)
    )
    result = CloseResult(
        campaign_id,
        campaign.name,
        plan,
        revokes,
        jobs,
        None,
        dry_run,
        closes=not escalating,
        due_at=due,
    )
    result.quarantine_reason = _guard_reason(settings, len(result.runnable))
    if dry_run:
        return result
    _write(settings, engine, result, actor=actor, now=now)
    if mailing is not None:
        if result.closes:
            result.mail = send_summary(engine, campaign_id, mailing, now=now)
        else:
            result.mail = send_invitations(engine, campaign_id, mailing, now=now)
    return result


def _write(settings: Settings, engine: Engine, result: CloseResult, *, actor: str, now: datetime) -> None:
    cid = result.campaign_id
    with Session(engine) as session:
        conn = session.connection()
        values: dict[str, object] = {"due_at": result.due_at}
        if result.closes:
            values |= {"status": "closed", "closed_at": now}
        taken = conn.execute(
            sa.update(CAMPAIGNS).where(CAMPAIGNS.c.id == cid, CAMPAIGNS.c.status == "open").values(**values)
        ).rowcount
        queued_meanwhile = conn.execute(
            sa.select(sa.func.count())
            .select_from(ITEMS)
            .where(ITEMS.c.id.in_(list(result.revokes)), ITEMS.c.job_id.is_not(None))
        ).scalar_one()
        if taken != 1 or queued_meanwhile:
            session.rollback()
            raise ClosedMeanwhile(f"campaign {cid} was closed meanwhile by another close: nothing queued")
        for action in result.plan.actions:
            _apply(session, result, action, actor=actor, now=now)
        if not result.closes:
            conn.execute(
                sa.update(ASSIGNMENTS)
                .where(ASSIGNMENTS.c.campaign_id == cid, ASSIGNMENTS.c.token_revoked_at.is_(None))
                .values(token_expires_at=result.due_at)
            )
        audit.record(
            conn,
            actor=actor,
            action="campaign.close" if result.closes else "campaign.escalate",
            target_type="campaign",
            target_id=str(cid),
            outcome="quarantined" if result.quarantine_reason and result.jobs else "ok",
            details={
                "policy": result.plan.policy,
                "keep": len(result.plan.of("keep")),
                "revoke": len(result.plan.of("revoke")),
                "escalate": len(result.plan.of("escalate")),
                "jobs": sorted(result.jobs.values()),
                "quarantine_reason": result.quarantine_reason,
                "due_at": result.due_at.isoformat(),
            },
            occurred_at=now,
        )
        session.commit()


def _apply(session: Session, result: CloseResult, action: CloseAction, *, actor: str, now: datetime) -> None:
    conn = session.connection()
    item = ITEMS.c.id == action.item_id
    undecided = action.why.startswith("undecided")
    decided = {"decision": action.action, "decided_by": f"policy:{result.plan.policy}", "decided_at": now}
    decided["decided_via"] = "policy"
    if action.action == "keep":
        values = {"status": "kept"} | (decided if undecided else {})
        conn.execute(sa.update(ITEMS).where(item).values(**values))
    elif action.action == "escalate":
        assert action.escalate_to is not None
        try:
            reassign(
                conn,
                item_id=action.item_id,
                reviewer_email=action.reviewer,
                to_email=action.escalate_to,
                now=now,
                actor=actor,
            )
        except ReviewError:  # the manager is the subject, or already the reviewer: kept
            conn.execute(
                sa.update(ITEMS).where(item).values(status="kept", **(decided | {"decision": "keep"}))
            )
            return
        conn.execute(
            sa.update(ITEMS).where(item).values(reviewer_reason=f"{ESCALATED} from {action.reviewer}"[:200])
        )
    elif action.item_id in result.revokes:
        revoke = result.revokes[action.item_id]
        values = {"status": revoke.planned_status} | (decided if undecided else {})
        if revoke.plan is not None:
            quarantined = result.quarantine_reason is not None and bool(revoke.plan.runnable)
            job_id = enqueue(
                session,
                kind="revoke",
                person_id=revoke.plan.person.id,
                reason=f"review campaign {result.campaign_id} {result.name!r}: {action.why}",
                requested_by=actor,
                steps=revoke.plan.steps,
                quarantined=quarantined,
                now=now,
            )
            result.jobs[action.item_id] = job_id
            values["job_id"] = job_id
            if quarantined:
                values["status"] = "quarantined"
        conn.execute(sa.update(ITEMS).where(item).values(**values))
        audit.record(
            conn,
            actor=actor,
            action="review.remediate",
            target_type="review_item",
            target_id=str(action.item_id),
            outcome="ok" if revoke.plan is not None else "failed",
            provider=action.provider,
            details={
                "campaign_id": result.campaign_id,
                "login": action.login,
                "entitlement": action.entitlement,
                "why": action.why,
                "does": revoke.does,
                "job_id": values.get("job_id"),
            },
            occurred_at=now,
        )
