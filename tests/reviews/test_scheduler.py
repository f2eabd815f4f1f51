"""The review scheduler (what `accessctl serve` runs): a missed run fires once on start and never
twice, a run older than the campaign's duration is skipped, one process across several does the
work (the store lock), a campaign past its due date closes itself, reminders go out at the cadence;
SQLite and PostgreSQL.  The clock is given, never slept on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.reviews.campaigns import CAMPAIGNS, ITEMS
from accessctl.reviews.scheduler import LOCK, TickReport, add_review_jobs, tick
from accessctl.settings import Settings, load_settings
from accessctl.store.locks import StoreLock
from tests.reviews.org import seed
from tests.reviews.smtp_server import Inbox, smtp_server

#: a Monday; the daily run is at 09:00 UTC, so the service was down when it was due
LATE = datetime(2027, 1, 4, 10, 30, tzinfo=UTC)


@pytest.fixture
def mail() -> Iterator[tuple[Inbox, int]]:
    with smtp_server() as server:
        yield server


def _settings(tmp_path: Path, engine: Engine, port: int, **campaign: str) -> Settings:
    fields = {"schedule": "0 9 * * *", "undecided": "keep"} | campaign
    lines = "".join(f'{k} = "{v}"\n' for k, v in fields.items())
    path = tmp_path / "accessctl.toml"
    path.write_text(
        f'database_url = "{engine.url.render_as_string(hide_password=False)}"\n'
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nretry_delay_s = 0\n'
        '[reviews]\ntimezone = "UTC"\n'
        f'[[reviews.campaigns]]\nname = "daily"\nowner = "owner@example.com"\n{lines}'
    )
    return load_settings(path, strict=True)


def _tick(settings: Settings, engine: Engine, now: datetime) -> TickReport:
    return asyncio.run(tick(settings, engine, now=now, sync=None, connectors={}))


def _campaigns(engine: Engine) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(CAMPAIGNS).order_by(CAMPAIGNS.c.id)))


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    with engine.begin() as conn:
        seed(conn)
    return engine


def test_a_missed_run_fires_once_on_start(tmp_path: Path, seeded: Engine, mail: tuple[Inbox, int]) -> None:
    inbox, port = mail
    settings = _settings(tmp_path, seeded, port)
    first = _tick(settings, seeded, LATE)  # the 09:00 run, missed: fires at start
    assert len(first.started) == 1 and not first.busy
    assert [c.name for c in _campaigns(seeded)] == ["daily"]
    assert inbox.messages, "the invitations went out"
    assert _tick(settings, seeded, LATE + timedelta(minutes=1)).started == []  # once, not again
    assert _tick(settings, seeded, LATE + timedelta(hours=22)).started == []  # 08:30 next day
    assert len(_tick(settings, seeded, LATE + timedelta(hours=23)).started) == 1  # 09:30: next run
    assert len(_campaigns(seeded)) == 2


def test_a_run_older_than_the_campaign_lasts_is_skipped(
    tmp_path: Path, seeded: Engine, mail: tuple[Inbox, int]
) -> None:
    settings = _settings(tmp_path, seeded, mail[1], schedule="quarterly")
    assert _tick(settings, seeded, LATE + timedelta(days=40)).started == []  # Jan 4's run: long over
    assert _campaigns(seeded) == []
    assert len(_tick(settings, seeded, LATE + timedelta(days=3)).started) == 1  # within its 14 days


def test_one_scheduler_across_processes(tmp_path: Path, seeded: Engine, mail: tuple[Inbox, int]) -> None:
    settings = _settings(tmp_path, seeded, mail[1])
    other = StoreLock(seeded, LOCK)  # another process's scheduler, holding the lock
    assert other.try_acquire() is None
    try:
        assert _tick(settings, seeded, LATE).busy
        assert _campaigns(seeded) == []
    finally:
        other.release()

    async def two_at_once() -> list[TickReport]:
        return list(
            await asyncio.gather(
                *(tick(settings, seeded, now=LATE, sync=None, connectors={}) for _ in range(2))
            )
        )

    reports = asyncio.run(two_at_once())
    assert sum(len(r.started) for r in reports) == 1
    assert len(_campaigns(seeded)) == 1


def test_a_campaign_past_its_due_date_closes_itself_and_reminders_go_out(
    tmp_path: Path, seeded: Engine, mail: tuple[Inbox, int]
) -> None:
    inbox, port = mail
    settings = _settings(tmp_path, seeded, port, schedule="quarterly")
    (cid,) = _tick(settings, seeded, LATE).started
    invited = len(inbox.messages)
    later = _tick(settings, seeded, LATE + timedelta(days=4))  # reminders every 3 days
    assert later.emailed == [cid] and len(inbox.messages) > invited
    assert any("eminder" in m["Subject"] for m in inbox.messages[invited:]), [
        m["Subject"] for m in inbox.messages[invited:]
    ]
    done = _tick(settings, seeded, LATE + timedelta(days=15))
    assert done.closed == [cid]
    (campaign,) = _campaigns(seeded)
    assert campaign.status == "closed"
    with seeded.connect() as conn:
        statuses = set(conn.execute(sa.select(ITEMS.c.status).where(ITEMS.c.campaign_id == cid)).scalars())
    assert statuses == {"kept"}  # undecided = keep
    assert inbox.to("owner@example.com"), "the owner's summary"
    assert _tick(settings, seeded, LATE + timedelta(days=16)).closed == []


def test_serve_registers_a_tick_that_fires_at_start(
    tmp_path: Path, seeded: Engine, mail: tuple[Inbox, int]
) -> None:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    settings = _settings(tmp_path, seeded, mail[1])

    async def serve_briefly() -> None:
        scheduler = AsyncIOScheduler(timezone="UTC")
        add_review_jobs(scheduler, settings, seeded, now=lambda: LATE)
        scheduler.start()
        try:
            for _ in range(200):  # at most 10 s
                if _campaigns(seeded):
                    return
                await asyncio.sleep(0.05)
        finally:
            scheduler.shutdown(wait=False)

    asyncio.run(serve_briefly())
    assert [c.name for c in _campaigns(seeded)] == ["daily"]


def test_a_tick_that_meets_a_busy_store_logs_one_line_and_the_next_tick_runs(
    tmp_path: Path,
    seeded: Engine,
    mail: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Seen under `serve` with the HR intake busy: SQLite's "database is locked" reached APScheduler
    as a traceback in the service's log.  It is one line now, and the job keeps its schedule."""
    from accessctl.reviews import scheduler as review_scheduler

    settings = _settings(tmp_path, seeded, mail[1])
    calls: list[int] = []

    async def locked(*args: object, **kwargs: object) -> TickReport:
        calls.append(1)
        raise sa.exc.OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))

    monkeypatch.setattr(review_scheduler, "tick", locked)

    class Jobs:
        def add_job(self, func, *args, **kwargs):  # type: ignore[no-untyped-def]
            self.func = func

    jobs = Jobs()
    add_review_jobs(jobs, settings, seeded, now=lambda: LATE)
    caplog.set_level("INFO", logger="accessctl")
    asyncio.run(jobs.func())
    asyncio.run(jobs.func())
    assert len(calls) == 2
    failed = [r for r in caplog.records if "tick failed" in r.getMessage()]
    assert len(failed) == 2 and all(r.exc_info is None for r in failed)
    assert "database is locked" in failed[0].getMessage()
