"""Named store locks (accessctl.store.locks), on SQLite and PostgreSQL: one holder at a time, who holds
it, waiting with a deadline, and a holder that dies (SIGKILL) or stops renewing its lease loses it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Engine

from accessctl.store.engine import make_engine
from accessctl.store.locks import LOCKS, LockBusy, StoreLock, async_store_lock, store_lock
from accessctl.store.migrate import _config, upgrade

ROOT = Path(__file__).resolve().parents[1]


def test_a_held_lock_is_busy_for_anyone_else_and_names_its_holder(engine: Engine) -> None:
    with store_lock(engine, "sync:okta") as held:
        assert held.held
        with pytest.raises(LockBusy) as busy, store_lock(engine, "sync:okta"):
            raise AssertionError("two holders at once")
        holder = busy.value.holder
        assert holder is not None
        assert (holder.pid, holder.host) == (os.getpid(), socket.gethostname())
        assert abs((datetime.now(UTC) - holder.since).total_seconds()) < 60
        assert f"pid {os.getpid()} on {socket.gethostname()} since " in str(busy.value)
        with store_lock(engine, "sync:entra"):  # another name is another lock
            pass
    with store_lock(engine, "sync:okta"):  # released at the end of the block
        pass
    with engine.connect() as conn:
        assert conn.execute(sa.select(LOCKS)).all() == []


def test_wait_takes_the_lock_once_the_holder_lets_go(engine: Engine) -> None:
    holder = StoreLock(engine, "sync:google")
    assert holder.try_acquire() is None
    seen = []

    def on_wait(who: object) -> None:
        seen.append(who)
        holder.release()  # the other sync ends while this one waits

    with store_lock(engine, "sync:google", wait=True, timeout=30, on_wait=on_wait) as lock:
        assert lock.held
    assert len(seen) == 1 and seen[0] is not None and seen[0].pid == os.getpid()


def test_wait_gives_up_at_its_deadline(engine: Engine) -> None:
    with store_lock(engine, "sync:okta"):
        started = time.monotonic()
        with pytest.raises(LockBusy) as busy, store_lock(engine, "sync:okta", wait=True, timeout=0.3):
            raise AssertionError("two holders at once")
        assert 0.3 <= time.monotonic() - started < 10
        assert busy.value.waited_s is not None and busy.value.waited_s >= 0.3
        assert "gave up waiting after" in str(busy.value)
    with pytest.raises(ValueError, match="timeout"), store_lock(engine, "sync:okta", wait=True):
        pass


def test_async_lock_is_the_same_lock(engine: Engine) -> None:
    import asyncio

    async def main() -> None:
        async with async_store_lock(engine, "sync:okta") as lock:
            assert lock.held
            with pytest.raises(LockBusy), store_lock(engine, "sync:okta"):
                pass
        with store_lock(engine, "sync:okta"), pytest.raises(LockBusy):
            async with async_store_lock(engine, "sync:okta", wait=True, timeout=0.2):
                pass

    asyncio.run(main())


HOLD = textwrap.dedent(
    """
    import sys, time
    from accessctl.store.engine import make_engine
    from accessctl.store.locks import StoreLock
    lock = StoreLock(make_engine(sys.argv[1]), "sync:okta")
    assert lock.try_acquire() is None
    print("held", flush=True)
    time.sleep(600)
    """
)


def test_a_holder_killed_with_sigkill_loses_the_lock(db_url: str, engine: Engine) -> None:
    """SQLite: its process is gone on this host; PostgreSQL: its session ended with it."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, db_url], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(LockBusy) as busy, store_lock(engine, "sync:okta"):
            pass
        assert busy.value.holder is not None and busy.value.holder.pid == child.pid
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    # PostgreSQL notices the dead session at once, but not within the same instant: wait, with a deadline
    with store_lock(engine, "sync:okta", wait=True, timeout=30) as lock:
        assert lock.held
        assert lock.holder() is not None and lock.holder().pid == os.getpid()  # type: ignore[union-attr]


