"""Create or upgrade the store's schema with Alembic, and refuse to run on a schema that does not match."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


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
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(_config()).get_revision(revision) is not None
    except CommandError:  # alembic: "No such revision or branch"
        return False


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Upgrade to ``revision``; returns (revision before, revision after).  A no-op when current.

    Raises :class:`SchemaAheadError` when the database is at a revision this code does not know.
    """
    before = current_revision(engine)
    if before is not None and not _known(before):
        raise SchemaAheadError(before, head_revision())
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return before, current_revision(engine) or ""


def ensure_current(engine: Engine) -> None:
    """Raise :class:`SchemaBehindError` (or :class:`SchemaAheadError`) unless the schema is at the head."""
    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return
    if current is not None and not _known(current):
        raise SchemaAheadError(current, head)
    raise SchemaBehindError(current, head)
