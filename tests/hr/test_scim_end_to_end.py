"""SCIM end to end on the seeded org: the service (``[hr.scim] enabled = true``, built by
create_app with the real lifecycle) takes an Entra-style provisioning of a real employee, then a
DELETE; the leaver job it queued runs on the workers' path and the person is locked out of all
three emulators, read back through the connectors."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from accessctl.emulation import write_config
from accessctl.settings import load_settings
from accessctl.tokens import Scope, create_token
from accessctl.web import create_app
from accessctl.web.metrics import ServiceMetrics
from accessctl.web.runtime import Liveness
from tests.hr.test_scim_support import BASE, T0, user
from tests.hr.world import accounts_of, jobs
from tests.lifecycle.conftest import World, _world
from tests.lifecycle.helpers import direct, finish, live

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    for made in _world(tmp_path, f"sqlite:///{tmp_path / 'store.db'}"):
        config = tomllib.loads(made.config_path.read_text())
        config.setdefault("hr", {})["scim"] = {"enabled": True}
        write_config(config, made.config_path)
        made.settings = load_settings(made.config_path, strict=True)
        yield made


def test_a_scim_delete_locks_the_person_out_of_every_provider(world: World) -> None:
    from fastapi.testclient import TestClient

    person = world.people_with_accounts()[0]
    accounts = accounts_of(world, person.id)
    token = create_token(world.engine, name="entra", scope=Scope.HR, by="test", now=T0)[1]
    app = create_app(world.settings, world.engine, liveness=Liveness(), metrics=ServiceMetrics(world.engine))
    http = TestClient(app, base_url=BASE + "/")
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}

    # Entra looks the user up first, then creates them: the roster's person, linked by employee id
    assert (
        http.get("Users", params={"filter": f'userName eq "{person.email}"'}, headers=auth).json()[
            "totalResults"
        ]
        == 0
    )
    body = user(person.email, employee_number=person.employee_id)
    created = http.post("Users", json=body, headers=auth)
    assert created.status_code == 201, created.text
    assert jobs(world) == []  # provisioning someone already employed changes nothing in providers

    gone = http.delete(f"Users/{created.json()['id']}", headers=auth)
    assert gone.status_code == 204, gone.text
    [job] = jobs(world)
    assert (job.kind, job.person_id, job.state) == ("leaver", person.id, "planning")  # a worker plans it
    assert http.get(f"Users/{created.json()['id']}", headers=auth).status_code == 404

    assert finish(world, job.id).state == "done"
    for provider, (record, grants, _lock) in live(world, accounts).items():
        assert record is not None and str(record.status) != "active", provider
        assert direct(grants) == set(), provider
