"""The same delivery posted twice at once: one event, one job, both answered with it."""

from __future__ import annotations

import threading

from sqlalchemy.engine import Engine

from accessctl.hr.intake import HrIntake
from accessctl.hr.store import Accepted
from tests.hr.conftest import JobTableLifecycle, add_person
from tests.hr.helpers import NOW, SECRET, encode, event, signed


def test_two_copies_at_once_store_one_event_and_one_job(engine: Engine, lifecycle: JobTableLifecycle) -> None:
    add_person(engine)
    intake = HrIntake(engine, {"workday": [SECRET]}, lifecycle, clock=lambda: NOW)
    raw = encode(event(termination={"immediate": True}))
    answers: list[Accepted] = []
    start = threading.Barrier(4)

    def post(n: int) -> None:
        start.wait(timeout=10)
        answers.append(intake.receive(signed(raw, webhook_id=f"msg_{n}"), raw))

    threads = [threading.Thread(target=post, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(answers) == 4
    assert len({a.event_id for a in answers}) == 1
    assert sorted(a.replay for a in answers) == [False, True, True, True]
    assert len(lifecycle.calls) == 1
