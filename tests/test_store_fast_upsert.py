"""The bulk upsert's fast path on SQLite stores exactly what SQLAlchemy's own path stores: the same
values (timestamps, JSON, enums, defaults of the columns a row leaves out) and the same updates."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert

from accessctl.store import upsert
from accessctl.store.engine import make_engine
from accessctl.store.migrate import upgrade
from accessctl.store.models import Account
from accessctl.store.upsert import bulk_upsert
from accessctl.sync import writer

ACCOUNTS: sa.Table = Account.__table__  # type: ignore[attr-defined]
SEEN = datetime(2026, 12, 2, 1, 2, 3, 456789, tzinfo=UTC)


def _rows(count: int) -> list[dict[str, Any]]:
    """Account rows as the sync writes them, leaving out columns that have defaults (MFA, flags)."""
    return [
        {
            "provider": "okta",
            "external_id": f"00u{i}",
            "login": f"user{i}@example.com",
            "aliases": [f"alias{i}@example.com"],
            "display_name": f"User {i}",
            "status": "active" if i % 2 else "suspended",
            "created_at": datetime(2020, 1, 1, tzinfo=UTC) if i % 3 else None,
            "first_seen_at": SEEN,
            "last_seen_at": SEEN,
        }
        for i in range(count)
    ]


def _stored(engine: sa.Engine) -> list[tuple[Any, ...]]:
    columns = [c for c in ACCOUNTS.c if c.name != "id"]
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(*columns).order_by(ACCOUNTS.c.external_id))]


def _store(tmp_path: Path, name: str) -> sa.Engine:
    engine = make_engine(f"sqlite:///{tmp_path / name}")
    upgrade(engine)
    return engine


def test_the_fast_path_stores_what_sqlalchemy_stores(tmp_path: Path) -> None:
    fast, reference = _store(tmp_path, "fast.db"), _store(tmp_path, "reference.db")
    rows = _rows(300)
    renamed = [{**row, "login": row["login"].upper(), "last_seen_at": datetime.now(UTC)} for row in rows[:50]]
    update = ["login", "last_seen_at"]
    with fast.begin() as conn:
        bulk_upsert(conn, ACCOUNTS, rows, key=["provider", "external_id"], update=update)
        bulk_upsert(conn, ACCOUNTS, renamed, key=["provider", "external_id"], update=update)
    with reference.begin() as conn:  # the same statements, executed by SQLAlchemy itself
        for batch in (rows, renamed):
            stmt = insert(ACCOUNTS)
            stmt = stmt.on_conflict_do_update(
                index_elements=["provider", "external_id"], set_={c: stmt.excluded[c] for c in update}
            )
            conn.execute(stmt, batch)
    assert any(shape[1] is ACCOUNTS and fast_ is not None for shape, fast_ in upsert._FAST.items())
    stored = _stored(fast)
    assert stored == _stored(reference)
    assert len(stored) == 300 and stored[0][2] == "USER0@EXAMPLE.COM"


def test_a_grant_seen_directly_in_this_run_stays_direct(tmp_path: Path) -> None:
    engine = _store(tmp_path, "grants.db")
    with engine.begin() as conn:
        account = bulk_upsert(conn, ACCOUNTS, _rows(1), key=["provider", "external_id"], returning=["id"])
        entitlement = bulk_upsert(
            conn,
            writer.ENTITLEMENTS,
            [{"provider": "okta", "kind": "group", "external_id": "g1", "name": "Admins"}],
            key=["provider", "kind", "external_id"],
            returning=["id"],
        )
    pair = (account[0].id, entitlement[0].id)

    def write(seen: datetime, *, inherited: bool, via: str | None) -> tuple[Any, ...]:
        row = writer.grant_row(*pair, inherited=inherited, via=via, seen_at=seen)
        with engine.begin() as conn:
            writer.write_grants(conn, writer.GrantBatch([row]), seen)
            found = conn.execute(sa.select(writer.GRANTS.c.inherited, writer.GRANTS.c.via)).one()
        return tuple(found)

    assert write(SEEN, inherited=False, via=None) == (False, None)
    # the same run then sees it through a group: it stays direct
    assert write(SEEN, inherited=True, via="g2") == (False, None)
    # a later run sees it only through the group: now inherited
    later = datetime(2026, 12, 3, tzinfo=UTC)
    assert write(later, inherited=True, via="g2") == (True, "g2")
