"""What `accessctl hr pending | unmatched | movers | sources | events` list (and the API may later)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.hr.decide import Status
from accessctl.hr.store import EVENTS, MOVES, PEOPLE, SCHEDULES, SCIM_SOURCE
from accessctl.jobs.tables import JOBS
from accessctl.settings import HrSettings
from accessctl.timestamps import utc


def _rows(conn: Connection, query: sa.Select) -> list[dict[str, Any]]:
    rows = []
    for row in conn.execute(query).mappings():
        rows.append({k: utc(v) if hasattr(v, "tzinfo") and hasattr(v, "hour") else v for k, v in row.items()})
    return rows


def pending_terminations(conn: Connection) -> list[dict[str, Any]]:
    """Scheduled terminations, soonest first, and restores waiting for an admin."""
    scheduled = _rows(
        conn,
        sa.select(
            SCHEDULES.c.fire_at,
            SCHEDULES.c.effective_local.label("effective"),
            PEOPLE.c.employee_id,
            PEOPLE.c.email,
            SCHEDULES.c.hr_event_id.label("event"),
            EVENTS.c.source,
        )
        .join(PEOPLE, PEOPLE.c.id == SCHEDULES.c.person_id)
        .join(EVENTS, EVENTS.c.id == SCHEDULES.c.hr_event_id)
        .where(SCHEDULES.c.state == "scheduled")
        .order_by(SCHEDULES.c.fire_at, SCHEDULES.c.id),
    )
    for row in scheduled:
        row["what"] = "leaver"
    queued = _rows(
        conn,
        sa.select(
            EVENTS.c.updated_at.label("fire_at"),
            EVENTS.c.note.label("effective"),
            PEOPLE.c.employee_id,
            PEOPLE.c.email,
            EVENTS.c.id.label("event"),
            EVENTS.c.source,
        )
        .join(PEOPLE, PEOPLE.c.id == EVENTS.c.person_id)
        .where(EVENTS.c.needs_admin, EVENTS.c.job_id.is_(None))
        .order_by(EVENTS.c.id),
    )
    for row in queued:
        row["what"] = "restore (admin)"
    return scheduled + queued


def unmatched_events(conn: Connection) -> list[dict[str, Any]]:
    return _rows(
        conn,
        sa.select(
            EVENTS.c.id.label("event"),
            EVENTS.c.received_at,
            EVENTS.c.source,
            EVENTS.c.event_type.label("type"),
            EVENTS.c.employee_id,
            EVENTS.c.email,
        )
        .where(EVENTS.c.status == Status.UNMATCHED.value)
        .order_by(EVENTS.c.received_at, EVENTS.c.id),
    )


def open_movers(conn: Connection) -> list[dict[str, Any]]:
    """Movers not yet reviewed, oldest first."""
    return _rows(
        conn,
        sa.select(
            MOVES.c.moved_at,
            PEOPLE.c.employee_id,
            PEOPLE.c.email,
            MOVES.c.old_manager_employee_id.label("old_manager"),
            MOVES.c.new_manager_employee_id.label("new_manager"),
            MOVES.c.old_department,
            MOVES.c.new_department,
            MOVES.c.hr_event_id.label("event"),
        )
        .join(PEOPLE, PEOPLE.c.id == MOVES.c.person_id)
        .where(MOVES.c.reviewed_at.is_(None))
        .order_by(MOVES.c.moved_at, MOVES.c.id),
    )


def source_rows(conn: Connection, hr: HrSettings) -> list[dict[str, Any]]:
    """Each configured HR source (and any other that stored events): its kind, whether its secret is
    set (never the secret), its last event and how many it stored, by outcome."""
    stats = {
        row.source: row
        for row in conn.execute(
            sa.select(
                EVENTS.c.source,
                sa.func.max(EVENTS.c.received_at).label("last_event"),
                sa.func.count().label("events"),
                sa.func.sum(sa.case((EVENTS.c.status == Status.UNMATCHED.value, 1), else_=0)).label(
                    "unmatched"
                ),
            ).group_by(EVENTS.c.source)
        )
    }
    rows = []
    scim = [SCIM_SOURCE] if hr.scim.enabled and SCIM_SOURCE not in hr.sources else []
    configured = [*hr.sources, *scim]
    for name in [*configured, *sorted(set(stats) - set(configured))]:
        source = hr.sources.get(name)
        stat = stats.get(name)
        if name in scim:  # SCIM 2.0 at /scim/v2/: a bearer token of scope hr, not a webhook secret
            vendor, secret, where = "scim", "token", "scope hr"
        elif source is None:
            vendor, secret, where = "(not configured)", "", ""
        else:
            vendor = source.vendor
            keys = len(source.secrets)
            secret = ("yes (2 keys)" if keys > 1 else "yes") if keys else "no"
            where = f"env {source.secret_env}" if source.secret_env else "file"
        rows.append(
            {
                "source": name,
                "vendor": vendor,
                "secret": secret,
                "secret_from": where,
                "last_event": utc(stat.last_event) if stat is not None else None,
                "accepted": int(stat.events) if stat is not None else 0,
                "unmatched": int(stat.unmatched or 0) if stat is not None else 0,
            }
        )
    return rows


def recent_events(
    conn: Connection, *, person: str | None = None, status: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The latest HR events (newest first), with their job; ``person``: an employee id or email."""
    query = (
        sa.select(
            EVENTS.c.id.label("event"),
            EVENTS.c.received_at,
            EVENTS.c.source,
            EVENTS.c.event_type.label("type"),
            EVENTS.c.employee_id,
            EVENTS.c.email,
            EVENTS.c.status,
            EVENTS.c.job_id.label("job"),
            JOBS.c.state.label("job_state"),
            EVENTS.c.note,
        )
        .outerjoin(JOBS, JOBS.c.id == EVENTS.c.job_id)
        .order_by(EVENTS.c.received_at.desc(), EVENTS.c.id.desc())
        .limit(limit)
    )
    if person:
        query = query.where(
            sa.or_(EVENTS.c.employee_id == person, sa.func.lower(EVENTS.c.email) == person.lower())
        )
    if status:
        query = query.where(EVENTS.c.status == status)
    return _rows(conn, query)
