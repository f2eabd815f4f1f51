"""Campaign use cases: start (snapshot the scope's grants with reviewers and recommendations), list,
show (progress per reviewer, emails sent and failed) and the close preview.  Each takes the caller's
connection and transaction; nothing commits part-way."""

from __future__ import annotations

import functools
import itertools
import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl import audit
from accessctl.reviews.errors import CampaignNotFound
from accessctl.reviews.recommend import (
    AccountPart,
    PeerCounts,
    Recommendation,
    account_part,
    combine,
    count_peers,
    is_flagged,
    new_since,
    rare,
)
from accessctl.reviews.reviewers import Directory, Reviewer, resolve_reviewer
from accessctl.reviews.scope import GrantRow, grant_row, iter_grant_fields, read_scope
from accessctl.settings import CampaignSettings
from accessctl.store.models import Campaign, EmailSend, ReviewerAssignment, ReviewItem
from accessctl.timestamps import utc

CAMPAIGNS: sa.Table = Campaign.__table__  # type: ignore[attr-defined]
ITEMS: sa.Table = ReviewItem.__table__  # type: ignore[attr-defined]
ASSIGNMENTS: sa.Table = ReviewerAssignment.__table__  # type: ignore[attr-defined]
SENDS: sa.Table = EmailSend.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class PlannedItem:
    row: GrantRow
    reviewer: Reviewer
    recommendations: list[Recommendation]
    flagged: bool


@dataclass
class ReviewerTally:
    """One reviewer's share of a campaign as it is planned."""

    reviewer: Reviewer
    items: int = 0
    flagged: int = 0


@dataclass
class StartResult:
    campaign_id: int | None  # None on a dry run
    name: str
    due_at: datetime
    #: the planned items, when kept (a dry run's, by default; a campaign of 1M items keeps none)
    items: list[PlannedItem]
    baseline_campaign_id: int | None
    skipped_certified: int = 0
    count: int = 0
    #: reviewer email -> their reviewer (with why, of their first item), items and flagged items
    tallies: dict[str, ReviewerTally] = field(default_factory=dict)

    @property
    def reviewers(self) -> Counter[str]:
        return Counter({email: t.items for email, t in self.tallies.items()})

    @property
    def flagged(self) -> int:
        return sum(t.flagged for t in self.tallies.values())


def last_certified(conn: Connection, name: str) -> sa.Row[Any] | None:
    """The newest closed campaign of this name: what ``delta_only`` and "granted since the last review"
    measure from."""
    return conn.execute(
        sa.select(CAMPAIGNS.c.id, CAMPAIGNS.c.started_at)
        .where(CAMPAIGNS.c.name == name, CAMPAIGNS.c.status == "closed")
        .order_by(CAMPAIGNS.c.closed_at.desc(), CAMPAIGNS.c.id.desc())
        .limit(1)
    ).one_or_none()


def _certified_fingerprints(conn: Connection, campaign_id: int) -> dict[int, list[Any]]:
    """grant id -> its fingerprint, for the grants a campaign's reviewers kept."""
    found = {}
    for r in conn.execute(
        sa.select(ITEMS.c.grant_id, ITEMS.c.snapshot).where(
            ITEMS.c.campaign_id == campaign_id, ITEMS.c.decision == "keep"
        )
    ):
        found[r.grant_id] = r.snapshot.get("fingerprint")
    return found


