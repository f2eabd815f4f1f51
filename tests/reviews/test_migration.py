"""Migration 0010 replaces the placeholder campaign tables, and goes back down to 0006's."""

from __future__ import annotations

import sqlalchemy as sa

from accessctl.store import migrate
from accessctl.store.engine import make_engine


def test_migration_0010_upgrades_and_downgrades(db_url: str) -> None:
    from alembic import command

    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine)
        tables = set(sa.inspect(engine).get_table_names())
        assert {"campaign", "review_item", "reviewer_assignment", "email_send"} <= tables
        assert "decision" not in tables
        config = migrate._config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0006")
        tables = set(sa.inspect(engine).get_table_names())
        assert "decision" in tables and "reviewer_assignment" not in tables
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.HEAD_REVISION  # through 0013 too
    finally:
        engine.dispose()
