"""Movers: a person whose manager (or department) changed gets a one-person campaign of their
privileged access, reviewed by the new manager.

A mover is a ``person_move`` row, from either of two places:

- HR's ``person.moved`` (recorded by :mod:`accessctl.hr`, ``source`` hr);
- a manager change seen in the store after a roster import or a sync (``source`` sync):
  :func:`detect_manager_changes` compares each person's manager now (the HR roster's, else a
  provider's manager attribute, as the campaigns resolve it) with the one ``manager_seen`` last
  recorded.  The sync knows nothing of reviews: the review tick (``accessctl serve``) looks.

:func:`start_mover_campaigns` starts one campaign per person with open moves and marks the moves
reviewed (``reviewed_at``, ``campaign_id``), so `accessctl hr movers` no longer lists them and no
second campaign starts; :func:`run_movers` does both and emails each new manager their link.
Each takes the caller's transaction; nothing commits part-way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from accessctl import audit
from accessctl.reviews.campaigns import StartResult, plan_campaign, start_campaign
from accessctl.reviews.errors import ReviewError
from accessctl.reviews.recommend import count_peers
from accessctl.reviews.reviewers import Directory, Reviewer, _Person
from accessctl.settings import CampaignScope, CampaignSettings, ReviewsSettings, Settings
from accessctl.store.models import ManagerSeen, PersonMove, SyncCheckpoint, SyncRun
from accessctl.store.upsert import bulk_upsert
from accessctl.timestamps import utc

MOVES: sa.Table = PersonMove.__table__  # type: ignore[attr-defined]
SEEN: sa.Table = ManagerSeen.__table__  # type: ignore[attr-defined]
CHECKPOINTS: sa.Table = SyncCheckpoint.__table__  # type: ignore[attr-defined]
SYNC_RUNS: sa.Table = SyncRun.__table__  # type: ignore[attr-defined]
#: (provider, stream) of the checkpoint saying what the store looked like at the last look
WATERMARK = ("*", "reviews:managers")
ACTOR = "reviews"


@dataclass(frozen=True, slots=True)
class ManagerChange:
    """A person whose manager is not the one last seen (emails; None: no manager known)."""

    person_id: int
    employee_id: str
    email: str
    old_manager: str | None
    new_manager: str | None


# --- seeing manager changes --------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return None if value is None else utc(value).isoformat()


def _watermark(conn: Connection) -> dict[str, Any]:
    """What changes when a roster import, an HR event or a sync may have changed someone's manager."""
    from accessctl.reviews.scope import PEOPLE

    people = sa.select(sa.func.max(PEOPLE.c.updated_at), sa.func.count()).select_from(PEOPLE)
    updated, count = conn.execute(people).one()
    runs = conn.execute(sa.select(sa.func.max(SYNC_RUNS.c.id), sa.func.max(SYNC_RUNS.c.finished_at))).one()
    roster = conn.execute(
        sa.select(CHECKPOINTS.c.cursor).where(CHECKPOINTS.c.provider == "*", CHECKPOINTS.c.stream == "roster")
    ).scalar()
    return {
        "people_updated": _iso(updated),
        "people": count,
        "sync_run": [runs[0], _iso(runs[1])],
        "roster": (roster or {}).get("sha256"),
    }


def _saved_watermark(conn: Connection) -> dict[str, Any] | None:
    row = conn.execute(
        sa.select(CHECKPOINTS.c.cursor).where(
            CHECKPOINTS.c.provider == WATERMARK[0], CHECKPOINTS.c.stream == WATERMARK[1]
        )
    ).first()
    return dict(row[0]) if row else None


def current_manager(directory: Directory, person: _Person) -> str | None:
    """The email of ``person``'s manager: HR's, else the provider manager attribute of their accounts
    (the first by email when they disagree, so the answer does not depend on row order)."""
    if person.manager_employee_id and person.manager_employee_id in directory.by_employee_id:
        return directory.by_employee_id[person.manager_employee_id].email
    found = set()
    for provider, manager_id in directory.account_managers.get(person.id, ()):
        reviewer = directory.manager(person, (provider, manager_id))
        if reviewer is not None:
            found.add(reviewer.email)
    return min(found) if found else None