class _Planner:
    """A campaign's items planned in one pass over the grants in scope, what they share made once:
    an account's part of the snapshot (as JSON text), its reviewer and its part of the
    recommendations; an entitlement's part; each distinct list of recommendations (as JSON text).
    Each item is then a few lookups and one string, without an object of its own."""

    def __init__(
        self,
        conn: Connection,
        settings: CampaignSettings,
        *,
        now: datetime,
        reviewer: Reviewer | None,
        peers: PeerCounts | None,
        directory: Directory | None,
    ) -> None:
        self.settings, self.now, self.reviewer = settings, now, reviewer
        baseline = last_certified(conn, settings.name)
        self.baseline_id = baseline.id if baseline else None
        self.last_review_at = utc(baseline.started_at) if baseline else None
        self.new = new_since(self.last_review_at) if self.last_review_at else None
        self.certified = (
            _certified_fingerprints(conn, baseline.id) if settings.delta_only and baseline else None
        )
        self.directory = directory or Directory(conn)
        # peers are counted over every live grant, not only the scope's
        self.peers = peers or count_peers(conn)
        self.fallback = settings.fallback_reviewer or settings.owner
        self._hr_managed: set[int] | None = None
        # an account's items share their reviewer (a shared or orphan one's: per entitlement owner)
        self.chosen: dict[tuple[Any, ...], Reviewer] = {}
        self.account_parts: dict[AccountPart, int] = {}
        self.rare: dict[tuple[str, int], tuple[int, tuple[Recommendation, ...]]] = {}
        self.recommendations: dict[tuple[Any, ...], _Recommendations] = {}

    @property
    def hr_managed(self) -> set[int]:
        if self._hr_managed is None:
            by_employee_id = self.directory.by_employee_id
            self._hr_managed = {
                p.id
                for p in self.directory.people.values()
                if p.manager_employee_id and p.manager_employee_id in by_employee_id
            }
        return self._hr_managed

    def reviewer_of(self, row: GrantRow) -> Reviewer:
        if self.reviewer is not None:
            return self.reviewer
        if row.is_shared or row.is_service or row.person_id is None:
            key: tuple[Any, ...] = ("account", row.account_id, row.entitlement_owner)
        elif row.person_id in self.hr_managed:
            key = ("person", row.person_id)  # the HR manager: the same for every account
        else:
            key = ("account", row.account_id)
        found = self.chosen.get(key)
        if found is None:
            found = self.chosen[key] = resolve_reviewer(
                row, self.directory, fallback=self.fallback, owner=self.settings.owner
            )
        return found

    def account(self, row: GrantRow) -> _AccountPlan:
        part = account_part(row, settings=self.settings, now=self.now)
        part_id = self.account_parts.setdefault(part, len(self.account_parts))
        snapshot = _json(row.account_snapshot())[:-1]
        person_json = "null" if row.person_id is None else str(int(row.person_id))
        fingerprint = f"[{person_json},{_json(row.account_status)},"
        shared = row.is_shared or row.is_service or row.person_id is None
        department = row.person_department if row.person_id is not None else None
        return _AccountPlan(
            snapshot,
            fingerprint,
            part,
            part_id,
            None if shared else self.reviewer_of(row),
            row.person_id,
            row.account_status,
            department or None,
        )

    def rare_of(self, department: str, entitlement_id: int) -> tuple[int, tuple[Recommendation, ...]]:
        key = (department, entitlement_id)
        found = self.rare.get(key)
        if found is None:
            found_rare = rare(department, entitlement_id, settings=self.settings, peers=self.peers)
            found = self.rare[key] = (len(self.rare) + 1, found_rare)
        return found

    def recommendations_of(
        self, account: _AccountPlan, privileged: bool, new: bool, rare_part: tuple[int, Any]
    ) -> _Recommendations:
        key = (account.part_id, privileged, new, rare_part[0])
        found = self.recommendations.get(key)
        if found is None:
            listed = combine(
                account.part, privileged=privileged, new=self.new if new else None, rare=rare_part[1]
            )
            found = self.recommendations[key] = _Recommendations(
                listed, _json([r.as_dict() for r in listed]), is_flagged(listed)
            )
        return found


@dataclass(frozen=True, slots=True)
class _AccountPlan:
    #: the account's part of the snapshot: JSON text, without its closing brace
    snapshot: str
    #: the fingerprint's opening: JSON text
    fingerprint: str
    part: AccountPart
    part_id: int
    #: None for a shared or orphan account (its reviewer depends on the entitlement's owner)
    reviewer: Reviewer | None
    person_id: int | None
    status: str
    department: str | None


