"""Recommendations on a review item, each with the reason a reviewer sees.

``privileged`` alone only informs; every other one flags the item (and keeping a flagged privileged
item needs a justification).  Unknown MFA is not "no MFA": only NOT_ENROLLED is flagged.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.reviews.scope import ACCOUNTS, ENTITLEMENTS, GRANTS, PEOPLE, GrantRow
from accessctl.settings import CampaignSettings
from accessctl.store.models import AccountStatus, MfaState

#: codes that do not flag an item on their own
INFORMATIONAL = frozenset({"privileged"})


@dataclass(frozen=True, slots=True)
class Recommendation:
    code: str
    reason: str
    #: what the reviewer is advised to do: revoke, or review (look closely)
    advice: str = "review"

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "reason": self.reason, "advice": self.advice}


@dataclass
class PeerCounts:
    """How many people of each department hold each entitlement, and each department's size."""

    department_size: Counter[str]
    holders: Counter[tuple[str, int]]

    @classmethod
    def of(cls, rows: list[GrantRow], people_departments: dict[int, str | None]) -> PeerCounts:
        size: Counter[str] = Counter(d for d in people_departments.values() if d)
        holders: Counter[tuple[str, int]] = Counter()
        seen: set[tuple[int, int]] = set()
        for row in rows:
            department = people_departments.get(row.person_id) if row.person_id is not None else None
            if department and (row.person_id, row.entitlement_id) not in seen:
                seen.add((row.person_id, row.entitlement_id))  # type: ignore[arg-type]
                holders[(department, row.entitlement_id)] += 1
        return cls(size, holders)


def count_peers(conn: Connection) -> PeerCounts:
    """:meth:`PeerCounts.of` every live grant, counted by the store (a scope narrower than everything
    need not read every grant to know how many peers hold what)."""
    g, a, e, p = GRANTS, ACCOUNTS, ENTITLEMENTS, PEOPLE
    live = p.c.status != "terminated", p.c.department.is_not(None), p.c.department != ""
    size: Counter[str] = Counter(
        dict(
            conn.execute(
                sa.select(p.c.department, sa.func.count()).where(*live).group_by(p.c.department)
            ).all()
        )
    )
    holders: Counter[tuple[str, int]] = Counter()
    query = (
        sa.select(p.c.department, g.c.entitlement_id, sa.func.count(sa.distinct(p.c.id)))
        .select_from(
            g.join(a, a.c.id == g.c.account_id)
            .join(e, e.c.id == g.c.entitlement_id)
            .join(p, p.c.id == a.c.person_id)
        )
        .where(g.c.ended_at.is_(None), a.c.ended_at.is_(None), e.c.ended_at.is_(None), *live)
        .where(a.c.status != AccountStatus.DEPROVISIONED)
        .group_by(p.c.department, g.c.entitlement_id)
    )
    for department, entitlement_id, n in conn.execute(query):
        holders[(department, entitlement_id)] = n
    return PeerCounts(size, holders)


#: the recommendations that do not depend on the grant's account
NO_MFA = Recommendation("no_mfa", "no MFA enrolled on an account holding privileged access")
PRIVILEGED = Recommendation("privileged", "privileged access")


@dataclass(frozen=True, slots=True)
class AccountPart:
    """The recommendations an account's grants share (in :func:`recommend`'s order, around the
    entitlement's): who the person is, whether privileged access would lack MFA, inactivity."""

    subject: tuple[Recommendation, ...]
    no_mfa: bool
    inactive: tuple[Recommendation, ...]


def account_part(row: GrantRow, *, settings: CampaignSettings, now: datetime) -> AccountPart:
    subject: list[Recommendation] = []
    if row.person_status == "terminated":
        since = f" (since {row.termination_date.isoformat()})" if row.termination_date else ""
        subject.append(
            Recommendation("terminated", f"{row.person_name} is terminated in HR{since}", "revoke")
        )
    if row.is_shared or row.is_service:
        subject.append(Recommendation("shared", "shared account: no one person is accountable for it"))
    elif row.person_id is None:
        subject.append(Recommendation("orphan", "orphan account: no person in HR is linked to it", "revoke"))
    inactive: tuple[Recommendation, ...] = ()
    cutoff = now - timedelta(days=settings.inactive_days)
    if row.last_login_at is not None and row.last_login_at < cutoff:
        days = (now - row.last_login_at).days
        inactive = (Recommendation("inactive", f"no sign-in for {days} days", "revoke"),)
    elif row.last_login_at is None and row.account_created_at is not None and row.account_created_at < cutoff:
        why = f"never signed in (account older than {settings.inactive_days} days)"
        inactive = (Recommendation("inactive", why, "revoke"),)
    return AccountPart(tuple(subject), row.mfa_state == MfaState.NOT_ENROLLED, inactive)


def new_since(last_review_at: datetime) -> Recommendation:
    return Recommendation("new", f"granted since the last review ({last_review_at.date().isoformat()})")


def rare(
    department: str | None, entitlement_id: int, *, settings: CampaignSettings, peers: PeerCounts
) -> tuple[Recommendation, ...]:
    """The "held by few peers" recommendation of a person's grant (``department``: the person's)."""
    if not department:
        return ()
    size = peers.department_size[department]
    holders = peers.holders[(department, entitlement_id)]
    if size >= settings.peer_min_department and holders * 100 <= settings.peer_share_percent * size:
        return (Recommendation("rare", f"held by {holders} of {size} people in {department}"),)
    return ()


def combine(
    account: AccountPart,
    *,
    privileged: bool,
    new: Recommendation | None,
    rare: tuple[Recommendation, ...],
) -> list[Recommendation]:
    """One grant's recommendations from its parts, in the order a reviewer reads them."""
    found = list(account.subject)
    if privileged and account.no_mfa:
        found.append(NO_MFA)
    found += account.inactive
    if privileged:
        found.append(PRIVILEGED)
    if new is not None:
        found.append(new)
    found += rare
    return found


def recommend(
    row: GrantRow,
    *,
    settings: CampaignSettings,
    now: datetime,
    peers: PeerCounts,
    last_review_at: datetime | None,
) -> list[Recommendation]:
    new = None
    if last_review_at is not None and row.granted_at is not None and row.granted_at > last_review_at:
        new = new_since(last_review_at)
    department = row.person_department if row.person_id is not None else None
    return combine(
        account_part(row, settings=settings, now=now),
        privileged=row.privileged,
        new=new,
        rare=rare(department, row.entitlement_id, settings=settings, peers=peers),
    )


def is_flagged(recommendations: list[Recommendation]) -> bool:
    return any(r.code not in INFORMATIONAL for r in recommendations)
