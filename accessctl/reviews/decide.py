"""A reviewer's decisions on their items (keep or revoke), and reassignment to another reviewer.

Both check that the item is the reviewer's, that the campaign is open and that nobody decides their
own access; keeping a flagged privileged item needs a justification.  Each is audited (who, when,
and, from the web page, the IP and user agent) in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl import audit
from accessctl.reviews.campaigns import ASSIGNMENTS, CAMPAIGNS, ITEMS
from accessctl.reviews.errors import (
    CampaignClosed,
    ItemNotFound,
    JustificationRequired,
    NotYourItem,
    ReviewError,
    SelfReview,
)
from accessctl.reviews.scope import PEOPLE

DECISIONS = ("keep", "revoke")


def _item(conn: Connection, item_id: int) -> sa.Row[Any]:
    row = conn.execute(
        sa.select(ITEMS, CAMPAIGNS.c.status.label("campaign_status"))
        .join(CAMPAIGNS, CAMPAIGNS.c.id == ITEMS.c.campaign_id)
        .where(ITEMS.c.id == item_id)
    ).one_or_none()
    if row is None:
        raise ItemNotFound(f"no review item {item_id}")
    return row


def _subject_email(conn: Connection, person_id: int | None) -> str | None:
    if person_id is None:
        return None
    email = conn.execute(sa.select(PEOPLE.c.email).where(PEOPLE.c.id == person_id)).scalar_one_or_none()
    return email.lower() if email else None


def _checked(conn: Connection, item_id: int, reviewer_email: str, campaign_id: int | None) -> sa.Row[Any]:
    item = _item(conn, item_id)
    if item.reviewer_email != reviewer_email.lower() or (
        campaign_id is not None and item.campaign_id != campaign_id
    ):
        raise NotYourItem(f"review item {item_id} is not {reviewer_email}'s to decide")
    if item.campaign_status != "open":
        raise CampaignClosed(f"campaign {item.campaign_id} is closed")
    if _subject_email(conn, item.person_id) == reviewer_email.lower():
        raise SelfReview("nobody reviews their own access")
    return item


def decide(
    conn: Connection,
    *,
    item_id: int,
    reviewer_email: str,
    decision: str,
    justification: str | None = None,
    now: datetime,
    campaign_id: int | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> None:
    """Record ``reviewer_email``'s keep or revoke on the item (a later decision replaces an earlier one
    while the campaign is open).  ``campaign_id``: the campaign the reviewer's link is for."""
    if decision not in DECISIONS:
        raise ReviewError(f"decision must be keep or revoke, not {decision!r}")
    item = _checked(conn, item_id, reviewer_email, campaign_id)
    text = (justification or "").strip() or None
    if decision == "keep" and item.flagged and item.privileged and text is None:
        reasons = "; ".join(r["reason"] for r in item.recommendations if r["code"] != "privileged")
        raise JustificationRequired(f"keeping flagged privileged access needs a justification ({reasons})")
    conn.execute(
        sa.update(ITEMS)
        .where(ITEMS.c.id == item_id)
        .values(
            decision=decision,
            justification=text,
            decided_by=reviewer_email.lower(),
            decided_at=now,
            decided_via="reviewer",
            status="decided",
        )
    )
    audit.record(
        conn,
        actor=reviewer_email.lower(),
        action="review.decide",
        target_type="review_item",
        target_id=str(item_id),
        provider=item.snapshot.get("provider"),
        details={
            "campaign_id": item.campaign_id,
            "decision": decision,
            "justification": text,
            "previous": item.decision,
            "login": item.snapshot.get("login"),
            "entitlement": item.snapshot.get("entitlement"),
            "ip": ip,
            "user_agent": user_agent,
        },
        occurred_at=now,
    )


def reassign(
    conn: Connection,
    *,
    item_id: int,
    reviewer_email: str,
    to_email: str,
    now: datetime,
    actor: str | None = None,
    campaign_id: int | None = None,
) -> None:
    """Hand an open item to another reviewer (recorded on the item and audited).  ``actor``: an admin
    acting for the reviewer (default: the reviewer)."""
    to = to_email.strip().lower()
    if "@" not in to:
        raise ReviewError(f"{to_email!r} is not an email address")
    item = _checked(conn, item_id, reviewer_email, campaign_id)
    if to == reviewer_email.lower():
        raise ReviewError(f"review item {item_id} is already {to}'s")
    if _subject_email(conn, item.person_id) == to:
        raise SelfReview(f"{to} cannot review their own access")
    person = conn.execute(
        sa.select(PEOPLE.c.id, PEOPLE.c.first_name, PEOPLE.c.last_name).where(
            sa.func.lower(PEOPLE.c.email) == to
        )
    ).first()
    conn.execute(
        sa.update(ITEMS)
        .where(ITEMS.c.id == item_id)
        .values(
            reviewer_email=to,
            reviewer_person_id=person.id if person else None,
            reviewer_reason=f"reassigned by {reviewer_email.lower()}",
            reassigned_from=reviewer_email.lower(),
            reassigned_at=now,
            decision=None,
            justification=None,
            decided_by=None,
            decided_at=None,
            decided_via=None,
            status="open",
        )
    )
    exists = conn.execute(
        sa.select(ASSIGNMENTS.c.id).where(
            ASSIGNMENTS.c.campaign_id == item.campaign_id, ASSIGNMENTS.c.reviewer_email == to
        )
    ).scalar_one_or_none()
    if exists is None:
        name = " ".join(p for p in (person.first_name, person.last_name) if p) if person else to
        conn.execute(
            sa.insert(ASSIGNMENTS).values(
                campaign_id=item.campaign_id,
                reviewer_email=to,
                reviewer_person_id=person.id if person else None,
                reviewer_name=name or to,
            )
        )
    audit.record(
        conn,
        actor=actor or reviewer_email.lower(),
        action="review.reassign",
        target_type="review_item",
        target_id=str(item_id),
        details={"campaign_id": item.campaign_id, "from": reviewer_email.lower(), "to": to},
        occurred_at=now,
    )


def keep_unflagged(
    conn: Connection,
    *,
    campaign_id: int,
    reviewer_email: str,
    now: datetime,
    ip: str | None = None,
    user_agent: str | None = None,
) -> int:
    """Keep every open, unflagged item of the reviewer ("keep all unflagged"); returns how many."""
    ids = conn.execute(
        sa.select(ITEMS.c.id).where(
            ITEMS.c.campaign_id == campaign_id,
            ITEMS.c.reviewer_email == reviewer_email.lower(),
            ITEMS.c.decision.is_(None),
            ITEMS.c.flagged.is_(False),
        )
    ).scalars()
    count = 0
    for item_id in list(ids):
        decide(
            conn,
            item_id=item_id,
            reviewer_email=reviewer_email,
            decision="keep",
            now=now,
            campaign_id=campaign_id,
            ip=ip,
            user_agent=user_agent,
        )
        count += 1
    return count
