"""Google's incremental pass follows the admin audit log (Reports API) for groups and admin roles,
through the product path, on SQLite and PostgreSQL: a membership swap that leaves a group's member
count as it was, role assignments made and removed, a failed log page, and late log data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from google.oauth2 import service_account
from googleapiclient.discovery import build
from sqlalchemy.engine import Engine

from accessctl.emulation import emulator_config, write_config
from accessctl.settings import Settings, load_settings
from accessctl.sync.service import run_sync
from connectors.emulators.generate import generate_org
from connectors.emulators.runner import RunningEmulators, start_emulators
from tests.sync.groundtruth import ACCOUNTS, ENTITLEMENTS, GRANTS

REPORTS_PATH = "/admin/reports/v1/activity/users/all/applications/admin"


@pytest.fixture
def google(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningEmulators]:
    monkeypatch.setenv("ACCESSCTL_SYNC_BACKOFF_BASE_S", "0.01")
    org = generate_org(150, seed=11)
    with start_emulators(org, workdir=tmp_path / "emu", tls=False, providers=("google",)) as running:
        yield running


def settings_for(running: RunningEmulators, engine: Engine, tmp_path: Path) -> Settings:
    url = engine.url.render_as_string(hide_password=False)
    return load_settings(
        write_config(emulator_config(running, database_url=url), tmp_path / "accessctl.toml"), strict=True
    )


def directory(running: RunningEmulators) -> Any:
    """The Directory API as an administrator of the emulated domain uses it (changes between passes)."""
    provider = running.providers["google"]
    info = json.loads(provider.credential_files["service_account_key"].read_text())
    credentials = service_account.Credentials.from_service_account_info(
        info,
        scopes=[
            "https://www.googleapis.com/auth/admin.directory.group.member",
            "https://www.googleapis.com/auth/admin.directory.group.readonly",  # groups.get
            "https://www.googleapis.com/auth/admin.directory.rolemanagement",
        ],
    ).with_subject(running.secrets.google_admin_email)
    return build(
        "admin",
        "directory_v1",
        credentials=credentials,
        static_discovery=True,
        client_options={"api_endpoint": provider.url},
    )


def held(engine: Engine, entitlement_external_id: str, *, inherited: bool = False) -> set[str]:
    """Logins holding the entitlement (live grants) in the store."""
    query = (
        sa.select(ACCOUNTS.c.login)
        .select_from(
            GRANTS.join(ACCOUNTS, ACCOUNTS.c.id == GRANTS.c.account_id).join(
                ENTITLEMENTS, ENTITLEMENTS.c.id == GRANTS.c.entitlement_id
            )
        )
        .where(
            ENTITLEMENTS.c.provider == "google",
            ENTITLEMENTS.c.external_id == entitlement_external_id,
            GRANTS.c.ended_at.is_(None),
            GRANTS.c.inherited.is_(inherited),
        )
    )
    with engine.connect() as conn:
        return {row[0].lower() for row in conn.execute(query)}


def ended_reason(engine: Engine, entitlement_external_id: str, login: str) -> str | None:
    query = (
        sa.select(GRANTS.c.ended_reason)
        .select_from(
            GRANTS.join(ACCOUNTS, ACCOUNTS.c.id == GRANTS.c.account_id).join(
                ENTITLEMENTS, ENTITLEMENTS.c.id == GRANTS.c.entitlement_id
            )
        )
        .where(
            ENTITLEMENTS.c.external_id == entitlement_external_id,
            sa.func.lower(ACCOUNTS.c.login) == login.lower(),
            GRANTS.c.inherited.is_(False),
            GRANTS.c.ended_at.is_not(None),
        )
    )
    with engine.connect() as conn:
        return conn.execute(query).scalar()


def swap(running: RunningEmulators) -> tuple[dict[str, Any], str, str]:
    """Remove one member of a plain group and add an outsider: its member count stays the same."""
    api = directory(running)
    state = running.providers["google"].server.app.app.state.google
    with state.lock:
        group = next(
            g for g in state.groups.values() if "GROUP" not in g.members.values() and len(g.members) >= 3
        )
        leaving = state.users[next(iter(group.members))].body["primaryEmail"]
        joining = next(
            u.body["primaryEmail"]
            for u in state.users.values()
            if u.id not in group.members and not u.body["suspended"]
        )
    before = api.groups().get(groupKey=group.id).execute()
    api.members().delete(groupKey=group.id, memberKey=leaving).execute()
    api.members().insert(groupKey=group.id, body={"email": joining, "role": "MEMBER"}).execute()
    after = api.groups().get(groupKey=group.id).execute()
    assert after["directMembersCount"] == before["directMembersCount"]  # what the count diff relied on
    return after, leaving.lower(), joining.lower()


def members_now(running: RunningEmulators, group_id: str) -> set[str]:
    state = running.providers["google"].server.app.app.state.google
    with state.lock:
        return {
            state.users[m].body["primaryEmail"].lower()
            for m, kind in state.groups[group_id].members.items()
            if kind == "USER"
        }


def test_a_membership_swap_is_seen_by_the_next_incremental_pass(
    google: RunningEmulators, engine: Engine, tmp_path: Path
) -> None:
    settings = settings_for(google, engine, tmp_path)
    assert run_sync(settings, engine, full=True).complete
    group, leaving, joining = swap(google)
    assert leaving in held(engine, group["id"]) and joining not in held(engine, group["id"])

    (result,) = run_sync(settings, engine).results
    assert result.mode == "incremental" and result.complete, result.reason
    assert held(engine, group["id"]) == members_now(google, group["id"])
    assert leaving not in held(engine, group["id"]) and joining in held(engine, group["id"])
    assert "no longer listed (incremental sync run" in (ended_reason(engine, group["id"], leaving) or "")
    assert result.grants.ended >= 1 and result.grants.added >= 1

    (again,) = run_sync(settings, engine).results  # the overlap re-reads the swap: acted on once
    assert again.complete and (again.grants.added, again.grants.ended) == (0, 0)


def test_admin_roles_assigned_and_unassigned_are_seen_incrementally(
    google: RunningEmulators, engine: Engine, tmp_path: Path
) -> None:
    settings = settings_for(google, engine, tmp_path)
    assert run_sync(settings, engine, full=True).complete
    api = directory(google)
    roles = {r["roleName"]: r["roleId"] for r in api.roles().list(customer="my_customer").execute()["items"]}
    groups_admin = roles["_GROUPS_ADMIN_ROLE"]
    state = google.providers["google"].server.app.app.state.google
    with state.lock:
        newcomer = next(
            u
            for u in state.users.values()
            if not u.body["suspended"]
            and not any(a["assignedTo"] == u.id for a in state.role_assignments.values())
        )
        direct = next(
            a
            for a in state.role_assignments.values()
            if a["assigneeType"] == "user" and a["roleId"] != roles["_SEED_ADMIN_ROLE"]
        )
        revoked = state.users[direct["assignedTo"]].body["primaryEmail"].lower()
    api.roleAssignments().insert(
        customer="my_customer",
        body={"roleId": groups_admin, "assignedTo": newcomer.id, "scopeType": "CUSTOMER"},
    ).execute()
    api.roleAssignments().delete(
        customer="my_customer", roleAssignmentId=direct["roleAssignmentId"]
    ).execute()
    assert revoked in held(engine, direct["roleId"])

    (result,) = run_sync(settings, engine).results
    assert result.mode == "incremental" and result.complete, result.reason
    assert newcomer.body["primaryEmail"].lower() in held(engine, groups_admin)
    assert revoked not in held(engine, direct["roleId"])
    assert "no longer listed (incremental sync run" in (ended_reason(engine, direct["roleId"], revoked) or "")


def test_a_failed_log_page_makes_the_pass_incomplete_and_ends_nothing(
    google: RunningEmulators, engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One activity per page; the swap's second page fails (no retries left): the pass is incomplete
    with the reason, nothing is ended, and the cursor stays, so the next pass applies the swap."""
    monkeypatch.setenv("ACCESSCTL_GOOGLE_REPORTS_PAGE_SIZE", "1")
    monkeypatch.setenv("ACCESSCTL_SYNC_MAX_ATTEMPTS", "1")
    settings = settings_for(google, engine, tmp_path)
    assert run_sync(settings, engine, full=True).complete
    group, leaving, joining = swap(google)
    before = held(engine, group["id"])
    control = google.providers["google"].control
    control.set_faults(f"page:{REPORTS_PATH}:2:503")

    (failed,) = run_sync(settings, engine).results
    assert failed.mode == "incremental" and not failed.complete
    assert "503" in (failed.reason or "") and failed.grants.ended == 0
    assert held(engine, group["id"]) == before and leaving in before

    control.set_faults(None)
    (result,) = run_sync(settings, engine).results
    assert result.complete, result.reason
    assert held(engine, group["id"]) == members_now(google, group["id"])
    assert joining in held(engine, group["id"]) and leaving not in held(engine, group["id"])


