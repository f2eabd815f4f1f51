"""Inherited grants derived from the store, for an incremental pass.

When a group's membership changes, every entitlement held through it changes too: a parent group,
an app or a role assigned to it, and theirs in turn.  Listing those again from the provider costs
what they hold (an all-staff group: the whole org, once for it and once for every app assigned to
it).  Instead the pass lists only the changed groups and derives their ancestors' inherited grants
from what the store then holds, children before parents, using what each entitlement's last complete
listing said it is held through (``held_through``) and what the provider's ``via`` means
(``Connector.inherited_via``).  What cannot be derived (not recorded yet, a nesting loop, a group
the store does not know) is listed again, as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.sync import writer
from accessctl.sync.writer import HeldEntitlement
from accessctl.sync.writer.common import chunks

InheritedVia = Literal["holders", "members"] | None


@dataclass
class RefreshPlan:
    """External ids to list again from the provider (before any derivation), and the entitlements
    to derive, in order (everything one is held through comes before it)."""

    relist: set[str] = field(default_factory=set)
    derive: list[HeldEntitlement] = field(default_factory=list)


def relist_first(conn: Connection, provider: str, changed: set[str], inherited_via: InheritedVia) -> set[str]:
    """The changed groups, and what holds one of them by some live grant's ``via`` while no complete
    listing has recorded what it is held through (a store filled before ``held_through`` existed):
    those are listed again, as the only way to refresh them.  A provider that names no via group
    (``inherited_via`` None) leaves nothing to find that way."""
    if not changed or inherited_via is None:
        return set(changed)
    unrecorded = set(
        conn.execute(
            sa.select(writer.ENTITLEMENTS.c.external_id).where(
                writer.ENTITLEMENTS.c.provider == provider,
                writer.ENTITLEMENTS.c.ended_at.is_(None),
                writer.ENTITLEMENTS.c.held_through.is_(None),
            )
        ).scalars()
    )
    return set(changed) | (via_dependents(conn, provider, changed) & unrecorded if unrecorded else set())


def plan_derivation(
    conn: Connection, provider: str, changed: set[str], relisted: set[str], inherited_via: InheritedVia
) -> RefreshPlan:
    """After the changed groups were listed again: which of the entitlements held through them to
    derive (in order) and which to list again too (what the store cannot say, nesting loops)."""
    plan = RefreshPlan()
    if not changed or inherited_via is None:
        return plan
    live = writer.live_entitlements(conn, provider)
    groups = {e.external_id: e for e in live if e.kind == "group"}
    candidates = {e.id: e for e in _ancestors(live, changed) if e.external_id not in relisted}
    for entitlement in list(candidates.values()):
        if _sources(entitlement, groups, inherited_via) is None:
            del candidates[entitlement.id]
            plan.relist.add(entitlement.external_id)
    plan.derive, looping = _children_first(candidates, groups)
    plan.relist |= {e.external_id for e in looping}
    return plan


def _ancestors(live: Iterable[HeldEntitlement], changed: set[str]) -> list[HeldEntitlement]:
    """Every entitlement held through a changed group, directly or through other groups."""
    parents: dict[str, list[HeldEntitlement]] = {}
    for entitlement in live:
        for child in entitlement.held_through or ():
            parents.setdefault(child, []).append(entitlement)
    found: dict[int, HeldEntitlement] = {}
    frontier, seen = sorted(changed), set(changed)
    while frontier:
        for parent in parents.get(frontier.pop(), ()):
            found.setdefault(parent.id, parent)
            if parent.kind == "group" and parent.external_id not in seen:
                seen.add(parent.external_id)
                frontier.append(parent.external_id)
    return sorted(found.values(), key=lambda e: e.id)


def _sources(
    entitlement: HeldEntitlement, groups: dict[str, HeldEntitlement], inherited_via: InheritedVia
) -> dict[str, int] | None:
    """The groups whose holders (``holders``) or direct members (``members``) the entitlement's
    inherited grants come from, by external id; None when the store cannot say."""
    if entitlement.held_through is None:
        return None
    if inherited_via == "holders":
        children = [c for c in entitlement.held_through if c != entitlement.external_id]
        if any(c not in groups for c in children):
            return None
        return {c: groups[c].id for c in children}
    # members: every group nested below, at any depth (each is expanded once, loops included)
    closure: dict[str, int] = {}
    frontier = list(entitlement.held_through)
    while frontier:
        child = frontier.pop()
        if child == entitlement.external_id or child in closure:
            continue
        group = groups.get(child)
        if group is None or group.held_through is None:
            return None
        closure[child] = group.id
        frontier.extend(group.held_through)
    return closure


def _children_first(
    candidates: dict[int, HeldEntitlement], groups: dict[str, HeldEntitlement]
) -> tuple[list[HeldEntitlement], list[HeldEntitlement]]:
    """The candidates ordered so that each comes after the candidate groups it is held through;
    and those in a nesting loop, which no order serves."""
    waiting: dict[int, set[int]] = {}
    for entitlement in candidates.values():
        inside = {groups[c].id for c in entitlement.held_through or () if c in groups}
        waiting[entitlement.id] = (inside & candidates.keys()) - {entitlement.id}
    ordered: list[HeldEntitlement] = []
    while waiting:
        ready = sorted(i for i, needs in waiting.items() if not needs)
        if not ready:
            break
        for i in ready:
            ordered.append(candidates[i])
            del waiting[i]
        for needs in waiting.values():
            needs.difference_update(ready)
    return ordered, [candidates[i] for i in sorted(waiting)]


def derive_inherited(
    conn: Connection,
    entitlement: HeldEntitlement,
    groups: dict[str, HeldEntitlement],
    inherited_via: InheritedVia,
    *,
    seen_at: datetime,
    ended_at: datetime,
    reason: str,
) -> list[int] | None:
    """Make the entitlement's live inherited grants what its sources now hold: add the missing ones,
    end those no source holds any more (their ids are returned), and re-point a ``via`` that no
    longer leads to the holder.  A direct grant stays direct.  None, changing nothing, when the
    store cannot say what it is held through (a group it holds changed under it since the plan)."""
    sources = _sources(entitlement, groups, inherited_via)
    if sources is None:
        return None
    # the set work is SQL's: only what differs comes back (an all-staff group holds the whole org)
    grants, entitlements = writer.GRANTS, writer.ENTITLEMENTS
    source = grants.alias("source")
    source_group = entitlements.alias("source_group")
    held = grants.alias("held")
    source_ids = sorted(sources.values())
    passing = [source.c.entitlement_id.in_(source_ids), source.c.ended_at.is_(None)]
    if inherited_via == "members":
        passing.append(source.c.inherited.is_(False))

    def vias_of(account_ids: list[int]) -> dict[int, str]:
        """Each account's first source (by external id), among those passing the entitlement on."""
        found: dict[int, str] = {}
        for chunk in chunks(account_ids):
            query = (
                sa.select(source.c.account_id, sa.func.min(source_group.c.external_id))
                .select_from(source.join(source_group, source_group.c.id == source.c.entitlement_id))
                .where(*passing, source.c.account_id.in_(chunk))
                .group_by(source.c.account_id)
            )
            found.update({account_id: via for account_id, via in conn.execute(query)})
        return found

    missing = (
        sa.select(source.c.account_id)
        .distinct()
        .where(
            *passing,
            ~sa.exists().where(
                held.c.entitlement_id == entitlement.id,
                held.c.account_id == source.c.account_id,
                held.c.ended_at.is_(None),
            ),
        )
    )
    additions = vias_of(list(conn.execute(missing).scalars()))
    rows = [
        writer.grant_row(account_id, entitlement.id, inherited=True, via=via, seen_at=seen_at)
        for account_id, via in sorted(additions.items())
    ]
    writer.write_grants(conn, writer.GrantBatch(rows), seen_at)
    # inherited grants whose via no longer passes it on to them: through another source, or gone
    stale = conn.execute(
        sa.select(grants.c.id, grants.c.account_id).where(
            grants.c.entitlement_id == entitlement.id,
            grants.c.inherited.is_(True),
            grants.c.ended_at.is_(None),
            ~sa.exists()
            .select_from(source.join(source_group, source_group.c.id == source.c.entitlement_id))
            .where(
                *passing,
                source.c.account_id == grants.c.account_id,
                source_group.c.external_id == grants.c.via,
            ),
        )
    ).all()
    rerouted = vias_of([row.account_id for row in stale])
    if rerouted:
        conn.execute(
            grants.update().where(grants.c.id == sa.bindparam("b_id")).values(via=sa.bindparam("b_via")),
            [
                {"b_id": row.id, "b_via": rerouted[row.account_id]}
                for row in stale
                if row.account_id in rerouted
            ],
        )
    gone = [row.id for row in stale if row.account_id not in rerouted]
    return writer.end_grants(conn, gone, ended_at=ended_at, reason=reason)


def via_dependents(conn: Connection, provider: str, external_ids: set[str]) -> set[str]:
    """The entitlements holding one of these groups by some live grant's ``via``, transitively."""
    result, frontier = set(), sorted(external_ids)
    while frontier:
        found: set[str] = set()
        for chunk in chunks(frontier):
            query = (
                sa.select(writer.ENTITLEMENTS.c.external_id)
                .distinct()
                .select_from(
                    writer.GRANTS.join(
                        writer.ENTITLEMENTS, writer.ENTITLEMENTS.c.id == writer.GRANTS.c.entitlement_id
                    )
                )
                .where(
                    writer.ENTITLEMENTS.c.provider == provider,
                    writer.GRANTS.c.ended_at.is_(None),
                    writer.GRANTS.c.via.in_(chunk),
                )
            )
            found.update(conn.execute(query).scalars())
        frontier = sorted(found - result - external_ids)
        result |= found
    return result
