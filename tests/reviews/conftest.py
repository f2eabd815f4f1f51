"""Fixtures for the review tests that need the emulators: the lifecycle tests' synced world (SQLite
and PostgreSQL) and a loopback SMTP server written into its config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from accessctl.emulation import write_config
from accessctl.settings import load_settings
from tests.lifecycle.conftest import World, _world
from tests.reviews.smtp_server import Inbox, smtp_server


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from _world(tmp_path, f"sqlite:///{tmp_path / 'store.db'}")


@pytest.fixture
def pg_world(tmp_path: Path, postgres_url: str) -> Iterator[World]:
    yield from _world(tmp_path, postgres_url)


@pytest.fixture
def world_inbox(world: World) -> Iterator[Inbox]:
    """A loopback SMTP server, written into the world's config."""
    import tomllib

    with smtp_server() as (box, port):
        config = tomllib.loads(world.config_path.read_text())
        config["smtp"] = {"host": "127.0.0.1", "port": port, "retry_delay_s": 0}
        write_config(config, world.config_path)
        world.settings = load_settings(world.config_path, strict=True)
        yield box
