"""Create or upgrade the store's schema with Alembic, and refuse to run on a schema that is behind."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class SchemaBehindError(Exception):
    """The database's schema is older than this code (or missing)."""

    def __init__(self, current: str | None, head: str) -> None:
        self.current = current
        self.head = head
        where = f"at revision {current}" if current else "not initialised"
        super().__init__(
            f"the database schema is {where}, this version of accessctl needs {head}: "
            "run `accessctl db upgrade`"
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


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str]:
    """Upgrade to ``revision``; returns (revision before, revision after).  A no-op when current."""
    before = current_revision(engine)
    config = _config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return before, current_revision(engine) or ""


def ensure_current(engine: Engine) -> None:
    """Raise :class:`SchemaBehindError` unless the schema is at the head revision."""
    head = head_revision()
    current = current_revision(engine)
    if current != head:
        raise SchemaBehindError(current, head)