@dataclass(frozen=True, slots=True)
class _Recommendations:
    listed: list[Recommendation]
    json: str
    flagged: bool


_NO_RARE: tuple[int, tuple[Recommendation, ...]] = (0, ())
#: grant timestamps :func:`_plan` keeps formatted (then it starts again)
_STAMPS = 10_000
#: JSON text as items keep it (compact: a million snapshots; flat values, no cycles to look for)
_json = json.JSONEncoder(separators=(",", ":"), check_circular=False).encode
_BOOL = {True: "true", False: "false"}


def _plan(
    conn: Connection,
    settings: CampaignSettings,
    result: StartResult,
    planner: _Planner,
    *,
    person_ids: Collection[int] | None,
    keep: bool,
    campaign_id: int | None,
) -> Iterator[list[tuple[Any, ...]]]:
    """Plan every item into ``result`` (tallies; the items themselves with ``keep``), yielding the
    review item rows of ``campaign_id``, when given, in batches of :data:`ITEM_BATCH`: in the
    order of :data:`_ITEM_COLUMNS`, the snapshot and recommendations as JSON text."""
    accounts, entitlements = read_scope(conn, settings.scope, person_ids=person_ids)
    account_plans: dict[int, _AccountPlan] = {}
    entitlement_plans: dict[int, tuple[str, str, bool]] = {}
    tallies = result.tallies
    certified, last_review_at = planner.certified, planner.last_review_at
    # the planner's caches, looked up here first (a million items)
    rare_parts, recommendations = planner.rare, planner.recommendations

    # a grant's timestamp -> (granted since the last review?, as JSON text): few distinct values
    @functools.lru_cache(maxsize=_STAMPS)
    def stamp_of(granted_at: datetime | None) -> tuple[bool, str]:
        if granted_at is None:
            return False, "null"
        return last_review_at is not None and granted_at > last_review_at, f'"{granted_at.isoformat()}"'

    batch: list[tuple[Any, ...]] = []
    for grant in iter_grant_fields(conn, settings.scope, accounts, entitlements):
        grant_id, inherited, via, granted_at, account_id, entitlement_id = grant
        row = None
        account = account_plans.get(account_id)
        if account is None:
            row = grant_row(grant, accounts[account_id], entitlements[entitlement_id])
            account = account_plans[account_id] = planner.account(row)
        entitlement = entitlement_plans.get(entitlement_id)
        if entitlement is None:
            row = row or grant_row(grant, accounts[account_id], entitlements[entitlement_id])
            part = _json(row.entitlement_snapshot())[1:-1]
            entitlement = entitlement_plans[entitlement_id] = (part, _BOOL[row.privileged], row.privileged)
        snapshot_part, privileged_json, privileged = entitlement
        # GrantRow.fingerprint(), and below its grant_snapshot() and snapshot as JSON text, made here
        # from the parts an account's and an entitlement's items share
        if certified is not None and certified.get(grant_id) == [
            account.person_id,
            account.status,
            privileged,
            inherited,
            via,
        ]:
            result.skipped_certified += 1
            continue
        who = account.reviewer
        if who is None:
            row = row or grant_row(grant, accounts[account_id], entitlements[entitlement_id])
            who = planner.reviewer_of(row)
        new, granted_json = stamp_of(granted_at)
        rare_part = _NO_RARE
        if account.department:
            rare_part = rare_parts.get((account.department, entitlement_id)) or planner.rare_of(
                account.department, entitlement_id
            )
        recommended = recommendations.get((account.part_id, privileged, new, rare_part[0]))
        if recommended is None:
            recommended = planner.recommendations_of(account, privileged, new, rare_part)
        tally = tallies.get(who.email)
        if tally is None:
            tally = tallies[who.email] = ReviewerTally(who)
        tally.items += 1
        tally.flagged += recommended.flagged
        result.count += 1
        if keep:
            row = row or grant_row(grant, accounts[account_id], entitlements[entitlement_id])
            result.items.append(PlannedItem(row, who, list(recommended.listed), recommended.flagged))
        if campaign_id is None:
            continue
        via_json = "null" if via is None else _json(via)
        inherited_json = _BOOL[inherited]
        snapshot = (
            f'{account.snapshot},{snapshot_part},"inherited":{inherited_json},"via":{via_json},'
            f'"granted_at":{granted_json},"fingerprint":{account.fingerprint}{privileged_json},'
            f"{inherited_json},{via_json}]}}"
        )
        batch.append(
            (
                campaign_id,
                grant_id,
                account_id,
                entitlement_id,
                account.person_id,
                snapshot,
                who.email,
                who.person_id,
                who.reason[:200],
                recommended.json,
                recommended.flagged,
                privileged,
                "open",
            )
        )
        if len(batch) >= ITEM_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def plan_campaign(
    conn: Connection,
    settings: CampaignSettings,
    *,
    now: datetime,
    person_ids: Collection[int] | None = None,
    reviewer: Reviewer | None = None,
    keep_items: bool = True,
    peers: PeerCounts | None = None,
    directory: Directory | None = None,
) -> StartResult:
    """What starting the campaign would snapshot: items, reviewers, recommendations (writes nothing).
    ``person_ids``: only these people's accounts; ``reviewer``: who reviews every item (a mover's new
    manager) instead of each item's own; ``keep_items`` False: only the tallies; ``peers`` and
    ``directory``: as already read (several campaigns started at once)."""
    planner = _Planner(conn, settings, now=now, reviewer=reviewer, peers=peers, directory=directory)
    result = _result(settings, now, planner)
    for _ in _plan(conn, settings, result, planner, person_ids=person_ids, keep=keep_items, campaign_id=None):
        pass
    return result


