"""Without ``[hr.sources]`` the HR intake is off: its routes answer a clear 404 and store nothing."""

from __future__ import annotations

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