def detect_manager_changes(
    conn: Connection, *, now: datetime, dry_run: bool = False, directory: Directory | None = None
) -> list[ManagerChange]:
    """Record a ``source`` sync move for each active person whose manager changed since last seen
    (one with an HR move still open is left to it).  A person seen for the first time is only
    remembered (a new hire is not a mover).  Nothing is read when nothing changed in the store since
    the last look.  ``dry_run``: the changes, nothing written."""
    mark = _watermark(conn)
    if _saved_watermark(conn) == mark:
        return []
    directory = directory or Directory(conn)
    seen: dict[int, str | None] = {r.person_id: r.manager_email for r in conn.execute(sa.select(SEEN))}
    open_moves = set(
        conn.execute(sa.select(MOVES.c.person_id).where(MOVES.c.reviewed_at.is_(None))).scalars()
    )
    first_seen, changes = [], []
    for person in directory.people.values():
        if person.status == "terminated":
            continue
        manager = current_manager(directory, person)
        if person.id not in seen:
            first_seen.append({"person_id": person.id, "manager_email": manager, "seen_at": now})
        elif seen[person.id] != manager and person.id not in open_moves:
            changes.append(
                ManagerChange(person.id, person.employee_id, person.email, seen[person.id], manager)
            )
    if dry_run:
        return changes
    for start in range(0, len(first_seen), 1000):
        conn.execute(sa.insert(SEEN), first_seen[start : start + 1000])
    for change in changes:
        old, new = (
            directory.by_email.get(change.old_manager or ""),
            directory.by_email.get(change.new_manager or ""),
        )
        person = directory.people[change.person_id]
        conn.execute(
            sa.insert(MOVES).values(
                person_id=change.person_id,
                hr_event_id=None,
                source="sync",
                old_manager_employee_id=old.employee_id if old else None,
                new_manager_employee_id=new.employee_id if new else None,
                old_department=person.department,
                new_department=person.department,
                moved_at=now,
                recorded_at=now,
            )
        )
        _remember(conn, change.person_id, change.new_manager, now)
        audit.record(
            conn,
            actor=ACTOR,
            action="person.moved",
            target_type="person",
            target_id=change.employee_id,
            details={"source": "sync", "old_manager": change.old_manager, "new_manager": change.new_manager},
            occurred_at=now,
        )
    bulk_upsert(
        conn,
        CHECKPOINTS,
        [{"provider": WATERMARK[0], "stream": WATERMARK[1], "cursor": mark, "updated_at": now}],
        key=["provider", "stream"],
    )
    return changes


def _remember(conn: Connection, person_id: int, manager: str | None, now: datetime) -> None:
    bulk_upsert(
        conn, SEEN, [{"person_id": person_id, "manager_email": manager, "seen_at": now}], key=["person_id"]
    )


# --- the one-person campaigns ------------------------------------------------------------------------


@dataclass
class MoverCampaign:
    """What was (or, on a dry run, would be) done for one mover."""

    person_id: int
    employee_id: str
    email: str
    sources: list[str]
    move_ids: list[int]
    reviewer: Reviewer | None = None
    result: StartResult | None = None
    #: why no campaign (nothing privileged, left)
    skipped: str | None = None

    @property
    def campaign_id(self) -> int | None:
        return self.result.campaign_id if self.result else None

    @property
    def items(self) -> int:
        return self.result.count if self.result else 0


def mover_owner(reviews: ReviewsSettings) -> str:
    owner = reviews.mover_campaign.owner or (reviews.campaigns[0].owner if reviews.campaigns else "")
    if not owner:
        raise ReviewError(
            "mover campaigns need an owner: set [reviews.mover_campaign] owner "
            "(or configure a [[reviews.campaigns]] entry)"
        )
    return owner


def mover_settings(reviews: ReviewsSettings, employee_id: str) -> CampaignSettings:
    """The campaign settings of one mover's review (kept on the campaign as it starts)."""
    m = reviews.mover_campaign
    return CampaignSettings(
        name=f"mover {employee_id}"[:200],
        schedule="manual",
        scope=CampaignScope(privileged_only=True),
        duration_days=m.duration_days,
        reminder_every_days=m.reminder_every_days,
        escalate_after_days=m.escalate_after_days,
        undecided=m.undecided,
        owner=mover_owner(reviews),
    )


def new_manager(directory: Directory, person: _Person, hr_manager: str | None, *, owner: str) -> Reviewer:
    """Who reviews a mover: the manager HR's move names, else their manager now (an active one, never
    themselves: passed over for theirs), else the owner."""
    named = directory.by_employee_id.get(hr_manager or "")
    if named is not None and named.id != person.id and named.status != "terminated":
        return directory.as_reviewer(named, "new manager (HR move)")
    for manager in directory.chain(person):
        if manager.person_id == person.id or manager.email == person.email:
            continue
        if directory._active(manager):
            return Reviewer(manager.email, manager.person_id, manager.name, f"new {manager.reason}")
    known = directory.by_email.get(owner)
    return Reviewer(
        owner, known.id if known else None, known.name if known else owner, "owner: no manager known"
    )