def _result(settings: CampaignSettings, now: datetime, planner: _Planner) -> StartResult:
    due = now + timedelta(days=settings.duration_days)
    return StartResult(None, settings.name, due, [], planner.baseline_id)


def start_campaign(
    conn: Connection,
    settings: CampaignSettings,
    *,
    actor: str,
    now: datetime,
    dry_run: bool = False,
    person_ids: Collection[int] | None = None,
    reviewer: Reviewer | None = None,
    keep_items: bool | None = None,
    peers: PeerCounts | None = None,
    directory: Directory | None = None,
    details: dict[str, Any] | None = None,
) -> StartResult:
    """Snapshot the scope's grants into a new open campaign (in the caller's transaction), with one
    reviewer assignment per reviewer, and audit it (``details`` added to the event).  ``dry_run``:
    only the plan.  The items are written as they are planned, in batches, and kept in the result
    only with ``keep_items`` (default: on a dry run).  See :func:`plan_campaign` for the rest."""
    keep = dry_run if keep_items is None else keep_items
    if dry_run:
        return plan_campaign(
            conn,
            settings,
            now=now,
            person_ids=person_ids,
            reviewer=reviewer,
            keep_items=keep,
            peers=peers,
            directory=directory,
        )
    planner = _Planner(conn, settings, now=now, reviewer=reviewer, peers=peers, directory=directory)
    result = _result(settings, now, planner)
    campaign_id = conn.execute(
        sa.insert(CAMPAIGNS)
        .values(
            name=settings.name,
            status="open",
            config=settings.model_dump(mode="json"),
            owner=settings.owner,
            created_by=actor,
            started_at=now,
            due_at=result.due_at,
            baseline_campaign_id=result.baseline_campaign_id,
        )
        .returning(CAMPAIGNS.c.id)
    ).scalar_one()
    write = _ItemWriter(conn)
    for batch in _plan(
        conn, settings, result, planner, person_ids=person_ids, keep=keep, campaign_id=campaign_id
    ):
        write(batch)
    if result.tallies:
        conn.execute(
            sa.insert(ASSIGNMENTS),
            [
                {
                    "campaign_id": campaign_id,
                    "reviewer_email": t.reviewer.email,
                    "reviewer_person_id": t.reviewer.person_id,
                    "reviewer_name": t.reviewer.name[:400],
                }
                for t in result.tallies.values()
            ],
        )
    audit.record(
        conn,
        actor=actor,
        action="campaign.start",
        target_type="campaign",
        target_id=str(campaign_id),
        details={
            "name": settings.name,
            "items": result.count,
            "reviewers": len(result.tallies),
            "flagged": result.flagged,
            "due_at": result.due_at.isoformat(),
            "delta_only": settings.delta_only,
            "skipped_certified": result.skipped_certified,
            **(details or {}),
        },
        occurred_at=now,
    )
    result.campaign_id = campaign_id
    return result


