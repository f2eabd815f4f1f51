"""Entitlements: one page of groups, apps and roles upserted, each marked privileged or not."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.store.upsert import bulk_upsert
from accessctl.sync.patterns import PatternSet
from accessctl.sync.writer.common import ENTITLEMENTS, chunks
from accessctl.sync.writer.counts import Counts, differing
from connectors.base import EntitlementKind, EntitlementRecord

_ENTITLEMENT_FIELDS = ("name", "description", "privileged", "owner")


def is_privileged(record: EntitlementRecord, groups: PatternSet, apps: PatternSet) -> bool:
    if record.privileged or record.kind is EntitlementKind.ROLE:
        return True
    patterns = groups if record.kind is EntitlementKind.GROUP else apps
    return patterns.matches(record.name)


def write_entitlements(
    conn: Connection,
    provider: str,
    records: Sequence[EntitlementRecord],
    seen_at: datetime,
    *,
    privileged_groups: PatternSet,
    privileged_apps: PatternSet,
    changes_only: bool = False,
) -> Counts:
    """Upsert a page of entitlements, all marked seen at ``seen_at`` (a full pass sweeps what it did
    not see) or, ``changes_only``, just those new, changed or ended before (an incremental pass)."""
    if not records:
        return Counts()
    rows = {
        (str(r.kind), r.external_id): {
            "provider": provider,
            "kind": str(r.kind),
            "external_id": r.external_id,
            "name": r.name,
            "description": r.description,
            "privileged": is_privileged(r, privileged_groups, privileged_apps),
            "owner": r.owner,
            "first_seen_at": seen_at,
            "last_seen_at": seen_at,
            "ended_at": None,
            "ended_reason": None,
        }
        for r in records
    }
    existing: dict[tuple[str, str], Any] = {}
    keys = list(rows)
    for chunk in chunks(keys):
        query = sa.select(
            ENTITLEMENTS.c.kind,
            ENTITLEMENTS.c.external_id,
            ENTITLEMENTS.c.ended_at,
            *(ENTITLEMENTS.c[f] for f in _ENTITLEMENT_FIELDS),
        ).where(
            ENTITLEMENTS.c.provider == provider,
            ENTITLEMENTS.c.external_id.in_([k[1] for k in chunk]),
        )
        for found in conn.execute(query).mappings():
            existing[(found["kind"], found["external_id"])] = found
    added, changed = differing(rows, existing, _ENTITLEMENT_FIELDS)
    counts = Counts(added=len(added), changed=len(changed))
    if changes_only:
        rows = {key: rows[key] for key in [*added, *changed]}
        if not rows:
            return counts
    bulk_upsert(
        conn,
        ENTITLEMENTS,
        list(rows.values()),
        key=["provider", "kind", "external_id"],
        update=[*_ENTITLEMENT_FIELDS, "last_seen_at", "ended_at", "ended_reason"],
    )
    return counts


def entitlement_id_map(conn: Connection, provider: str) -> dict[tuple[str, str], int]:
    query = sa.select(ENTITLEMENTS.c.kind, ENTITLEMENTS.c.external_id, ENTITLEMENTS.c.id).where(
        ENTITLEMENTS.c.provider == provider
    )
    return {(kind, external_id): ent_id for kind, external_id, ent_id in conn.execute(query)}
