"""Create or upgrade the store's schema with Alembic, and refuse to run on a schema that does not match.

Every command checks the schema, so that check is plain SQL against :data:`HEAD_REVISION`, on any
DB-API connection (:func:`applied_revisions`: the read commands use it without SQLAlchemy); Alembic
(slow to import) is loaded only to upgrade, or to explain a schema that does not match.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

#: The newest migration in ``migrations/versions``; a test checks it is Alembic's head, so a new
#: migration must update it.
HEAD_REVISION = "0013"

#: Alembic's table of applied revisions (its default name; ``migrations/env.py`` keeps it)
VERSION_TABLE = "alembic_version"


class SchemaMismatchError(Exception):
    """The database's schema is not the one this code needs (exit code 4)."""

    def __init__(self, current: str | None, head: str, message: str) -> None:
        self.current = current
        self.head = head
        super().__init__(message)


class SchemaBehindError(SchemaMismatchError):
    """The database's schema is older than this code (or missing): `accessctl db upgrade` fixes it."""

    def __init__(self, current: str | None, head: str) -> None:
        where = f"at revision {current}" if current else "not initialised"
        super().__init__(
            current,
            head,
            f"the database schema is {where}, this version of accessctl needs {head}: "
            "run `accessctl db upgrade`",
        )


class SchemaAheadError(SchemaMismatchError):
    """The database's schema is newer than this code knows: a newer accessctl upgraded it."""

    def __init__(self, current: str, head: str) -> None:
        super().__init__(
            current,
            head,
            f"the database schema is at revision {current}, newer than this version of accessctl knows "
            f"(its newest is {head}): a newer accessctl upgraded it; use that version (or newer), "
            "not `accessctl db upgrade`",
        )


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The head revision of the migration scripts, as Alembic finds it."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _known(revision: str) -> bool:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except CommandError:  # alembic: "No such revision or branch"
        return False


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Upgrade to ``revision``; returns (revision before, revision after).  A no-op when current.

    Raises :class:`SchemaAheadError` when the database is at a revision this code does not know.
    """
    from alembic import command

    before = current_revision(engine)
    if before is not None and not _known(before):
        raise SchemaAheadError(before, head_revision())
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return before, current_revision(engine) or ""


#: whether the version table exists (in the search path, on PostgreSQL), by backend
_HAS_VERSION_TABLE = {
    "sqlite": f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{VERSION_TABLE}'",
    "postgresql": f"SELECT to_regclass('{VERSION_TABLE}') IS NOT NULL",
}


def applied_revisions(dbapi_connection: Any, backend: str) -> list[str]:
    """The revisions recorded in the version table (none when it is missing), read with plain SQL on
    a DB-API connection to a ``backend`` ("sqlite" or "postgresql") store."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(_HAS_VERSION_TABLE[backend])
        if not cursor.fetchone()[0]:
            return []
        cursor.execute(f"SELECT version_num FROM {VERSION_TABLE}")
        return [row[0] for row in cursor.fetchall()]
    finally:
        cursor.close()


def at_head(applied: list[str]) -> bool:
    return applied == [HEAD_REVISION]


def _applied_revisions(engine: Engine) -> list[str]:
    if engine.dialect.name not in _HAS_VERSION_TABLE:  # not a database accessctl runs on: ask SQLAlchemy
        import sqlalchemy as sa

        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(VERSION_TABLE):
                return []
            return list(conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())
    connection = engine.raw_connection()
    try:
        return applied_revisions(connection.driver_connection, engine.dialect.name)
    finally:
        connection.close()


def ensure_current(engine: Engine) -> None:
    """Raise :class:`SchemaBehindError` (or :class:`SchemaAheadError`) unless the schema is at the head.

    The usual case, a current schema, is one plain query; Alembic is asked only when it is not.
    """
    if at_head(_applied_revisions(engine)):
        return
    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return
    if current is not None and not _known(current):
        raise SchemaAheadError(current, head)
    raise SchemaBehindError(current, head)