#: items written per statement
ITEM_BATCH = 5000

#: the review item columns :func:`_plan` gives, in order
_ITEM_COLUMNS = (
    "campaign_id",
    "grant_id",
    "account_id",
    "entitlement_id",
    "person_id",
    "snapshot",
    "reviewer_email",
    "reviewer_person_id",
    "reviewer_reason",
    "recommendations",
    "flagged",
    "privileged",
    "status",
)


class _ItemWriter:
    """Writes the review item rows :func:`_plan` makes (their JSON already text: on PostgreSQL cast
    to ``json``, on SQLite stored as is, as SQLAlchemy stores it) with the driver's executemany; on
    SQLite as many rows to a statement as its parameter limit allows, up to :data:`ROWS_PER_INSERT`
    (a fifth less time than one each at 50; a tenth less again at 2,500).

    (Writing from a thread of its own while the next batch is planned was tried and is slower: the
    planner's grant cursor is on the same connection, so each waits for the other's SQLite steps.)"""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        style = conn.dialect.paramstyle
        mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(style)
        if mark is None:
            raise RuntimeError(f"no review item INSERT for the {style} parameter style")
        json_mark = mark if conn.dialect.name == "sqlite" else f"CAST({mark} AS JSON)"
        marks = ", ".join(json_mark if c in ("snapshot", "recommendations") else mark for c in _ITEM_COLUMNS)
        quote = conn.dialect.identifier_preparer.quote
        self.head = f"INSERT INTO {quote(ITEMS.name)} ({', '.join(quote(c) for c in _ITEM_COLUMNS)}) VALUES "
        self.row = f"({marks})"
        self.per_insert = _rows_per_insert(conn)
        self.many = self.head + ", ".join([self.row] * self.per_insert)

    def __call__(self, rows: list[tuple[Any, ...]]) -> None:
        n = self.per_insert
        whole = len(rows) - len(rows) % n
        if n > 1 and whole:
            chain = itertools.chain.from_iterable
            self.conn.exec_driver_sql(
                self.many, [tuple(chain(rows[start : start + n])) for start in range(0, whole, n)]
            )
            rows = rows[whole:]
        if rows:
            self.conn.exec_driver_sql(self.head + self.row, rows)


#: review item rows in one SQLite INSERT, at most (13 parameters each)
ROWS_PER_INSERT = 2500


