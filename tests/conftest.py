"""Shared fixtures: a store on SQLite and, for real, on PostgreSQL (one schema per test)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

PG_URL = os.environ.get("ACCESSCTL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PG_HOWTO = (
    f"PostgreSQL not reachable at {PG_URL}: start it with "
    "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` "
    "(or set ACCESSCTL_TEST_POSTGRES_URL) to run the PostgreSQL tests"
)


def _postgres_reachable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("select 1")
    except Exception as exc:  # any failure means not reachable; the reason is reported
        return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"
    return None


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The server's URL; skips (outside CI) or fails (in CI) when it cannot be reached."""
    problem = _postgres_reachable()
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{PG_HOWTO} ({problem}); CI must run them", pytrace=False)
        pytest.skip(PG_HOWTO)
    return PG_URL


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_server.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in postgres_server else "?"
    try:
        yield f"{postgres_server}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A CA and a loopback server certificate for the emulators (HTTPS, as MSAL and Okta's SDK demand)."""
    from connectors.emulators.server import make_tls

    return make_tls(Path(tmp_path_factory.mktemp("tls")))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'accessctl.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs twice: on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A store migrated to the current schema."""
    from accessctl.store.engine import make_engine
    from accessctl.store.migrate import upgrade

    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _clean_accessctl_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests never see the developer's ACCESSCTL_* variables or ./accessctl.toml."""
    for key in list(os.environ):
        if key.startswith("ACCESSCTL_") and key != "ACCESSCTL_TEST_POSTGRES_URL":
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
