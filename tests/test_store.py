"""The store: migrations on SQLite and PostgreSQL, the schema guard, and bulk upserts."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from accessctl.store.engine import make_engine
from accessctl.store.migrate import (
    SchemaAheadError,
    SchemaBehindError,
    current_revision,
    ensure_current,
    head_revision,
    upgrade,
)
from accessctl.store.models import Account, Entitlement, Grant
from accessctl.store.upsert import bulk_upsert


def test_upgrade_creates_schema_and_second_run_is_a_noop(db_url: str) -> None:
    engine = make_engine(db_url)
    with pytest.raises(SchemaBehindError, match="accessctl db upgrade"):
        ensure_current(engine)
    before, after = upgrade(engine)
    assert (before, after) == (None, head_revision())
    assert upgrade(engine) == (head_revision(), head_revision())
    ensure_current(engine)
    tables = set(sa.inspect(engine).get_table_names())
    assert {
        "person",
        "account",
        "entitlement",
        "access_grant",
        "sync_run",
        "hr_event",
        "job",
        "job_step",
    } <= tables
    assert {"campaign", "review_item", "reviewer_assignment", "audit_event", "audit_head"} <= tables
    engine.dispose()


def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_schema_behind_is_refused_with_the_fix(db_url: str) -> None:
    engine = make_engine(db_url)
    upgrade(engine, "0001")
    with pytest.raises(SchemaBehindError) as caught:
        ensure_current(engine)
    assert "0001" in str(caught.value)
    assert "accessctl db upgrade" in str(caught.value)
    assert upgrade(engine) == ("0001", head_revision())
    ensure_current(engine)
    engine.dispose()


def test_schema_newer_than_the_code_is_refused_without_suggesting_upgrade(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(SchemaAheadError) as caught:
        ensure_current(engine)
    message = str(caught.value)
    assert "0099" in message and "newer" in message
    assert "run `accessctl db upgrade`" not in message
    with pytest.raises(SchemaAheadError):
        upgrade(engine)  # nothing to upgrade to, and nothing touched
    assert current_revision(engine) == "0099"


def test_sqlite_file_is_owner_only_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_bulk_upsert_inserts_updates_and_returns(engine: Engine) -> None:
    accounts = Account.__table__
    rows = [
        {
            "provider": "okta",
            "external_id": f"00u{i}",
            "login": f"user{i}@example.com",
            "aliases": [],
            "mfa_methods": [],
        }
        for i in range(5000)
    ]
    with engine.begin() as conn:
        returned = bulk_upsert(
            conn, accounts, rows, key=["provider", "external_id"], returning=["id", "external_id"]
        )
    assert len(returned) == 5000
    ids = {r.external_id: r.id for r in returned}

    changed = [{**rows[0], "login": "renamed@example.com"}, {**rows[1], "login": "other@example.com"}]
    with engine.begin() as conn:
        again = bulk_upsert(
            conn, accounts, changed, key=["provider", "external_id"], returning=["id", "external_id"]
        )
        assert {r.external_id: r.id for r in again} == {"00u0": ids["00u0"], "00u1": ids["00u1"]}
        count = conn.execute(sa.select(sa.func.count()).select_from(accounts)).scalar()
        login = conn.execute(sa.select(accounts.c.login).where(accounts.c.external_id == "00u0")).scalar()
    assert count == 5000
    assert login == "renamed@example.com"


def test_bulk_upsert_do_nothing_keeps_existing_rows(engine: Engine) -> None:
    ent = Entitlement.__table__
    with engine.begin() as conn:
        bulk_upsert(
            conn,
            ent,
            [{"provider": "okta", "kind": "group", "external_id": "g1", "name": "first"}],
            key=["provider", "kind", "external_id"],
        )
        bulk_upsert(
            conn,
            ent,
            [{"provider": "okta", "kind": "group", "external_id": "g1", "name": "second"}],
            key=["provider", "kind", "external_id"],
            update=[],
        )
        assert conn.execute(sa.select(ent.c.name)).scalars().all() == ["first"]


def test_grants_reference_real_accounts(engine: Engine) -> None:
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.insert(Grant.__table__).values(account_id=999, entitlement_id=999))


def test_upgrade_from_0001_keeps_the_audit_log_and_makes_it_append_only(db_url: str) -> None:
    from sqlalchemy.orm import Session

    from accessctl import audit

    engine = make_engine(db_url)
    assert upgrade(engine, "0001") == (None, "0001")
    with Session(engine) as session:
        audit.record(session, actor="cli", action="before.0002")
        session.commit()
    with engine.begin() as conn:  # 0001 had no guard
        conn.execute(sa.text("UPDATE audit_event SET actor = 'x' WHERE seq = 1"))
        conn.execute(sa.text("UPDATE audit_event SET actor = 'cli' WHERE seq = 1"))
    assert upgrade(engine) == ("0001", head_revision())
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_event"))
    with Session(engine) as session:
        assert audit.verify(session) == audit.VerifyResult(True, 1)
    engine.dispose()