def _rows_per_insert(conn: Connection) -> int:
    """Rows to one INSERT: on SQLite as many as its parameter limit allows (999 before 3.32, 32,766
    since), up to :data:`ROWS_PER_INSERT`; elsewhere one (the driver's executemany)."""
    if conn.dialect.name != "sqlite":
        return 1
    driver = conn.connection.dbapi_connection
    limit = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if driver is not None else 999
    return max(1, min(ROWS_PER_INSERT, limit // len(_ITEM_COLUMNS)))


# --- reading ---------------------------------------------------------------------------------------


def get_campaign(conn: Connection, campaign_id: int) -> sa.Row[Any]:
    row = conn.execute(sa.select(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign_id)).one_or_none()
    if row is None:
        raise CampaignNotFound(f"no campaign {campaign_id} (see `accessctl campaign list`)")
    return row


def list_campaigns(conn: Connection) -> list[dict[str, Any]]:
    counts = {
        r.campaign_id: r
        for r in conn.execute(
            sa.select(
                ITEMS.c.campaign_id,
                sa.func.count().label("items"),
                sa.func.count(ITEMS.c.decision).label("decided"),
                sa.func.count(sa.distinct(ITEMS.c.reviewer_email)).label("reviewers"),
            ).group_by(ITEMS.c.campaign_id)
        )
    }
    out = []
    for c in conn.execute(sa.select(CAMPAIGNS).order_by(CAMPAIGNS.c.id.desc())):
        n = counts.get(c.id)
        out.append(
            {
                "id": c.id,
                "name": c.name,
                "status": c.status,
                "started_at": utc(c.started_at),
                "due_at": utc(c.due_at),
                "items": n.items if n else 0,
                "decided": n.decided if n else 0,
                "reviewers": n.reviewers if n else 0,
            }
        )
    return out


@dataclass
class ReviewerProgress:
    email: str
    name: str
    items: int
    decided: int
    flagged: int
    invited_at: datetime | None
    last_reminded_at: datetime | None
    escalated_at: datetime | None

    @property
    def open(self) -> int:
        return self.items - self.decided


@dataclass
class CampaignDetail:
    id: int
    name: str
    status: str
    owner: str
    started_at: datetime
    due_at: datetime
    closed_at: datetime | None
    config: dict[str, Any]
    reviewers: list[ReviewerProgress]
    sends: list[dict[str, Any]] = field(default_factory=list)

    @property
    def items(self) -> int:
        return sum(r.items for r in self.reviewers)

    @property
    def decided(self) -> int:
        return sum(r.decided for r in self.reviewers)

    @property
    def failed_sends(self) -> list[dict[str, Any]]:
        return [s for s in self.sends if s["status"] == "failed"]


def _maybe(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def reviewer_progress(conn: Connection, campaign_id: int) -> list[ReviewerProgress]:
    stats: dict[str, Counter[str]] = defaultdict(Counter)
    for r in conn.execute(
        sa.select(ITEMS.c.reviewer_email, ITEMS.c.decision, ITEMS.c.flagged).where(
            ITEMS.c.campaign_id == campaign_id
        )
    ):
        stats[r.reviewer_email]["items"] += 1
        stats[r.reviewer_email]["decided"] += r.decision is not None
        stats[r.reviewer_email]["flagged"] += bool(r.flagged)
    out = []
    for a in conn.execute(
        sa.select(ASSIGNMENTS)
        .where(ASSIGNMENTS.c.campaign_id == campaign_id)
        .order_by(ASSIGNMENTS.c.reviewer_email)
    ):
        s = stats.get(a.reviewer_email, Counter())
        if not s["items"]:
            continue  # every item reassigned away
        out.append(
            ReviewerProgress(
                a.reviewer_email,
                a.reviewer_name,
                s["items"],
                s["decided"],
                s["flagged"],
                _maybe(a.invited_at),
                _maybe(a.last_reminded_at),
                _maybe(a.escalated_at),
            )
        )
    return out


def campaign_detail(conn: Connection, campaign_id: int) -> CampaignDetail:
    c = get_campaign(conn, campaign_id)
    sends = [
        {
            "id": s.id,
            "kind": s.kind,
            "recipient": s.recipient,
            "status": s.status,
            "attempts": s.attempts,
            "error": s.error,
            "at": utc(s.created_at),
        }
        for s in conn.execute(sa.select(SENDS).where(SENDS.c.campaign_id == campaign_id).order_by(SENDS.c.id))
    ]
    return CampaignDetail(
        c.id,
        c.name,
        c.status,
        c.owner,
        utc(c.started_at),
        utc(c.due_at),
        _maybe(c.closed_at),
        c.config,
        reviewer_progress(conn, campaign_id),
        sends,
    )


# --- the close preview -----------------------------------------------------------------------------


#: the reviewer reason of an item a close escalated (the next close keeps it if still undecided)
ESCALATED = "escalated at close"


@dataclass(frozen=True, slots=True)
class CloseAction:
    item_id: int
    action: str  # revoke | keep | escalate
    why: str  # "decided by x" | "undecided: policy revoke"
    provider: str
    login: str
    entitlement: str
    reviewer: str
    escalate_to: str | None = None


@dataclass
class ClosePlan:
    campaign_id: int
    policy: str
    actions: list[CloseAction]

    def of(self, action: str) -> list[CloseAction]:
        return [a for a in self.actions if a.action == action]


def plan_close(conn: Connection, campaign_id: int) -> ClosePlan:
    """Exactly what closing would do: every decided item as decided, every undecided one by the
    campaign's ``undecided`` policy (escalate: to the reviewer's manager, else the owner; an item
    still undecided after its escalation is kept)."""
    c = get_campaign(conn, campaign_id)
    policy = c.config.get("undecided", "keep")
    directory = Directory(conn) if policy == "escalate" else None
    actions = []
    for r in conn.execute(sa.select(ITEMS).where(ITEMS.c.campaign_id == campaign_id).order_by(ITEMS.c.id)):
        snap = r.snapshot
        common = {
            "item_id": r.id,
            "provider": snap.get("provider", ""),
            "login": snap.get("login", ""),
            "entitlement": snap.get("entitlement", ""),
            "reviewer": r.reviewer_email,
        }
        if r.decision is not None:
            actions.append(CloseAction(action=r.decision, why=f"decided by {r.decided_by}", **common))
        elif policy == "escalate" and r.reviewer_reason.startswith(ESCALATED):
            actions.append(CloseAction(action="keep", why="undecided after escalation: kept", **common))
        elif policy == "escalate":
            assert directory is not None
            manager = directory.manager_of_reviewer(r.reviewer_email)
            to = manager.email if manager else c.owner
            actions.append(
                CloseAction(action="escalate", why="undecided: policy escalate", escalate_to=to, **common)
            )
        else:
            actions.append(CloseAction(action=policy, why=f"undecided: policy {policy}", **common))
    return ClosePlan(campaign_id, policy, actions)


@dataclass(frozen=True, slots=True)
class ItemView:
    """One item as its reviewer's page shows it."""

    id: int
    person: str | None
    person_email: str | None
    provider: str
    login: str
    entitlement: str
    kind: str
    privileged: bool
    flagged: bool
    recommendations: list[dict[str, Any]]
    reviewer_reason: str
    decision: str | None
    justification: str | None
    decided_at: datetime | None
    reassigned_from: str | None

    @property
    def needs_justification_to_keep(self) -> bool:
        return self.flagged and self.privileged


def items_for_reviewer(conn: Connection, campaign_id: int, reviewer_email: str) -> list[ItemView]:
    """The reviewer's items in a campaign, grouped by person (flagged first within each)."""
    rows = conn.execute(
        sa.select(ITEMS)
        .where(ITEMS.c.campaign_id == campaign_id, ITEMS.c.reviewer_email == reviewer_email.lower())
        .order_by(ITEMS.c.id)
    ).all()
    views = [
        ItemView(
            id=r.id,
            person=r.snapshot.get("person"),
            person_email=r.snapshot.get("person_email"),
            provider=r.snapshot.get("provider", ""),
            login=r.snapshot.get("login", ""),
            entitlement=r.snapshot.get("entitlement", ""),
            kind=r.snapshot.get("kind", ""),
            privileged=r.privileged,
            flagged=r.flagged,
            recommendations=r.recommendations,
            reviewer_reason=r.reviewer_reason,
            decision=r.decision,
            justification=r.justification,
            decided_at=_maybe(r.decided_at),
            reassigned_from=r.reassigned_from,
        )
        for r in rows
    ]
    return sorted(views, key=lambda v: (v.person or "~", v.login, not v.flagged, v.id))
