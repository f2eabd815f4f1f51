"""What `accessctl hr pending | unmatched | movers` list (and the API may later)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from accessctl.hr.decide import Status
from accessctl.hr.store import EVENTS, MOVES, PEOPLE, SCHEDULES
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
