"""Okta admin roles through one listing: a sync reads ``/users/{id}/roles`` only for the users
``GET /api/v1/iam/assignees/users`` names, stores exactly the roles the org holds, ends the roles a
user no longer holds, and reads every user's roles where the org refuses the listing.  Requests are
counted by the emulator's own trace."""

from __future__ import annotations

import re
import ssl
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.emulation import emulator_config, write_config
from accessctl.settings import load_settings
from accessctl.sync.service import run_sync
from connectors.emulators.control import EmulatorControl
from connectors.emulators.generate import generate_org
from connectors.emulators.model import SyntheticOrg
from connectors.emulators.runner import RunningEmulators, start_emulators
from tests.sync.groundtruth import ACCOUNTS, ENTITLEMENTS, GRANTS, live_grants, role_grants

LISTING = "/api/v1/iam/assignees/users"


@dataclass
class Okta:
    org: SyntheticOrg
    running: RunningEmulators
    config: Path
    http: httpx.Client

    @property
    def control(self) -> EmulatorControl:
        return self.running.providers["okta"].control

    def holders(self) -> set[str]:
        """Ids of the users the emulator's org says hold a role, directly or through a group."""
        groups = {g.key: g for g in self.org.okta.groups}
        keys = {k for r in self.org.okta.roles for k in r.assigned_keys}
        keys |= {k for r in self.org.okta.roles for g in r.assigned_group_keys for k in groups[g].member_keys}
        logins = {a.key: a.login for a in self.org.okta.accounts}
        return {self.http.get(f"/api/v1/users/{logins[k]}").json()["id"] for k in keys}


@pytest.fixture
def okta(tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Okta]:
    org = generate_org(300, seed=9)
    running = start_emulators(org, workdir=tmp_path / "emu", providers=("okta",))
    config = emulator_config(running, database_url=str(engine.url.render_as_string(hide_password=False)))
    path = write_config(config, tmp_path / "emu" / "accessctl.toml")
    monkeypatch.setenv("ACCESSCTL_SYNC_BACKOFF_BASE_S", "0.01")
    http = httpx.Client(
        base_url=running.providers["okta"].url,
        verify=ssl.create_default_context(cafile=str(running.tls.ca_path)),
        headers={"Authorization": f"SSWS {running.secrets.okta_api_token}"},
    )
    yield Okta(org, running, path, http)
    http.close()
    running.stop()


def users_read(trace: list[tuple[str, str, str, float]], what: str) -> Counter[str]:
    return Counter(
        p.split("/")[4]
        for m, p, _, _ in trace
        if m == "GET" and re.fullmatch(rf"/api/v1/users/[^/]+/{what}", p)
    )


def trace_of(okta: Okta, engine: Engine, *, full: bool) -> list[tuple[str, str, str, float]]:
    okta.control.trace = []
    summary = run_sync(load_settings(okta.config, strict=True), engine, full=full)
    assert summary.complete, [r.reason for r in summary.results]
    trace, okta.control.trace = okta.control.trace, None
    return trace or []


def assert_roles_match_the_org(okta: Okta, engine: Engine) -> None:
    direct, inherited = role_grants(okta.org.okta)
    assert live_grants(engine, "okta", "role", inherited=False) == direct
    assert live_grants(engine, "okta", "role", inherited=True) == inherited
    assert inherited  # the org holds roles through a group too


def test_a_full_sync_reads_roles_only_of_the_listed_users(okta: Okta, engine: Engine) -> None:
    trace = trace_of(okta, engine, full=True)
    factors, roles = users_read(trace, "factors"), users_read(trace, "roles")
    holders = okta.holders()
    assert len(factors) == len(okta.org.okta.accounts)  # every account's MFA is still read
    assert set(roles) == holders and max(roles.values()) == 1  # roles: once, and only for role holders
    assert len(holders) < len(factors) / 4
    assert sum(1 for _, p, _, _ in trace if p == LISTING) == 1  # one page lists them all
    assert_roles_match_the_org(okta, engine)


def test_a_refused_listing_reads_every_users_roles(okta: Okta, engine: Engine) -> None:
    for answer in ("forbidden", "absent"):
        okta.http.post("/_emulator/state/role-listing", json={"answer": answer}).raise_for_status()
        trace = trace_of(okta, engine, full=True)
        assert set(users_read(trace, "roles")) == set(users_read(trace, "factors"))
        assert len(users_read(trace, "roles")) == len(okta.org.okta.accounts)
        assert_roles_match_the_org(okta, engine)


def test_a_role_no_longer_held_by_an_unlisted_user_is_ended(okta: Okta, engine: Engine) -> None:
    trace_of(okta, engine, full=True)
    groups = {g.key: g for g in okta.org.okta.groups}
    through = {k for r in okta.org.okta.roles for g in r.assigned_group_keys for k in groups[g].member_keys}
    account = next(
        a
        for a in okta.org.okta.accounts
        if a.key not in through and sum(a.key in r.assigned_keys for r in okta.org.okta.roles) == 1
    )
    uid = okta.http.get(f"/api/v1/users/{account.login}").json()["id"]
    (role,) = okta.http.get(f"/api/v1/users/{uid}/roles").json()
    okta.http.delete(f"/api/v1/users/{uid}/roles/{role['id']}").raise_for_status()

    trace = trace_of(okta, engine, full=True)
    assert uid not in users_read(trace, "roles")  # no longer listed: its roles are not read
    with engine.connect() as conn:
        ended = conn.execute(
            sa.select(GRANTS.c.ended_at, GRANTS.c.ended_reason)
            .select_from(GRANTS.join(ACCOUNTS, ACCOUNTS.c.id == GRANTS.c.account_id))
            .join(ENTITLEMENTS, ENTITLEMENTS.c.id == GRANTS.c.entitlement_id)
            .where(ACCOUNTS.c.external_id == uid, ENTITLEMENTS.c.kind == "role")
        ).one()
    assert ended.ended_at is not None and "no longer held" in ended.ended_reason
    direct, _ = role_grants(okta.org.okta)
    assert live_grants(engine, "okta", "role", inherited=False) == direct - 1


def test_an_incremental_sync_reads_a_changed_users_roles_once(okta: Okta, engine: Engine) -> None:
    trace_of(okta, engine, full=True)
    holders = okta.holders()
    holder = sorted(holders)[0]
    active = [okta.http.get(f"/api/v1/users/{a.login}").json() for a in okta.org.okta.accounts[:40]]
    other = next(u["id"] for u in active if u["status"] == "ACTIVE" and u["id"] not in holders)
    for uid in (holder, other):
        okta.http.post(f"/api/v1/users/{uid}", json={"profile": {"title": "Changed"}}).raise_for_status()

    trace = trace_of(okta, engine, full=False)
    roles, factors = users_read(trace, "roles"), users_read(trace, "factors")
    assert roles[holder] == roles[other] == 1  # with its grants; the MFA lookup does not read them again
    assert factors[holder] == factors[other] == 1
    assert_roles_match_the_org(okta, engine)
