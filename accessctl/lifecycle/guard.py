"""The blast-radius guard: too many leaver jobs in an hour, and new ones wait in quarantine.

A new leaver job is quarantined when, counting it, the leaver jobs created in the last hour are more
than ``lifecycle.guard.max_per_hour``, or more than ``max_share`` of the active people (at least one
an hour is always allowed).  Dry runs are not counted; quarantined and rejected ones are.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from accessctl.jobs.tables import JOBS
from accessctl.settings import GuardSettings
from accessctl.store.models import Person

PEOPLE: sa.Table = Person.__table__  # type: ignore[attr-defined]
LEAVER = "leaver"


def quarantine_reason(db: Connection | Session, guard: GuardSettings, *, now: datetime) -> str | None:
    """Why a new leaver job must wait in quarantine, or None."""
    recent = db.execute(
        sa.select(sa.func.count())
        .select_from(JOBS)
        .where(
            JOBS.c.kind == LEAVER, JOBS.c.dry_run.is_(False), JOBS.c.created_at >= now - timedelta(hours=1)
        )
    ).scalar_one()
    count = int(recent) + 1
    if count > guard.max_per_hour:
        limit = guard.max_per_hour
        return f"{count} leaver jobs in the last hour, more than lifecycle.guard.max_per_hour = {limit}"
    active = int(
        db.execute(
            sa.select(sa.func.count()).select_from(PEOPLE).where(PEOPLE.c.status == "active")
        ).scalar_one()
    )
    allowed = max(1, math.floor(guard.max_share * active))
    if count > allowed:
        return (
            f"{count} leaver jobs in the last hour, more than lifecycle.guard.max_share = "
            f"{guard.max_share:g} of {active} active people ({allowed})"
        )
    return None
