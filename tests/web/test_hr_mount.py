"""The HR wiring in the app and the service: without ``[hr.sources]`` the intake answers a clear 404
and stores nothing; a failed pass of the scheduler that fires due terminations is one log line."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from accessctl.hr.store import EVENTS
from tests.hr.helpers import NOW, encode, event, signed
from tests.web.conftest import Api


def test_without_hr_sources_the_intake_answers_404(api: Api) -> None:
    raw = encode(event())
    refused = api.post("/v1/hr/events", as_=None, content=raw, headers=signed(raw, at=NOW))
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "hr_not_configured"
    assert "[hr.sources]" in refused.json()["error"]["message"]
    assert api.get("/v1/hr/events/1", as_="read").status_code == 404
    assert api.get("/v1/hr/events/1", as_=None).status_code == 401
    with api.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar_one() == 0


def test_a_failed_pass_of_the_hr_scheduler_is_one_log_line_and_the_next_retries(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from sqlalchemy.exc import OperationalError

    from accessctl.web.service import fire_due_terminations

    class Intake:
        calls = 0

        def fire_due(self) -> int:
            self.calls += 1
            if self.calls == 1:
                raise OperationalError("SELECT", {}, Exception("database is locked"))
            return 2

    intake = Intake()
    with caplog.at_level(logging.INFO, logger="accessctl.web.service"):
        assert fire_due_terminations(intake) == 0  # type: ignore[arg-type]
        assert fire_due_terminations(intake) == 2  # type: ignore[arg-type]
    failed, fired = caplog.records
    assert failed.levelno == logging.ERROR and "database is locked" in failed.getMessage()
    assert failed.exc_info is None  # no traceback in the service's log
    assert "2 future-dated termination(s) fired" in fired.getMessage()
