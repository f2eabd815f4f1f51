"""Who a request names: unknown and ambiguous people are clear errors listing candidates, with nothing
queued; a person with no accounts gets a job that is done at once and a plan that says so."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from accessctl.lifecycle import AmbiguousPerson, PersonNotFound, deprovision, lockout
from accessctl.store.models import Person
from accessctl.sync.clock import now
from tests.lifecycle.conftest import World
from tests.lifecycle.helpers import run

PEOPLE = Person.__table__


def _jobs(world: World) -> int:
    with world.engine.connect() as conn:
        return conn.execute(sa.text("select count(*) from job")).scalar_one()


def test_an_unknown_person_is_refused_with_candidates_and_nothing_queued(world: World) -> None:
    someone = world.people_with_accounts()[0]
    typo = someone.email.replace("@", "x@")
    with pytest.raises(PersonNotFound, match=f"no person with employee id or email '{typo}'") as caught:
        run(world, deprovision, person=typo, requested_by="admin:ann")
    assert f"{someone.email} ({someone.employee_id})" in caught.value.candidates
    with pytest.raises(PersonNotFound):
        run(world, lockout, person="E999999", requested_by="admin:ann")
    assert _jobs(world) == 0


def test_an_ambiguous_email_lists_both_people_and_queues_nothing(world: World) -> None:
    someone = world.people_with_accounts()[0]
    with world.engine.begin() as conn:  # a rehire recorded under a new employee id, same address
        conn.execute(
            sa.insert(PEOPLE).values(
                employee_id="E777777", email=someone.email, status="active", updated_at=now()
            )
        )
    with pytest.raises(AmbiguousPerson, match="names 2 people; give the employee id") as caught:
        run(world, deprovision, person=someone.email.upper(), requested_by="admin:ann")
    assert caught.value.candidates == sorted(caught.value.candidates)
    assert f"{someone.email} (E777777)" in caught.value.candidates
    assert _jobs(world) == 0
    by_id = run(world, deprovision, person=someone.employee_id, requested_by="admin:ann", dry_run=True)
    assert by_id.plan.person.id == someone.id


def test_a_person_with_no_accounts_gets_a_job_done_at_once(world: World) -> None:
    with world.engine.begin() as conn:
        conn.execute(
            sa.insert(PEOPLE).values(employee_id="E888888", email="nobody.here@example.com", updated_at=now())
        )
    submitted = run(world, deprovision, person="E888888", requested_by="hr")
    assert submitted.plan.steps == []
    assert submitted.plan.notes == [
        "nobody.here@example.com has no accounts in any configured provider: nothing to do"
    ]
    assert submitted.state == "done"
    with world.engine.connect() as conn:
        assert (
            conn.execute(sa.text(f"select state from job where id = {submitted.job_id}")).scalar_one()
            == "done"
        )
