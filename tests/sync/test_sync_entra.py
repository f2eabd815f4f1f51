"""Syncing the Entra emulator (and Okta beside it) through the product path, against ground truth."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.emulation import emulator_config, write_config
from accessctl.settings import load_settings
from accessctl.store.models import Account, Entitlement, Grant
from accessctl.sync.service import run_sync
from connectors.emulators.generate import generate_org
from connectors.emulators.model import Directory
from connectors.emulators.runner import start_emulators


def transitive(directory: Directory, group_key: str) -> set[str]:
    groups = {g.key: g for g in directory.groups}
    seen: set[str] = set()
    stack, visited = [group_key], {group_key}
    while stack:
        group = groups[stack.pop()]
        seen.update(group.member_keys)
        for child in group.child_group_keys:
            if child not in visited:
                visited.add(child)
                stack.append(child)
    return seen


def live_grants(engine: Engine, provider: str, kind: str) -> int:
    g, e, a = Grant.__table__, Entitlement.__table__, Account.__table__
    with engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count())
            .select_from(g.join(e, e.c.id == g.c.entitlement_id).join(a, a.c.id == g.c.account_id))
            .where(e.c.kind == kind, e.c.provider == provider, g.c.ended_at.is_(None))
        ).scalar_one()


@pytest.fixture
def emulators(tmp_path: Path):
    org = generate_org(250, seed=21)
    running = start_emulators(org, workdir=tmp_path / "emu", providers=("okta", "entra"))
    yield org, running
    running.stop()


def test_okta_and_entra_together_match_ground_truth(emulators, engine: Engine, tmp_path: Path) -> None:
    org, running = emulators
    url = engine.url.render_as_string(hide_password=False)
    config = write_config(emulator_config(running, database_url=url), tmp_path / "accessctl.toml")
    summary = run_sync(load_settings(config, strict=True), engine, full=True)
    assert summary.complete, [r.reason for r in summary.results]
    assert {r.provider for r in summary.results} == {"okta", "entra"}

    directory = org.entra
    accounts = Account.__table__
    with engine.connect() as conn:
        stored = {r.login: r for r in conn.execute(sa.select(accounts).where(accounts.c.provider == "entra"))}
    assert len(stored) == len(directory.accounts)
    assert sum(1 for r in stored.values() if r.mfa_state == "ENROLLED") == sum(
        1 for a in directory.accounts if a.mfa_factors
    )
    assert live_grants(engine, "entra", "group") == sum(
        len(transitive(directory, g.key)) for g in directory.groups
    )
    expected_apps = 0
    for app in directory.apps:
        holders = set(app.assigned_keys)
        for group_key in app.assigned_group_keys:
            holders |= transitive(directory, group_key)
        expected_apps += len(holders)
    assert live_grants(engine, "entra", "app") == expected_apps
    assert live_grants(engine, "entra", "role") == sum(len(r.assigned_keys) for r in directory.roles)

    # correlation links people across providers, whatever their UPN
    with engine.connect() as conn:
        per_person = conn.execute(
            sa.select(accounts.c.person_id, sa.func.count(sa.distinct(accounts.c.provider)))
            .where(accounts.c.person_id.is_not(None))
            .group_by(accounts.c.person_id)
        ).all()
    assert sum(1 for _, providers in per_person if providers == 2) > 0.8 * len(org.people)


def test_incremental_entra_follows_delta(emulators, engine: Engine, tmp_path: Path) -> None:
    _, running = emulators
    url = engine.url.render_as_string(hide_password=False)
    config = write_config(emulator_config(running, database_url=url), tmp_path / "accessctl.toml")
    settings = load_settings(config, strict=True)
    first = run_sync(settings, engine, providers=["entra"])
    assert first.results[0].mode == "full" and first.complete
    entra = running.providers["entra"]
    with httpx.Client(
        base_url=entra.url, verify=ssl.create_default_context(cafile=str(running.tls.ca_path))
    ) as http:
        churn = http.post("/_emulator/state/churn", json={"share": 0.1, "seed": 3}).json()
        truth = http.get("/_emulator/state/summary").json()
    second = run_sync(settings, engine, providers=["entra"])
    (result,) = second.results
    assert result.mode == "incremental" and result.complete, result.reason
    assert result.accounts.changed >= churn["disabled"] + churn["profile"]
    accounts = Account.__table__
    with engine.connect() as conn:
        enabled = conn.execute(
            sa.select(sa.func.count()).where(accounts.c.provider == "entra", accounts.c.status == "active")
        ).scalar_one()
    assert enabled == truth["enabled"]
    assert live_grants(engine, "entra", "group") >= truth["direct_memberships"]


def test_all_three_providers_in_one_sync(tmp_path: Path, engine: Engine) -> None:
    org = generate_org(120, seed=33)
    with start_emulators(org, workdir=tmp_path / "emu") as running:
        url = engine.url.render_as_string(hide_password=False)
        config = write_config(emulator_config(running, database_url=url), tmp_path / "accessctl.toml")
        settings = load_settings(config, strict=True)
        summary = run_sync(settings, engine, full=True)
        assert summary.complete, [r.reason for r in summary.results]
        with engine.connect() as conn:
            per_provider = dict(
                conn.execute(
                    sa.select(Account.__table__.c.provider, sa.func.count()).group_by(
                        Account.__table__.c.provider
                    )
                ).all()
            )
        assert per_provider == {p: len(org.directory(p).accounts) for p in ("okta", "entra", "google")}
        google_group_grants = live_grants(engine, "google", "group")
        assert google_group_grants == sum(len(transitive(org.google, g.key)) for g in org.google.groups)
        again = run_sync(settings, engine)  # incremental everywhere, nothing changed
        assert [r.mode for r in again.results] == ["incremental"] * 3 and again.complete
        assert sum(r.accounts.changed + r.grants.ended for r in again.results) == 0