def test_sqlite_lease_expires_when_the_holder_stops_renewing_it(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    t0 = datetime.now(UTC)
    # a holder on another host (its pid cannot be checked from here) that stopped its heartbeat
    elsewhere = StoreLock(engine, "sync:okta", host="other-host", pid=1, clock=lambda: t0)
    assert elsewhere.try_acquire() is None
    elsewhere._stop.set()  # its heartbeat stopped (the host died)
    before_expiry = StoreLock(engine, "sync:okta", clock=lambda: t0 + timedelta(seconds=59))
    holder = before_expiry.try_acquire()
    assert holder is not None and (holder.pid, holder.host) == (1, "other-host")
    after_expiry = StoreLock(engine, "sync:okta", clock=lambda: t0 + timedelta(seconds=61))
    assert after_expiry.try_acquire() is None
    assert after_expiry.holder() is not None and after_expiry.holder().host == socket.gethostname()  # type: ignore[union-attr]
    after_expiry.release()
    engine.dispose()


def test_sqlite_heartbeat_renews_the_lease_and_notices_a_takeover(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    lock = StoreLock(engine, "sync:okta", lease=timedelta(seconds=0.4))
    assert lock.try_acquire() is None

    def expires() -> datetime:
        with engine.connect() as conn:
            return conn.execute(sa.select(LOCKS.c.expires_at)).scalar_one()

    first = expires()
    deadline = time.monotonic() + 20
    while expires() == first:
        assert time.monotonic() < deadline, "the heartbeat never renewed the lease"
        time.sleep(0.02)
    with engine.begin() as conn:  # someone took it over (as after an expired lease)
        conn.execute(LOCKS.update().values(token="someone-else"))
    assert lock.lost.wait(timeout=20), "the heartbeat did not notice the takeover"
    lock.release()
    with engine.connect() as conn:  # release leaves the new holder's row alone
        assert conn.execute(sa.select(LOCKS.c.token)).scalar_one() == "someone-else"
    engine.dispose()


def test_a_postgres_lock_is_per_store_not_per_database(postgres_url: str) -> None:
    """Two stores (schemas) in one database: the same lock name in each does not collide."""
    import uuid

    schema = f"t_{uuid.uuid4().hex[:12]}"
    base = postgres_url.split("?")[0]
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    one = make_engine(postgres_url)
    two = make_engine(f"{base}?options=-csearch_path%3D{schema}")
    try:
        upgrade(one)
        upgrade(two)
        with store_lock(one, "sync:okta") as first, store_lock(two, "sync:okta") as second:
            assert first.held and second.held
            with pytest.raises(LockBusy), store_lock(one, "sync:okta"):
                pass
    finally:
        one.dispose()
        two.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_migration_0005_upgrades_and_downgrades(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine, "0004")
        upgrade(engine)
        columns = {c["name"] for c in sa.inspect(engine).get_columns("account")}
        assert "mfa_enforced" in columns and sa.inspect(engine).has_table("store_lock")
        config = _config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0004")
        inspector = sa.inspect(engine)
        assert "mfa_enforced" not in {c["name"] for c in inspector.get_columns("account")}
        assert not inspector.has_table("store_lock")
    finally:
        engine.dispose()


def test_a_busy_postgres_lock_whose_holder_row_is_gone_is_still_busy(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holder can let go between our failed try and our reading of its row: that is LockBusy
    without a holder, never an error about the connection we had already closed."""
    engine = make_engine(postgres_url)
    upgrade(engine)
    try:
        with store_lock(engine, "scheduler:reviews"):
            monkeypatch.setattr(StoreLock, "holder", lambda self: None)
            with pytest.raises(LockBusy) as busy:
                StoreLock(engine, "scheduler:reviews").try_acquire()
            assert busy.value.holder is None
    finally:
        engine.dispose()
