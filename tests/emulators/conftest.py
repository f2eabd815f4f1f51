"""Fixtures: generated orgs and emulators served over TLS on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from connectors.emulators.control import EmulatorControl
from connectors.emulators.generate import generate_org
from connectors.emulators.model import SyntheticOrg
from connectors.emulators.server import ServerThread, TlsMaterial


@pytest.fixture(scope="session")
def org_1000() -> SyntheticOrg:
    return generate_org(1000, seed=3)


@pytest.fixture(scope="session")
def small_org() -> SyntheticOrg:
    return generate_org(200, seed=7)


Serve = Callable[..., tuple[ServerThread, EmulatorControl]]


@pytest.fixture
def serve(tls: TlsMaterial) -> Iterator[Serve]:
    """serve(create_app, directory, **kwargs) -> (server, control), stopped after the test."""
    servers: list[ServerThread] = []

    def start(create_app: Callable[..., Any], directory: Any, *, use_tls: bool = True, **kwargs: Any) -> Any:
        control = EmulatorControl()
        server = ServerThread(tls=tls if use_tls else None)
        server.app = create_app(directory, control, base_url=server.url, **kwargs)
        servers.append(server.start())
        return server, control

    yield start
    for server in servers:
        server.stop()
