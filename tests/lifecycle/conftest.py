"""Fixtures: the three emulators on a small generated org, accessctl configured and synced against them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.emulation import emulator_config, write_config
from accessctl.settings import Settings, load_settings
from accessctl.store.engine import make_engine
from accessctl.store.migrate import upgrade
from accessctl.store.models import Account, Person
from connectors.emulators.generate import generate_org
from connectors.emulators.runner import RunningEmulators, start_emulators

pytestmark = pytest.mark.timeout(120)


@dataclass
class World:
    running: RunningEmulators
    config_path: Path
    settings: Settings
    engine: Engine

    def reload(self, **lifecycle: Any) -> Settings:
        """Settings with [lifecycle] keys changed (written to the config file, as a user would)."""
        import tomllib

        from accessctl.emulation import write_config

        config = tomllib.loads(self.config_path.read_text())
        config.setdefault("lifecycle", {}).update(lifecycle)
        write_config(config, self.config_path)
        self.settings = load_settings(self.config_path, strict=True)
        return self.settings

    def people_with_accounts(self, providers: int = 3) -> list[sa.Row]:
        """Active people with a live, unprotected, active account in ``providers`` providers."""
        accounts, people = Account.__table__, Person.__table__
        query = (
            sa.select(people.c.id, people.c.email, people.c.employee_id)
            .join(accounts, accounts.c.person_id == people.c.id)
            .where(
                accounts.c.ended_at.is_(None),
                accounts.c.status == "active",
                accounts.c.protected.is_(False),
                people.c.status == "active",
            )
            .group_by(people.c.id, people.c.email, people.c.employee_id)
            .having(sa.func.count(sa.distinct(accounts.c.provider)) >= providers)
            .order_by(people.c.id)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    from accessctl.sync.service import run_sync

    with start_emulators(generate_org(30, seed=11), workdir=tmp_path / "emu") as running:
        config = emulator_config(running, database_url=f"sqlite:///{tmp_path / 'store.db'}")
        path = write_config(config, tmp_path / "accessctl.toml")
        settings = load_settings(path, strict=True)
        engine = make_engine(settings.database_url)
        upgrade(engine)
        run_sync(settings, engine, full=True, actor="test")
        try:
            yield World(running, path, settings, engine)
        finally:
            engine.dispose()
