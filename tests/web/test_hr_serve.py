"""The HR intake in a real `accessctl serve` (the lifecycle's own step executor) on the emulators:
a signed immediate termination is answered 202 and, within seconds, the person is suspended in all
three providers (read back through the connectors); the status endpoint (a read token) shows the job
done; a replay changes nothing; a future-dated termination is fired by the service's scheduler; a bad
signature is a 401, stores nothing and is counted in /metrics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.hr.helpers import signed
from tests.hr.world import accounts_of, jobs, termination, with_hr_source
from tests.lifecycle.conftest import _world
from tests.lifecycle.helpers import direct, live
from tests.web.hr_service import Service, serve

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("hr-serve")
    for world in _world(tmp, f"sqlite:///{tmp / 'store.db'}"):
        with_hr_source(world, fire_due_every_s=1)
        world.reload(guard={"max_per_hour": 10, "max_share": 1.0})
        yield from serve(world)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_an_immediate_termination_suspends_the_person_everywhere(service: Service) -> None:
    world = service.world
    person = world.people_with_accounts()[0]
    accounts = accounts_of(world, person.id)
    now = _now()
    raw = termination(person.employee_id, person.email, id_="term-now", occurred_at=now)
    answer = service.post(raw, signed(raw, webhook_id="msg-now", at=now))
    assert answer.status_code == 202, answer.text
    event_id = answer.json()["event_id"]
    assert answer.json()["status_url"] == f"/v1/hr/events/{event_id}"

    shown = service.job_finished(event_id)
    assert shown["status"] == "applied" and shown["job"]["kind"] == "leaver"
    assert shown["job"]["state"] == "done", [(s["action"], s["last_answer"]) for s in shown["job"]["steps"]]
    for provider, (record, grants, _lock) in live(world, accounts).items():
        assert record is not None and str(record.status) != "active", provider
        assert direct(grants) == set(), provider

    before = len(jobs(world))
    replay = service.post(raw, signed(raw, webhook_id="msg-now", at=_now()))
    assert replay.status_code == 202 and replay.json()["event_id"] == event_id
    assert len(jobs(world)) == before


def test_a_future_dated_termination_is_fired_by_the_service(service: Service) -> None:
    world = service.world
    person = world.people_with_accounts()[1]
    accounts = accounts_of(world, person.id)
    now = _now()
    raw = termination(
        person.employee_id,
        person.email,
        id_="term-soon",
        occurred_at=now,
        effective_at=now + timedelta(seconds=3),
    )
    answer = service.post(raw, signed(raw, webhook_id="msg-soon", at=now))
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "scheduled"
    event_id = answer.json()["event_id"]
    assert service.status(event_id)["job"] is None

    shown = service.job_finished(event_id)
    assert shown["job"]["state"] == "done" and shown["schedule"]["state"] == "fired"
    assert datetime.fromisoformat(shown["job"]["created_at"]) >= now + timedelta(seconds=3)
    for provider, (record, _grants, _lock) in live(world, accounts).items():
        assert record is not None and str(record.status) != "active", provider


def test_a_bad_signature_is_refused_stores_nothing_and_is_counted(service: Service) -> None:
    world = service.world
    person = world.people_with_accounts()[2]
    now = _now()
    raw = termination(person.employee_id, person.email, id_="term-forged", occurred_at=now)
    headers = signed(raw, webhook_id="msg-forged", at=now)
    forged = raw.replace(b"term-forged", b"term-forgeD")
    before = len(jobs(world))
    refused = service.post(forged, headers)
    assert refused.status_code == 401
    assert refused.json()["error"] == "signature_mismatch"
    assert len(jobs(world)) == before
    metrics = httpx.get(f"{service.base}/metrics", timeout=10).text
    assert 'accessctl_hr_events_rejected_total{reason="signature_mismatch"} 1.0' in metrics
    anonymous = httpx.get(f"{service.base}/v1/hr/events/1", timeout=10)
    assert anonymous.status_code == 401
