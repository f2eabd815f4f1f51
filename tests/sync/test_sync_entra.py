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
from accessctl.store.models import Account, Entitlement
from accessctl.sync.patterns import PatternSet
from accessctl.sync.service import run_sync
from connectors.emulators.entra.state import METHODS
from connectors.emulators.generate import generate_org
from connectors.emulators.runner import start_emulators
from tests.sync.groundtruth import live_grants, role_grants, same_instant, stored_accounts, transitive


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
    direct_roles, inherited_roles = role_grants(directory)
    assert inherited_roles  # an admin role held through a group
    assert live_grants(engine, "entra", "role", inherited=False) == direct_roles
    assert live_grants(engine, "entra", "role", inherited=True) == inherited_roles

    # a sample of rows, field by field
    live = stored_accounts(engine, "entra")
    by_key = {a.key: a for a in directory.accounts}
    by_external_id = {r.external_id: r for r in live.values()}
    sample = directory.accounts[::13]
    assert any(a.manager_key for a in sample) and any(not a.mfa_factors for a in sample)
    for source in sample:
        row = live[source.login.lower()]
        assert row.status == ("active" if source.status == "active" else "suspended"), source.login
        primary = {source.login.lower(), (source.email or "").lower()}
        addresses = {a.split(":", 1)[1] if a.lower().startswith("smtp:") else a for a in source.aliases}
        assert row.aliases == sorted(a for a in addresses if a.lower() not in primary), source.login
        assert (row.employee_id, row.department, row.title) == (
            source.employee_id,
            source.department,
            source.title,
        ), source.login
        assert same_instant(row.last_login_at, source.last_login), source.login
        manager = by_external_id[row.manager_external_id].login if row.manager_external_id else None
        assert manager == (by_key[source.manager_key].login if source.manager_key else None), source.login
        methods = sorted({METHODS[f] for f in source.mfa_factors})
        assert (row.mfa_state, row.mfa_methods) == (
            "ENROLLED" if methods else "NOT_ENROLLED",
            methods,
        ), source.login

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
    assert live_grants(engine, "entra", "group") == truth["transitive_memberships"]
    assert live_grants(engine, "entra", "group", inherited=False) == truth["direct_memberships"]


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
        # privileged: what the configured patterns say of each group and app, and every admin role
        groups = PatternSet(settings.sync.privileged_groups)
        apps = PatternSet(settings.sync.privileged_apps)
        entitlements = Entitlement.__table__
        with engine.connect() as conn:
            stored = {
                (r.provider, r.kind, r.name): r.privileged
                for r in conn.execute(sa.select(entitlements).where(entitlements.c.ended_at.is_(None)))
            }
        expected: dict[tuple[str, str, str], bool] = {}
        for provider in ("okta", "entra", "google"):
            directory = org.directory(provider)
            for group in directory.groups:
                expected[(provider, "group", group.name)] = groups.matches(group.name)
            for app in directory.apps:
                expected[(provider, "app", app.label)] = apps.matches(app.label)
        assert {k: v for k, v in stored.items() if k[1] != "role"} == expected
        # the default patterns catch every group and app the generated org deems privileged
        deemed = [
            (provider, kind, name)
            for provider in ("okta", "entra", "google")
            for kind, name, privileged in [
                *(("group", g.name, g.privileged) for g in org.directory(provider).groups),
                *(("app", a.label, a.privileged) for a in org.directory(provider).apps),
            ]
            if privileged
        ]
        assert deemed and all(stored[key] for key in deemed), [k for k in deemed if not stored[k]]
        roles = {(k[0], v) for k, v in stored.items() if k[1] == "role"}
        assert roles == {("okta", True), ("entra", True), ("google", True)}  # every admin role is privileged

        again = run_sync(settings, engine)  # incremental everywhere, nothing changed
        assert [r.mode for r in again.results] == ["incremental"] * 3 and again.complete
        assert sum(r.accounts.changed + r.grants.ended for r in again.results) == 0
