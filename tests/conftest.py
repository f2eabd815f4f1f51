"""Shared fixtures: a store on SQLite and, for real, on PostgreSQL (one schema per test)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

PG_URL = os.environ.get("ACCESSCTL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
PG_HOWTO = (
    f"PostgreSQL not reachable at {PG_URL}: start it with "
    "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start` "
    "(or set ACCESSCTL_TEST_POSTGRES_URL) to run the PostgreSQL tests"
)


def in_ci() -> bool:
    """CI set to any truthy value (true, 1, yes, on): PostgreSQL tests must run there, never be skipped."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on", "y"}


_reachability: dict[str, str | None] = {}


def _postgres_reachable() -> str | None:
    """None when the server answers, else why not (checked once per session)."""
    if PG_URL not in _reachability:
        try:
            import psycopg

            with psycopg.connect(PG_URL, connect_timeout=3) as conn:
                conn.execute("select 1")
            _reachability[PG_URL] = None
        except Exception as exc:  # any failure means not reachable; the reason is reported
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            _reachability[PG_URL] = f"{type(exc).__name__}: {reason}"
    return _reachability[PG_URL]


def _needs_postgres(item: pytest.Item) -> bool:
    fixtures = getattr(item, "fixturenames", ())
    return item.get_closest_marker("postgres") is not None or bool(
        {"postgres_url", "postgres_server"} & set(fixtures)
    )


_DESELECTED_KEY = pytest.StashKey[int]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Outside CI without a server, the PostgreSQL tests are left out and named once (not one SKIP each)."""
    postgres = [item for item in items if _needs_postgres(item)]
    if not postgres or in_ci() or _postgres_reachable() is None:
        return
    items[:] = [item for item in items if not _needs_postgres(item)]
    config.hook.pytest_deselected(items=postgres)
    config.stash[_DESELECTED_KEY] = len(postgres)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On a pytest-xdist worker: tell the controller how many PostgreSQL tests this worker left out."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["postgres_deselected"] = session.config.stash.get(_DESELECTED_KEY, 0)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """On the pytest-xdist controller: every worker collects (and leaves out) the same tests."""
    count = getattr(node, "workeroutput", {}).get("postgres_deselected", 0)
    node.config.stash[_DESELECTED_KEY] = max(node.config.stash.get(_DESELECTED_KEY, 0), count)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    count = config.stash.get(_DESELECTED_KEY, 0)
    if count:
        terminalreporter.write_line(
            f"{count} PostgreSQL tests not run. {PG_HOWTO} ({_postgres_reachable()})", yellow=True
        )


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The server's URL; fails when it cannot be reached (tests needing it are deselected outside CI)."""
    problem = _postgres_reachable()
    if problem:
        pytest.fail(f"{PG_HOWTO} ({problem}); CI must run them", pytrace=False)
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


def _drop_audit_guard(conn: Connection) -> None:
    """What someone with DDL rights does before editing the audit log: drop the append-only triggers."""
    if conn.dialect.name == "sqlite":
        conn.execute(sa.text("DROP TRIGGER audit_event_no_update"))
        conn.execute(sa.text("DROP TRIGGER audit_event_no_delete"))
    else:
        conn.execute(sa.text("DROP TRIGGER audit_event_no_update_delete ON audit_event"))


@pytest.fixture
def drop_audit_guard() -> Callable[[Connection], None]:
    """Tamper tests call this first: the database itself refuses UPDATE and DELETE of audit_event."""
    return _drop_audit_guard