def _open_moves(conn: Connection) -> dict[int, list[sa.Row[Any]]]:
    grouped: dict[int, list[sa.Row[Any]]] = defaultdict(list)
    for row in conn.execute(
        sa.select(MOVES).where(MOVES.c.reviewed_at.is_(None)).order_by(MOVES.c.moved_at, MOVES.c.id)
    ):
        grouped[row.person_id].append(row)
    return grouped


def start_mover_campaigns(
    conn: Connection,
    reviews: ReviewsSettings,
    *,
    actor: str,
    now: datetime,
    dry_run: bool = False,
    pending: Sequence[ManagerChange] = (),
    directory: Directory | None = None,
) -> list[MoverCampaign]:
    """One campaign per person with open moves: their privileged grants, every item for the new
    manager; the moves are marked reviewed with it (a mover with nothing privileged, or who has left,
    is marked reviewed without one).  ``pending``: changes a dry run saw but did not record."""
    grouped = _open_moves(conn)
    for change in pending:
        grouped.setdefault(change.person_id, [])
    if not grouped:
        return []
    directory = directory or Directory(conn)
    owner = mover_owner(reviews)
    peers = count_peers(conn)  # once for every mover of this run
    done = []
    for person_id, moves in grouped.items():
        person = directory.person(person_id)
        if person is None:
            continue
        mover = MoverCampaign(
            person_id,
            person.employee_id,
            person.email,
            sorted({m.source for m in moves}) or ["sync"],
            [m.id for m in moves],
        )
        done.append(mover)
        if person.status == "terminated":
            mover.skipped = "left: the leaver ends their access"
        else:
            settings = mover_settings(reviews, person.employee_id)
            hr_manager = next((m.new_manager_employee_id for m in reversed(moves) if m.source == "hr"), None)
            mover.reviewer = new_manager(directory, person, hr_manager, owner=owner)
            plan = plan_campaign(
                conn,
                settings,
                now=now,
                person_ids=[person_id],
                reviewer=mover.reviewer,
                peers=peers,
                directory=directory,
            )
            if not plan.count:
                mover.skipped = "no privileged access"
            elif dry_run:
                mover.result = plan
            else:
                mover.result = start_campaign(
                    conn,
                    settings,
                    actor=actor,
                    now=now,
                    person_ids=[person_id],
                    reviewer=mover.reviewer,
                    peers=peers,
                    directory=directory,
                    details={"mover": person.employee_id, "moves": mover.move_ids, "sources": mover.sources},
                )
        if dry_run:
            continue
        conn.execute(
            sa.update(MOVES)
            .where(MOVES.c.id.in_(mover.move_ids))
            .values(reviewed_at=now, campaign_id=mover.campaign_id)
        )
        _remember(conn, person_id, current_manager(directory, person), now)
        if mover.skipped:
            audit.record(
                conn,
                actor=actor,
                action="review.mover.skipped",
                target_type="person",
                target_id=person.employee_id,
                details={"moves": mover.move_ids, "why": mover.skipped},
                occurred_at=now,
            )
    return done


@dataclass
class MoversRun:
    detected: list[ManagerChange] = field(default_factory=list)
    campaigns: list[MoverCampaign] = field(default_factory=list)
    mail: Any = None  # a mailing.MailRun when emails were sent

    @property
    def started(self) -> list[int]:
        return [c.campaign_id for c in self.campaigns if c.campaign_id is not None]


def run_movers(
    settings: Settings,
    engine: Engine,
    *,
    now: datetime,
    actor: str,
    mailing: Any = None,
    dry_run: bool = False,
) -> MoversRun:
    """Record the manager changes seen since the last look, start a campaign for every open mover
    (one transaction), then email each new manager their link through ``mailing`` (the campaign's
    invitation: it is retried like any other by the next tick or `campaign remind`)."""
    from accessctl.reviews.mailing import MailRun, send_invitations

    with engine.begin() as conn:
        changed = _saved_watermark(conn) != _watermark(conn)
        waiting = conn.execute(sa.select(MOVES.c.id).where(MOVES.c.reviewed_at.is_(None)).limit(1)).first()
        if not changed and waiting is None:
            return MoversRun()  # nothing new: the directory is not even read
        directory = Directory(conn)
        detected = detect_manager_changes(conn, now=now, dry_run=dry_run, directory=directory)
        campaigns = start_mover_campaigns(
            conn,
            settings.reviews,
            actor=actor,
            now=now,
            dry_run=dry_run,
            pending=detected if dry_run else (),
            directory=directory,
        )
    run = MoversRun(detected, campaigns)
    if mailing is not None and not dry_run:
        run.mail = MailRun()
        for campaign_id in run.started:
            run.mail.add(send_invitations(engine, campaign_id, mailing, now=now))
    return run