def test_log_data_that_arrives_late_is_caught_by_the_overlap(
    google: RunningEmulators, engine: Engine, tmp_path: Path
) -> None:
    """The swap reaches the admin log only after the next pass ran (Reports data lags); the pass
    after that still reads it, since each read reaches back past the previous one's start."""
    settings = settings_for(google, engine, tmp_path)
    assert run_sync(settings, engine, full=True).complete
    with httpx.Client(base_url=google.providers["google"].url) as http:
        http.post("/_emulator/state/reports", json={"hold": True}).raise_for_status()
        group, leaving, joining = swap(google)
        (early,) = run_sync(settings, engine).results
        assert early.complete and leaving in held(engine, group["id"])  # not in the log yet
        assert http.post("/_emulator/state/reports", json={"hold": False}).json()["released"] == 2
    (late,) = run_sync(settings, engine).results
    assert late.complete, late.reason
    assert joining in held(engine, group["id"]) and leaving not in held(engine, group["id"])


def test_a_user_made_super_admin_is_seen_incrementally(
    google: RunningEmulators, engine: Engine, tmp_path: Path
) -> None:
    """users.makeAdmin logs GRANT_ADMIN_PRIVILEGE, not a role assignment: the pass lists the super
    admin role again."""
    settings = settings_for(google, engine, tmp_path)
    assert run_sync(settings, engine, full=True).complete
    state = google.providers["google"].server.app.app.state.google
    seed = next(r for r, name in state.roles.items() if name == "_SEED_ADMIN_ROLE")
    with state.lock:
        user = next(u for u in state.users.values() if not u.body["isAdmin"] and not u.body["suspended"])
    email = user.body["primaryEmail"].lower()
    provider = google.providers["google"]
    info = json.loads(provider.credential_files["service_account_key"].read_text())
    credentials = service_account.Credentials.from_service_account_info(
        info, scopes=["https://www.googleapis.com/auth/admin.directory.user"]
    ).with_subject(google.secrets.google_admin_email)
    users = build(
        "admin", "directory_v1", credentials=credentials, static_discovery=True,
        client_options={"api_endpoint": provider.url},
    ).users()  # fmt: skip
    users.makeAdmin(userKey=email, body={"status": True}).execute()
    assert email not in held(engine, seed)

    (result,) = run_sync(settings, engine).results
    assert result.mode == "incremental" and result.complete, result.reason
    assert email in held(engine, seed)
