"""Review campaigns on their schedules, inside `accessctl serve`.

Every :data:`TICK_S` seconds (and once at start) :func:`tick`, holding the store lock
:data:`LOCK` so that one process across several does the work (PostgreSQL: an advisory lock; SQLite:
the lease row), does what is due at ``now``:

- record the movers seen since the last tick (a manager changed by a roster import or a sync)
  and start each open mover's one-person campaign, emailing the new manager
  (``accessctl.reviews.movers``; ``[reviews.mover_campaign] enabled``);
- start each configured campaign whose last scheduled run (``schedule.previous_run``) has no
  campaign of its name started since: a run missed while the service was down fires once, on
  start; a run older than the campaign's ``duration_days`` is skipped (its campaign would already
  be over).  A fresh sync runs first, then the invitations go out.
- close each open campaign past its due date (``close_campaign``, actor ``scheduler``);
- send what is due of the others (``send_due_emails``: invitations, reminders, escalations);
- record the outcomes of the remediation jobs that have finished since.

What is due is read from the store (campaign rows), not from scheduler state, so a restart, a
second process or a crash between two steps neither loses nor repeats a run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from accessctl.reviews.campaigns import CAMPAIGNS, ITEMS, start_campaign
from accessctl.reviews.errors import ReviewError
from accessctl.reviews.schedule import previous_run
from accessctl.settings import CampaignSettings, Settings
from accessctl.store.locks import LockBusy, StoreLock
from accessctl.sync import clock
from accessctl.timestamps import utc
from connectors.base import ConnectorError

log = logging.getLogger(__name__)

LOCK = "scheduler:reviews"
TICK_S = 60.0
#: the item statuses whose job may still change
WAITING = ("revoke queued", "quarantined")

Sync = Callable[[Settings, Engine], Any]


@dataclass
class TickReport:
    """What one tick did (``busy``: another process holds the lock, nothing done)."""

    busy: bool = False
    started: list[int] = field(default_factory=list)
    #: the one-person campaigns started for movers
    movers: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    emailed: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def due_run(
    settings: Settings, campaign: CampaignSettings, engine: Engine, *, now: datetime
) -> datetime | None:
    """The scheduled run of ``campaign`` that should start now, or None."""
    if campaign.schedule == "manual":
        return None
    reviews = settings.reviews
    last = previous_run(
        campaign.schedule,
        before=now,
        zone=reviews.zone_of(campaign),
        holidays=reviews.holidays,
        run_at=campaign.run_at,
    )
    if last is None or now - last > timedelta(days=campaign.duration_days):
        return None
    with engine.connect() as conn:
        started = conn.execute(
            sa.select(sa.func.max(CAMPAIGNS.c.started_at)).where(CAMPAIGNS.c.name == campaign.name)
        ).scalar_one_or_none()
    if started is not None and utc(started) >= last:
        return None
    return last


def _sync_first(settings: Settings, engine: Engine) -> None:
    from accessctl.sync.service import run_sync

    run_sync(settings, engine, actor="scheduler")


async def tick(
    settings: Settings,
    engine: Engine,
    *,
    now: datetime,
    sync: Sync | None = _sync_first,
    connectors: Any = None,
) -> TickReport:
    """One pass over the review schedules (see the module's docstring)."""
    lock = StoreLock(engine, LOCK)
    try:
        holder = await asyncio.to_thread(lock.try_acquire)
    except LockBusy:
        holder = True  # held, by someone the store cannot name
    if holder is not None:
        return TickReport(busy=True)
    try:
        return await _work(settings, engine, now=now, sync=sync, connectors=connectors)
    finally:
        await asyncio.to_thread(lock.release)


async def _work(
    settings: Settings, engine: Engine, *, now: datetime, sync: Sync | None, connectors: Any
) -> TickReport:
    from accessctl.reviews.mailing import open_mailing, send_due_emails, send_invitations
    from accessctl.reviews.movers import run_movers
    from accessctl.reviews.remediate import record_outcomes

    report = TickReport()
    due = [c for c in settings.reviews.campaigns if due_run(settings, c, engine, now=now) is not None]
    if due and sync is not None:
        try:
            await asyncio.to_thread(sync, settings, engine)
        except (ConnectorError, LockBusy, OSError, SQLAlchemyError) as exc:  # the schedule goes on
            log.warning("review scheduler: the sync before starting campaigns failed: %s", exc)
    with open_mailing(settings) as mailing:
        for campaign in due:
            with engine.begin() as conn:
                started = start_campaign(conn, campaign, actor="scheduler", now=now)
            assert started.campaign_id is not None
            report.started.append(started.campaign_id)
            log.info("review scheduler: campaign %s %r started", started.campaign_id, campaign.name)
            await asyncio.to_thread(send_invitations, engine, started.campaign_id, mailing, now=now)
        if settings.reviews.mover_campaign.enabled:
            try:
                movers = await asyncio.to_thread(
                    run_movers, settings, engine, now=now, actor="scheduler", mailing=mailing
                )
                report.movers = movers.started
            except ReviewError as exc:
                report.errors.append(f"movers: {exc}")
        with engine.connect() as conn:
            open_ = conn.execute(
                sa.select(CAMPAIGNS.c.id, CAMPAIGNS.c.due_at).where(CAMPAIGNS.c.status == "open")
            ).all()
        for campaign_id, due_at in open_:
            if campaign_id in report.started or campaign_id in report.movers:
                continue
            if utc(due_at) <= now:
                try:
                    await _close(
                        settings, engine, campaign_id, now=now, mailing=mailing, connectors=connectors
                    )
                    report.closed.append(campaign_id)
                except ReviewError as exc:
                    report.errors.append(f"campaign {campaign_id}: {exc}")
            else:
                await asyncio.to_thread(send_due_emails, engine, campaign_id, mailing, now=now)
                report.emailed.append(campaign_id)
    with engine.connect() as conn:
        waiting = (
            conn.execute(sa.select(ITEMS.c.campaign_id).where(ITEMS.c.status.in_(WAITING)).distinct())
            .scalars()
            .all()
        )
    for campaign_id in waiting:
        await asyncio.to_thread(record_outcomes, engine, campaign_id)
    return report


async def _close(
    settings: Settings, engine: Engine, campaign_id: int, *, now: datetime, mailing: Any, connectors: Any
) -> None:
    from accessctl.lifecycle.connections import open_connectors
    from accessctl.reviews.close import close_campaign

    if connectors is not None:
        await close_campaign(
            settings, engine, campaign_id, actor="scheduler", connectors=connectors, now=now, mailing=mailing
        )
        return
    async with open_connectors(settings) as opened:
        await close_campaign(
            settings, engine, campaign_id, actor="scheduler", connectors=opened, now=now, mailing=mailing
        )


def add_review_jobs(
    scheduler: Any,
    settings: Settings,
    engine: Engine,
    *,
    every_s: float = TICK_S,
    now: Callable[[], datetime] = clock.now,
) -> None:
    """Register the review tick on an APScheduler ``AsyncIOScheduler``: at once (a run missed while
    the service was down), then every ``every_s`` seconds; never two ticks at once."""

    async def run() -> None:
        from accessctl.store.engine import store_failure

        try:
            report = await tick(settings, engine, now=now())
        except Exception as exc:  # the job must outlive a failed tick: the next one retries
            reason = store_failure(exc)
            if reason is None:  # a bug: its traceback belongs in the service's log
                log.exception("review scheduler: the tick failed; the next tick retries")
            else:  # the store busy or unreachable: nothing was committed
                log.error("review scheduler: the tick failed (%s); the next tick retries", reason)
            return
        for error in report.errors:
            log.warning("review scheduler: %s", error)

    scheduler.add_job(
        run,
        "interval",
        seconds=every_s,
        id="reviews",
        next_run_time=datetime.now(UTC),  # the scheduler's own time; ``now`` is what the tick sees
        max_instances=1,
        coalesce=True,
        replace_existing=True,
    )
