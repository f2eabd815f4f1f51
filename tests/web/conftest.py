"""The web tests' store: the job tests' migrated templates (SQLite copied, PostgreSQL emptied per
test), a person with access, tokens of each scope, and an httpx client on the app in-process."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from accessctl.audit import GENESIS_HASH
from accessctl.settings import Settings
from accessctl.store.engine import make_engine
from accessctl.store.models import Account, Entitlement, Grant, MfaState, Person
from accessctl.tokens import Scope, create_token
from accessctl.web import create_app
from accessctl.web.metrics import ServiceMetrics
from accessctl.web.runtime import Liveness
from tests.jobs.conftest import _postgres_store, _sqlite_template  # noqa: F401 - fixtures
from tests.jobs.helpers import T0


def _empty_postgres(engine: Engine) -> None:
    tables = [t.name for t in SQLModel.metadata.sorted_tables if t.name != "audit_head"]
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
        conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        conn.execute(sa.text("UPDATE audit_head SET last_seq = 0, last_hash = :h"), {"h": GENESIS_HASH})


def templated_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty store at the current schema, on ``request.param`` (needs the template fixtures)."""
    if request.param == "sqlite":
        path = tmp_path / "accessctl.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        engine = make_engine(f"sqlite:///{path}")
    else:
        engine = make_engine(request.getfixturevalue("_postgres_store"))
        _empty_postgres(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from templated_engine(request, tmp_path)


def seed_person(engine: Engine) -> None:
    """Ada: an Okta account without MFA in the privileged Admins group."""
    with Session(engine) as session:
        person = Person(employee_id="E1", email="ada@example.com", first_name="Ada", last_name="Lovelace")
        group = Entitlement(provider="okta", kind="group", external_id="g1", name="Admins", privileged=True)
        session.add_all([person, group])
        session.flush()
        account = Account(
            provider="okta",
            external_id="u1",
            login="ada@example.com",
            person_id=person.id,
            mfa_state=MfaState.NOT_ENROLLED,
        )
        session.add(account)
        session.flush()
        assert account.id is not None and group.id is not None
        session.add(Grant(account_id=account.id, entitlement_id=group.id))
        session.commit()


@dataclass
class Api:
    """The app in-process, with a token of each scope."""

    app: Any
    engine: Engine
    tokens: dict[str, str]

    def call(self, method: str, path: str, *, as_: str | None = "admin", **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if as_ is not None:
            headers["Authorization"] = f"Bearer {self.tokens.get(as_, as_)}"

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
                return await client.request(method, path, headers=headers, timeout=30, **kw)

        return asyncio.run(go())

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.call("POST", path, **kw)


@pytest.fixture
def api(engine: Engine) -> Api:
    tokens = {
        scope.value: create_token(engine, name=f"{scope.value}-token", scope=scope, by="test", now=T0)[1]
        for scope in Scope
    }
    app = create_app(Settings(), engine, liveness=Liveness(), metrics=ServiceMetrics(engine))
    return Api(app, engine, tokens)
