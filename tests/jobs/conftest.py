"""The job tests' store: migrated once per session and dialect, emptied before each test (migrating
a store per test would cost most of these tests' time).  Each test still runs on SQLite and on
PostgreSQL."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.audit import GENESIS_HASH
from accessctl.store.engine import make_engine
from accessctl.store.migrate import upgrade
from tests.conftest import MigratedTemplate


@pytest.fixture(scope="session")
def _sqlite_template(migrated_template: MigratedTemplate) -> Path:
    return migrated_template.sqlite_file()


@pytest.fixture(scope="session")
def _postgres_store(postgres_server: str) -> Iterator[str]:
    schema = f"t_jobs_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in postgres_server else "?"
    url = f"{postgres_server}{sep}options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _empty_postgres(engine: Engine) -> None:
    with engine.begin() as conn:
        # the audit log's append-only triggers do not fire for a replica: what a test store reset needs
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        conn.execute(
            sa.text("TRUNCATE job_step, job, hr_event, audit_event, store_lock RESTART IDENTITY CASCADE")
        )
        conn.execute(sa.text("UPDATE audit_head SET last_seq = 0, last_hash = :h"), {"h": GENESIS_HASH})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty store at the current schema (a fresh copy on SQLite; emptied on PostgreSQL)."""
    if request.param == "sqlite":
        path = tmp_path / "accessctl.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        path.chmod(0o600)
        engine = make_engine(f"sqlite:///{path}")
    else:
        engine = make_engine(request.getfixturevalue("_postgres_store"))
        _empty_postgres(engine)
    yield engine
    engine.dispose()
