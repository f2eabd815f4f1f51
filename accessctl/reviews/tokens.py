"""Reviewer links: a random token scoped to one reviewer of one campaign, stored only as its SHA-256,
expiring at the campaign's end and revocable.  Each email carries a freshly issued token; issuing one
replaces the reviewer's previous link."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl import audit
from accessctl.reviews.campaigns import ASSIGNMENTS, CAMPAIGNS
from accessctl.reviews.errors import BadToken
from accessctl.timestamps import utc


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(conn: Connection, assignment_id: int, *, expires_at: datetime) -> str:
    """A new link token for the reviewer (the previous one stops working); only its hash is stored."""
    return issue_tokens(conn, [assignment_id], expires_at=expires_at)[0]


def issue_tokens(conn: Connection, assignment_ids: list[int], *, expires_at: datetime) -> list[str]:
    """:func:`issue_token` for each of several reviewers, in one statement."""
    tokens = [secrets.token_urlsafe(32) for _ in assignment_ids]
    if tokens:
        conn.execute(
            sa.update(ASSIGNMENTS)
            .where(ASSIGNMENTS.c.id == sa.bindparam("_id"))
            .values(token_hash=sa.bindparam("_hash"), token_expires_at=expires_at, token_revoked_at=None),
            [{"_id": i, "_hash": token_hash(t)} for i, t in zip(assignment_ids, tokens, strict=True)],
        )
    return tokens


def resolve_token(conn: Connection, token: str, *, now: datetime) -> sa.Row[Any]:
    """The reviewer assignment (with ``campaign_status``) a link's token is for; :class:`BadToken` when
    it is unknown, revoked, expired, or its campaign is closed."""
    row = conn.execute(
        sa.select(ASSIGNMENTS, CAMPAIGNS.c.status.label("campaign_status"))
        .join(CAMPAIGNS, CAMPAIGNS.c.id == ASSIGNMENTS.c.campaign_id)
        .where(ASSIGNMENTS.c.token_hash == token_hash(token))
    ).one_or_none()
    if row is None:
        raise BadToken("this review link is not valid")
    if row.token_revoked_at is not None:
        raise BadToken("this review link was revoked")
    if row.token_expires_at is None or utc(row.token_expires_at) <= now:
        raise BadToken("this review link has expired")
    if row.campaign_status != "open":
        raise BadToken("this campaign is closed")
    return row


def revoke_token(conn: Connection, assignment_id: int, *, actor: str, now: datetime) -> None:
    conn.execute(sa.update(ASSIGNMENTS).where(ASSIGNMENTS.c.id == assignment_id).values(token_revoked_at=now))
    audit.record(
        conn,
        actor=actor,
        action="review.token.revoke",
        target_type="reviewer_assignment",
        target_id=str(assignment_id),
        occurred_at=now,
    )
