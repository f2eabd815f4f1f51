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


def quarantine_reason(
    db: Connection | Session, guard: GuardSettings, *, now: datetime, job: sa.Row | None = None
) -> str | None:
    """Why a new leaver job must wait in quarantine, or None.

    ``job``: an HR leaver committed unplanned and planned now; it is judged as of its creation, as
    if planned then: the leaver jobs made in the hour before it, and the people active then (those
    active now, and those whose leaver job came after it, up to it included, who are no longer)."""
    anchor = now if job is None else job.created_at
    recent_q = (
        sa.select(sa.func.count())
        .select_from(JOBS)
        .where(
            JOBS.c.kind == LEAVER,
            JOBS.c.dry_run.is_(False),
            JOBS.c.created_at >= anchor - timedelta(hours=1),
        )
    )
    if job is not None:
        recent_q = recent_q.where(JOBS.c.id < job.id)
    count = int(db.execute(recent_q).scalar_one()) + 1
    if count > guard.max_per_hour:
        limit = guard.max_per_hour
        return f"{count} leaver jobs in the last hour, more than lifecycle.guard.max_per_hour = {limit}"
    active = int(
        db.execute(
            sa.select(sa.func.count()).select_from(PEOPLE).where(PEOPLE.c.status == "active")
        ).scalar_one()
    )
    if job is not None:
        active += int(
            db.execute(
                sa.select(sa.func.count(sa.distinct(JOBS.c.person_id)))
                .join(PEOPLE, PEOPLE.c.id == JOBS.c.person_id)
                .where(
                    JOBS.c.kind == LEAVER,
                    JOBS.c.dry_run.is_(False),
                    JOBS.c.id >= job.id,
                    PEOPLE.c.status != "active",
                )
            ).scalar_one()
        )
    allowed = max(1, math.floor(guard.max_share * active))
    if count > allowed:
        return (
            f"{count} leaver jobs in the last hour, more than lifecycle.guard.max_share = "
            f"{guard.max_share:g} of {active} active people ({allowed})"
        )
    return None
