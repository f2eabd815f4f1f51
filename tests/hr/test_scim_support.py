"""Fixtures and helpers the SCIM tests share (no tests here): a store, the app with /scim/v2/
mounted over a job-recording lifecycle, tokens of each scope, and a scim2-client engine over
FastAPI's TestClient."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from scim2_client import BaseSyncSCIMClient
from scim2_client.engines.inprocess import _stays_under_base_url
from sqlalchemy.engine import Engine

from accessctl.hr.scim.users import ScimUsers
from accessctl.hr.store import EVENTS, PEOPLE
from accessctl.jobs.tables import JOBS
from accessctl.settings import Settings
from accessctl.store.models import ScimUser as ScimUserRow
from accessctl.tokens import Scope, create_token
from accessctl.web import create_app
from accessctl.web.metrics import ServiceMetrics
from accessctl.web.runtime import Liveness
from accessctl.web.scim import mount_scim
from tests.hr.conftest import JobTableLifecycle
from tests.jobs.conftest import _postgres_store, _sqlite_template
from tests.web.conftest import templated_engine

USERS: sa.Table = ScimUserRow.__table__  # type: ignore[attr-defined]
CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
BASE = "http://testserver/scim/v2"
T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        self.at += timedelta(seconds=1)  # each mutation a moment after the last
        return self.at


@pytest.fixture(params=["sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from templated_engine(request, tmp_path)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from templated_engine(request, tmp_path)


class Scim:
    """The app in-process with /scim/v2/ mounted, a token of each scope, and the jobs it made."""

    def __init__(self, engine: Engine, app: FastAPI, lifecycle: JobTableLifecycle | None) -> None:
        self.engine = engine
        self.app = app
        self.lifecycle = lifecycle
        self.tokens = {
            s.value: create_token(engine, name=f"{s.value}-token", scope=s, by="test", now=T0)[1]
            for s in Scope
        }
        self.http = TestClient(app, base_url=BASE + "/", raise_server_exceptions=False)

    def call(self, method: str, path: str, *, as_: str | None = "hr", **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if as_ is not None:
            headers.setdefault("Authorization", f"Bearer {self.tokens.get(as_, as_)}")
        if "json" in kw:
            headers.setdefault("Content-Type", "application/scim+json")
        return self.http.request(method, path.lstrip("/"), headers=headers, **kw)

    def create(self, **attrs: Any) -> dict[str, Any]:
        answer = self.call("POST", "Users", json=user(**attrs))
        assert answer.status_code == 201, answer.text
        return answer.json()

    def patch(self, user_id: str, *operations: dict[str, Any], **kw: Any) -> httpx.Response:
        return self.call(
            "PATCH", f"Users/{user_id}", json={"schemas": [PATCH_OP], "Operations": list(operations)}, **kw
        )

    def snapshot(self) -> tuple[list[tuple], list[tuple], list[tuple], list[tuple]]:
        """Every SCIM row, HR event, person and job: what a refusal must leave as it was."""
        with self.engine.connect() as conn:
            return tuple(  # type: ignore[return-value]
                [tuple(r) for r in conn.execute(sa.select(t).order_by(*t.primary_key.columns))]
                for t in (USERS, EVENTS, PEOPLE, JOBS)
            )

    def events(self) -> list[sa.Row]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(EVENTS).order_by(EVENTS.c.id)))

    def jobs(self) -> list[sa.Row]:
        with self.engine.connect() as conn:
            return list(conn.execute(sa.select(JOBS).order_by(JOBS.c.id)))

    def person(self, employee_id: str) -> sa.Row:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(PEOPLE).where(PEOPLE.c.employee_id == employee_id)).one()


def scim_app(engine: Engine, *, settings: Settings | None = None) -> tuple[FastAPI, JobTableLifecycle]:
    """The service's app (SCIM off in its settings) with /scim/v2/ mounted over a lifecycle that
    records each leaver and restore as a job row."""
    settings = settings or Settings()
    app = create_app(settings, engine, liveness=Liveness(), metrics=ServiceMetrics(engine))
    lifecycle = JobTableLifecycle()
    mount_scim(app, ScimUsers(engine, lifecycle, clock=Clock(T0), max_results=50))
    return app, lifecycle


@pytest.fixture
def scim(store: Engine) -> Scim:
    app, lifecycle = scim_app(store)
    return Scim(store, app, lifecycle)


def user(
    user_name: str = "ada@example.com",
    *,
    employee_number: str = "E100",
    email: str | None = None,
    active: Any = True,
    department: str | None = "Engineering",
    manager: str | None = None,
    **more: Any,
) -> dict[str, Any]:
    """A User as Entra sends one (core + enterprise extension)."""
    enterprise: dict[str, Any] = {"employeeNumber": employee_number}
    if department is not None:
        enterprise["department"] = department
    if manager is not None:
        enterprise["manager"] = {"value": manager}
    return {
        "schemas": [CORE, ENTERPRISE],
        "userName": user_name,
        "active": active,
        "displayName": user_name.split("@")[0].title(),
        "name": {"givenName": user_name.split("@")[0].title(), "familyName": "Example"},
        "emails": [{"value": email or user_name, "type": "work", "primary": True}],
        ENTERPRISE: enterprise,
        **more,
    }


class InProcessScimClient(BaseSyncSCIMClient):
    """scim2-client over FastAPI's TestClient (an httpx client), as scim2-tester drives a server."""

    def __init__(self, client: TestClient, *args: Any, base_url: str = BASE, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client = client
        self.base_url = base_url

    def _stays_under_base_url(self, endpoint: str) -> bool:
        return _stays_under_base_url(self.base_url, endpoint)

    def _parse_json(self, response: Any) -> Any:
        return response.json()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.client.request(method, url.lstrip("/") if not url.startswith("http") else url, **kwargs)


#: the fixtures a SCIM test module takes in with ``globals().update(FIXTURES)``
FIXTURES = {
    "_sqlite_template": _sqlite_template,
    "_postgres_store": _postgres_store,
    "store": store,
    "any_store": any_store,
    "scim": scim,
}
