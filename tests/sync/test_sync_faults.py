"""Failures and interruptions mid-sync, on every provider's emulator: a partial pass ends nothing and
is recorded incomplete; the next pass resumes it and matches ground truth exactly."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl import audit
from accessctl.emulation import emulator_config, write_config
from accessctl.settings import Settings, load_settings
from accessctl.store.models import AuditEvent, SyncRun
from accessctl.sync import service
from accessctl.sync.checkpoints import FULL_STREAM, load_checkpoint, load_parts
from accessctl.sync.service import run_sync
from connectors.base import Connector, EntitlementKind, EntitlementRef, GrantRecord, Page
from connectors.emulators.generate import generate_org
from connectors.emulators.runner import RunningEmulators, start_emulators
from tests.conftest import on_databases
from tests.sync.groundtruth import ACCOUNTS, ENTITLEMENTS, group_grants, live_count, live_grants

#: the account listing, and one group's member listing, of each provider's API
PATHS = {
    "okta": ("/api/v1/users", "/api/v1/groups/{}/users"),
    "entra": ("/v1.0/users", "/v1.0/groups/{}/members"),
    "google": ("/admin/directory/v1/users", "/admin/directory/v1/groups/{}/members"),
}
PRIVILEGED_GROUP = "aws-prod-admins"  # in every provider, flat, assigned to no app


def settings_for(running: RunningEmulators, engine: Engine, tmp_path: Path, provider: str) -> Path:
    config = emulator_config(running, database_url=engine.url.render_as_string(hide_password=False))
    config[provider]["page_size"] = 50  # several pages of accounts
    return write_config(config, tmp_path / "accessctl.toml")


def group_id(engine: Engine, provider: str, name: str) -> str:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(ENTITLEMENTS.c.external_id).where(
                ENTITLEMENTS.c.provider == provider,
                ENTITLEMENTS.c.kind == "group",
                ENTITLEMENTS.c.name == name,
            )
        ).scalar_one()


def run_row(engine: Engine, run_id: int) -> sa.Row:
    runs = SyncRun.__table__
    with engine.connect() as conn:
        return conn.execute(sa.select(runs).where(runs.c.id == run_id)).one()


# every provider and page on SQLite; on PostgreSQL each provider once (what differs there is the store)
@pytest.mark.parametrize(
    ("db_url", "provider", "page"),
    on_databases(
        *(
            ("sqlite", provider, page)
            for provider in ("okta", "entra", "google")
            for page in ("accounts", "grants")
        ),
        ("postgres", "okta", "grants"),
        ("postgres", "entra", "accounts"),
        ("postgres", "google", "grants"),
    ),
    indirect=["db_url"],
)
def test_failed_page_ends_nothing_and_the_rerun_matches_ground_truth(
    provider: str, page: str, tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCESSCTL_SYNC_BACKOFF_BASE_S", "0.01")
    org = generate_org(150, seed=12)
    directory = org.directory(provider)
    with start_emulators(org, workdir=tmp_path / "emu", providers=(provider,)) as running:
        config = settings_for(running, engine, tmp_path, provider)
        assert run_sync(load_settings(config, strict=True), engine, full=True).complete
        accounts_before = live_count(engine, ACCOUNTS, provider)
        groups_before = live_grants(engine, provider, "group")

        # one membership removed in the provider, with the product's own action
        group = next(g for g in directory.groups if g.name == PRIVILEGED_GROUP)
        victim = next(a for a in directory.accounts if a.key in group.member_keys and a.person_employee_id)
        gid = group_id(engine, provider, PRIVILEGED_GROUP)
        with engine.connect() as conn:
            uid = conn.execute(
                sa.select(ACCOUNTS.c.external_id).where(
                    ACCOUNTS.c.provider == provider, sa.func.lower(ACCOUNTS.c.login) == victim.login.lower()
                )
            ).scalar_one()

        async def remove() -> None:
            connector = service.build_connector(load_settings(config, strict=True), provider)
            try:
                await connector.remove_grant(GrantRecord(uid, EntitlementKind.GROUP, gid))
            finally:
                await connector.aclose()

        asyncio.run(remove())

        monkeypatch.setenv("ACCESSCTL_SYNC_MAX_ATTEMPTS", "1")
        accounts_path, grants_path = PATHS[provider]
        spec = f"page:{accounts_path}:2" if page == "accounts" else f"page:{grants_path.format(gid)}:1"
        running.providers[provider].control.set_faults(spec)
        (failed,) = run_sync(load_settings(config, strict=True), engine, full=True).results
        assert not failed.complete and failed.failure == "TransientError", failed.reason
        assert (failed.accounts.ended, failed.grants.ended) == (0, 0)
        assert live_count(engine, ACCOUNTS, provider) == accounts_before
        assert live_grants(engine, provider, "group") == groups_before  # the removal is not applied yet
        row = run_row(engine, failed.run_id)
        assert (row.complete, row.incomplete_reason) == (False, failed.reason)
        assert row.finished_at is not None

        running.providers[provider].control.set_faults(None)
        (rerun,) = run_sync(load_settings(config, strict=True), engine, full=True).results
    assert rerun.complete and rerun.resumed and rerun.run_id == failed.run_id, rerun.reason
    assert (rerun.accounts.ended, rerun.grants.ended) == (0, 1)  # the removed membership, nothing else
    assert live_count(engine, ACCOUNTS, provider) == accounts_before
    assert live_grants(engine, provider, "group") == sum(group_grants(directory)) - 1

    events = AuditEvent.__table__
    with engine.connect() as conn:
        (event,) = conn.execute(sa.select(events).where(events.c.action == "sync.grant_ended")).all()
        assert audit.verify(conn).ok
    assert [(g["account"].lower(), g["entitlement"]) for g in event.details["ended"]] == [
        (victim.login.lower(), PRIVILEGED_GROUP)
    ]
    assert event.details["sync_run_id"] == rerun.run_id


class CancelledAfter:
    """A connector that is interrupted (as by Ctrl-C) after ``pages`` pages of grants."""

    def __init__(self, inner: Connector, pages: int) -> None:
        self.inner = inner
        self.pages = pages

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def list_grants(self, entitlement: EntitlementRef, cursor: str | None) -> Page[GrantRecord]:
        if self.pages <= 0:
            raise asyncio.CancelledError
        self.pages -= 1
        return await self.inner.list_grants(entitlement, cursor)


def test_an_interrupted_sync_resumes_where_it_stopped(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = generate_org(200, seed=14)
    with start_emulators(org, workdir=tmp_path / "emu", providers=("okta",)) as running:
        config = settings_for(running, engine, tmp_path, "okta")
        build = service.build_connector

        def interrupted(settings: Settings, name: str) -> Any:
            return CancelledAfter(build(settings, name), pages=10)

        monkeypatch.setattr(service, "build_connector", interrupted)
        with pytest.raises(asyncio.CancelledError):
            run_sync(load_settings(config, strict=True), engine, full=True)
        runs = SyncRun.__table__
        with engine.connect() as conn:
            (row,) = conn.execute(sa.select(runs)).all()
        assert (row.complete, row.incomplete_reason) == (False, "interrupted") and row.finished_at is not None
        assert row.cursor == {"phase": "grants"}
        # the page-by-page checkpoint stays small whatever the org's size: what the pass gathers
        # (the entitlements to list, those done) sits in parts written once each
        with engine.connect() as conn:
            state = load_checkpoint(conn, "okta", FULL_STREAM)
            targets = load_parts(conn, "okta", "targets")
            done = load_parts(conn, "okta", "grants_done")
        assert state is not None and len(json.dumps(state)) < 300, state
        assert sum(len(part) for part in targets) == len(org.okta.groups) + len(org.okta.apps)
        assert 0 < len(done) < sum(len(part) for part in targets)

        monkeypatch.setattr(service, "build_connector", build)
        (resumed,) = run_sync(load_settings(config, strict=True), engine, full=True).results
        assert resumed.complete and resumed.resumed and resumed.run_id == row.id, resumed.reason
        (again,) = run_sync(load_settings(config, strict=True), engine, full=True).results  # a whole pass
    assert again.complete and not again.resumed
    assert resumed.requests < again.requests
    assert (again.accounts.ended, again.grants.ended) == (0, 0)
    assert (again.accounts.added, again.grants.added) == (0, 0)
    directory = org.okta
    assert live_count(engine, ACCOUNTS, "okta") == len(directory.accounts)
    assert live_grants(engine, "okta", "group") == sum(group_grants(directory))
