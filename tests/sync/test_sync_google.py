"""Syncing the Google Workspace emulator through the product path, on SQLite and PostgreSQL, compared
with the synthetic org it serves: counts and a sample of rows field by field."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from accessctl.emulation import emulator_config, write_config
from accessctl.settings import load_settings
from accessctl.sync.service import run_sync
from connectors.emulators.generate import generate_org
from connectors.emulators.runner import RunningEmulators, start_emulators
from tests.sync.groundtruth import (
    ENTITLEMENTS,
    group_grants,
    live_count,
    live_grants,
    role_grants,
    same_instant,
    stored_accounts,
)


def test_google_sync_matches_the_org(tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCESSCTL_SYNC_BACKOFF_BASE_S", "0.01")
    org = generate_org(200, seed=5)
    directory = org.google
    with start_emulators(org, workdir=tmp_path / "emu", providers=("google",)) as running:
        url = engine.url.render_as_string(hide_password=False)
        config = write_config(emulator_config(running, database_url=url), tmp_path / "accessctl.toml")
        summary = run_sync(load_settings(config, strict=True), engine, full=True)
    assert summary.complete, [r.reason for r in summary.results]

    stored = stored_accounts(engine, "google")
    assert len(stored) == len(directory.accounts)
    assert live_count(engine, ENTITLEMENTS, "google", ENTITLEMENTS.c.kind == "group") == len(directory.groups)
    assert live_count(engine, ENTITLEMENTS, "google", ENTITLEMENTS.c.kind == "role") == len(directory.roles)
    direct, inherited = group_grants(directory)
    assert live_grants(engine, "google", "group", inherited=False) == direct
    assert live_grants(engine, "google", "group", inherited=True) == inherited
    direct_roles, inherited_roles = role_grants(directory)
    assert inherited_roles  # an admin role held through a group
    assert live_grants(engine, "google", "role", inherited=False) == direct_roles
    assert live_grants(engine, "google", "role", inherited=True) == inherited_roles
    enrolled = sum(1 for a in directory.accounts if a.mfa_factors)
    states = [r.mfa_state for r in stored.values()]
    assert (states.count("ENROLLED"), states.count("NOT_ENROLLED")) == (
        enrolled,
        len(directory.accounts) - enrolled,
    )

    by_key = {a.key: a for a in directory.accounts}
    by_external_id = {r.external_id: r for r in stored.values()}
    sample = directory.accounts[::17]
    assert any(a.manager_key for a in sample) and any(a.aliases for a in sample)
    for source in sample:
        row = stored[source.login.lower()]
        assert row.status == ("active" if source.status == "active" else "suspended"), source.login
        assert row.aliases == sorted(set(source.aliases)), source.login
        assert row.employee_id == source.employee_id, source.login
        assert (row.department, row.title) == (source.department, source.title), source.login
        assert row.display_name == source.display_name, source.login
        assert same_instant(row.last_login_at, source.last_login), source.login
        assert same_instant(row.created_at, source.created), source.login
        manager = by_external_id[row.manager_external_id].login if row.manager_external_id else None
        expected_manager = by_key[source.manager_key].login if source.manager_key else None
        assert manager == expected_manager, source.login
        expected_mfa = ("ENROLLED", ["2sv"]) if source.mfa_factors else ("NOT_ENROLLED", [])
        assert (row.mfa_state, row.mfa_methods) == expected_mfa, source.login


def google_verify(running: RunningEmulators) -> Any:
    return ssl.create_default_context(cafile=str(running.tls.ca_path)) if running.tls else True


def test_google_incremental_diffs_the_listing(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Google has no change feed: the first incremental pass after a full one finds nothing changed
    (the full pass set the baseline), and after churn it finds exactly the changed users."""
    monkeypatch.setenv("ACCESSCTL_SYNC_BACKOFF_BASE_S", "0.01")
    org = generate_org(300, seed=8)
    with start_emulators(org, workdir=tmp_path / "emu", providers=("google",)) as running:
        url = engine.url.render_as_string(hide_password=False)
        config = write_config(emulator_config(running, database_url=url), tmp_path / "accessctl.toml")
        settings = load_settings(config, strict=True)
        assert run_sync(settings, engine, full=True).complete
        (unchanged,) = run_sync(settings, engine).results
        assert unchanged.mode == "incremental" and unchanged.complete, unchanged.reason
        assert (unchanged.accounts.changed, unchanged.grants.added, unchanged.grants.ended) == (0, 0, 0)

        google = running.providers["google"]
        with httpx.Client(base_url=google.url, verify=google_verify(running)) as http:
            churn = http.post("/_emulator/state/churn", json={"share": 0.1, "seed": 4}).json()
            truth = http.get("/_emulator/state/summary").json()
        (changed,) = run_sync(settings, engine).results
    assert changed.mode == "incremental" and changed.complete, changed.reason
    assert changed.accounts.changed == churn["profile"] + churn["suspended"]
    stored = stored_accounts(engine, "google")
    assert sum(1 for r in stored.values() if r.status == "suspended") == truth["suspended"]
    assert live_grants(engine, "google", "group", inherited=False) == truth["direct_memberships"]
