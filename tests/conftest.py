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


class MigratedTemplate:
    """The current schema, migrated once per test process and then copied into each test's store.

    Running the migrations costs about 0.15 s on SQLite and 0.5 s on PostgreSQL; a copy costs a
    millisecond (a file copy) or about 0.15 s (the schema's own ``pg_dump``, replayed in one
    transaction).  Tests of the migrations themselves use ``db_url`` and migrate for real.
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._sqlite: Path | None = None
        self._postgres: tuple[str, str] | None = None  # (template schema name, its DDL and rows)

    def sqlite_file(self) -> Path:
        if self._sqlite is None:
            from accessctl.store.engine import make_engine
            from accessctl.store.migrate import upgrade

            path = self.workdir / "template.db"
            engine = make_engine(f"sqlite:///{path}")
            upgrade(engine)
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # all of it in the one file
            engine.dispose()
            self._sqlite = path
        return self._sqlite

    def postgres_script(self, server: str) -> tuple[str, str] | None:
        """(template schema, script creating it) or None when ``pg_dump`` is not there."""
        if self._postgres is None:
            import shutil
            import subprocess

            from accessctl.store.engine import make_engine
            from accessctl.store.migrate import upgrade

            if shutil.which("pg_dump") is None:
                return None
            schema = f"t_template_{uuid.uuid4().hex[:12]}"
            admin = sa.create_engine(server.replace("postgresql://", "postgresql+psycopg://", 1))
            with admin.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            try:
                sep = "&" if "?" in server else "?"
                engine = make_engine(f"{server}{sep}options=-csearch_path%3D{schema}")
                upgrade(engine)
                engine.dispose()
                dump = subprocess.run(
                    ["pg_dump", "--inserts", "--no-owner", "--no-privileges", "-n", schema, server],
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=True,
                ).stdout
            finally:
                with admin.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
            lines = [
                line
                for line in dump.splitlines()
                # psql's meta-commands (\restrict) and comments; the schema exists already
                if not line.startswith(("\\", "--")) and line != f"CREATE SCHEMA {schema};"
            ]
            self._postgres = (schema, "\n".join(lines))
        return self._postgres


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> MigratedTemplate:
    return MigratedTemplate(tmp_path_factory.mktemp("template"))


def _copy_template(template: MigratedTemplate, db_url: str) -> bool:
    """Put the migrated template in the (still empty) store at ``db_url``; False if it cannot."""
    import shutil

    if db_url.startswith("sqlite:///"):
        target = Path(db_url.removeprefix("sqlite:///"))
        if target.exists():
            return False
        shutil.copyfile(template.sqlite_file(), target)
        return True
    server, _, options = db_url.partition("options=-csearch_path%3D")
    made = template.postgres_script(server.rstrip("?&"))
    if not options or made is None:
        return False
    template_schema, script = made
    import psycopg

    with psycopg.connect(server.rstrip("?&")) as conn:  # one transaction: one commit, not one per statement
        conn.execute(script.replace(f"{template_schema}.", f"{options}."))  # type: ignore[arg-type]
    return True


#: for a test whose concern does not depend on the database: run it on SQLite alone (a test of the
#: store's own behaviour runs on both, through ``db_url``'s two params)
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def on_databases(*cases: tuple[str, ...]) -> list[Any]:
    """``parametrize`` values whose first item is ``"sqlite"`` or ``"postgres"`` (``db_url``'s param),
    marked so the PostgreSQL ones are left out, and named once, where no server runs."""
    return [
        pytest.param(*case, marks=pytest.mark.postgres) if case[0] == "postgres" else pytest.param(*case)
        for case in cases
    ]


@pytest.fixture
def engine(db_url: str, migrated_template: MigratedTemplate) -> Iterator[Engine]:
    """A store migrated to the current schema (a copy of the migrated template)."""
    from accessctl.store.engine import make_engine
    from accessctl.store.migrate import ensure_current, upgrade

    copied = _copy_template(migrated_template, db_url)
    engine = make_engine(db_url)
    if copied:
        ensure_current(engine)
    else:
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
