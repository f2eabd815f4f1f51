"""The Google connector's actions against its emulator: each applied, then ALREADY_DONE; the effect
read back through the Directory API; a read-only delegation refused; a failed write transient."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.oauth2 import service_account
from googleapiclient.discovery import build

from connectors.base import (
    AccountStatus,
    ActionResult,
    EntitlementKind,
    GrantRecord,
    PermissionDeniedError,
    Restores,
    TransientError,
    VerifiesLockout,
)
from connectors.emulators.generate import generate_org
from connectors.emulators.model import Account, SyntheticOrg
from connectors.emulators.runner import RunningEmulators, start_emulators
from connectors.google import GoogleConnector
from connectors.google.config import READ_ONLY_SCOPES, SCOPES
from tests.connectors.helpers import google_connector, run

APPLIED, DONE = ActionResult.APPLIED, ActionResult.ALREADY_DONE


@pytest.fixture(scope="module")
def org() -> SyntheticOrg:
    return generate_org(160, seed=11)


@pytest.fixture
def google(tmp_path: Path, org: SyntheticOrg) -> Iterator[RunningEmulators]:
    running = start_emulators(org, workdir=tmp_path, tls=True, strict_auth=True, providers=("google",))
    yield running
    running.stop()


def connect(running: RunningEmulators, scopes: tuple[str, ...] = SCOPES) -> GoogleConnector:
    return google_connector(running, scopes=scopes)


def directory(running: RunningEmulators) -> Any:
    """The Directory API through the official SDK, for reading back (never the emulator's state)."""
    import httplib2
    from google_auth_httplib2 import AuthorizedHttp

    info = json.loads(running.providers["google"].credential_files["service_account_key"].read_text())
    credentials = service_account.Credentials.from_service_account_info(
        info, scopes=list(SCOPES)
    ).with_subject(running.secrets.google_admin_email)
    http = AuthorizedHttp(credentials, http=httplib2.Http(ca_certs=str(running.tls.ca_path)))
    return build(
        "admin",
        "directory_v1",
        http=http,
        static_discovery=True,
        client_options={"api_endpoint": running.providers["google"].url},
    )


def leaver(org: SyntheticOrg) -> Account:
    """Someone with everything revocation takes away: OAuth grants, an app password, backup codes."""
    return next(
        a
        for a in org.google.accounts
        if a.status == "active" and a.oauth_grants and a.app_passwords and a.backup_codes
    )


def user_id(running: RunningEmulators, login: str) -> str:
    return str(directory(running).users().get(userKey=login, fields="id").execute()["id"])


def test_suspend_and_restore_are_idempotent_and_read_back(
    google: RunningEmulators, org: SyntheticOrg
) -> None:
    uid = user_id(google, leaver(org).login)

    async def body(c: GoogleConnector) -> list[Any]:
        results = [await c.suspend_account(uid), await c.suspend_account(uid)]
        suspended = await c.find_account(external_id=uid)
        results += [await c.restore_account(uid), await c.restore_account(uid)]
        return [results, suspended, await c.find_account(external_id=uid)]

    results, suspended, restored = run(connect(google), body)
    assert results == [APPLIED, DONE, APPLIED, DONE]
    assert suspended.status is AccountStatus.SUSPENDED and restored.status is AccountStatus.ACTIVE


def test_revoke_sessions_takes_everything_then_finds_nothing_left(
    google: RunningEmulators, org: SyntheticOrg
) -> None:
    person = leaver(org)
    uid = user_id(google, person.login)
    control = google.providers["google"].control

    async def body(c: GoogleConnector) -> list[Any]:
        assert isinstance(c, VerifiesLockout)
        before = await c.verify_locked(uid)
        first, second = await c.revoke_sessions(uid), await c.revoke_sessions(uid)
        await c.suspend_account(uid)
        return [before, first, second, await c.verify_locked(uid)]

    before, first, second, after = run(connect(google), body)
    assert len(before.open_credentials) == len(person.oauth_grants) + len(person.app_passwords) + 1
    assert not before.locked and not before.sessions_readable
    assert (first, second) == (APPLIED, DONE)
    assert after.locked and after.open_credentials == [] and after.suspended
    api = directory(google)  # read back through the SDK, too
    assert api.tokens().list(userKey=uid).execute().get("items", []) == []
    assert api.asps().list(userKey=uid).execute().get("items", []) == []
    assert api.verificationCodes().list(userKey=uid).execute().get("items", []) == []
    # signed out by both calls (no read of sessions exists, so it is always sent); codes invalidated once
    paths = [e.path.rsplit("/", 1)[-1] for e in control.journal]
    assert paths.count("signOut") == 2 and paths.count("invalidate") == 1


def super_admin_in_a_group(google: RunningEmulators) -> tuple[str, str, str]:
    """(a super admin other than the delegated admin, a group it is in, the super admin role's id)."""
    api = directory(google)
    roles = api.roles().list(customer="my_customer").execute()["items"]
    super_admin = next(str(r["roleId"]) for r in roles if r["isSuperAdminRole"])
    assignments = api.roleAssignments().list(customer="my_customer", roleId=super_admin).execute()["items"]
    me = user_id(google, google.secrets.google_admin_email)
    uid = next(a["assignedTo"] for a in assignments if a["assigneeType"] == "user" and a["assignedTo"] != me)
    return uid, api.groups().list(userKey=uid).execute()["groups"][0]["id"], super_admin


def test_remove_grant_of_a_group_and_of_the_super_admin_role(google: RunningEmulators) -> None:
    api = directory(google)
    uid, group, super_admin = super_admin_in_a_group(google)
    group_grant = GrantRecord(uid, EntitlementKind.GROUP, group)
    role_grant = GrantRecord(uid, EntitlementKind.ROLE, super_admin)

    async def body(c: GoogleConnector) -> list[Any]:
        results = [await c.remove_grant(group_grant), await c.remove_grant(group_grant)]
        results += [await c.remove_grant(role_grant), await c.remove_grant(role_grant)]
        return [results, await c.list_account_grants(uid)]

    results, grants = run(connect(google), body)
    assert results == [APPLIED, DONE, APPLIED, DONE]
    held = {(g.entitlement_kind, g.entitlement_external_id) for g in grants}
    assert (EntitlementKind.GROUP, group) not in held and (EntitlementKind.ROLE, super_admin) not in held
    assert api.users().get(userKey=uid).execute()["isAdmin"] is False


def test_add_grant_gives_back_a_group_and_the_super_admin_role(google: RunningEmulators) -> None:
    api = directory(google)
    uid, group, super_admin = super_admin_in_a_group(google)
    grants = [
        GrantRecord(uid, EntitlementKind.GROUP, group),
        GrantRecord(uid, EntitlementKind.ROLE, super_admin),
    ]

    async def body(c: GoogleConnector) -> list[Any]:
        assert isinstance(c, Restores)
        results = [await c.add_grant(g) for g in grants]  # held: nothing to add
        results += [await c.remove_grant(g) for g in grants]
        results += [await c.add_grant(g) for g in grants] + [await c.add_grant(g) for g in grants]
        return [results, await c.verify_locked(uid)]

    results, state = run(connect(google), body)
    assert results == [DONE, DONE, APPLIED, APPLIED, APPLIED, APPLIED, DONE, DONE]
    assert {(EntitlementKind.GROUP, group), (EntitlementKind.ROLE, super_admin)} <= {
        (g.entitlement_kind, g.entitlement_external_id) for g in state.direct_grants
    }
    assert api.users().get(userKey=uid).execute()["isAdmin"] is True  # read back through the SDK
    assert uid in {m["id"] for m in api.members().list(groupKey=group).execute()["members"]}


def test_add_grant_is_refused_for_a_read_only_delegation(google: RunningEmulators, org: SyntheticOrg) -> None:
    person = leaver(org)
    uid = user_id(google, person.login)
    api = directory(google)
    held = {g["id"] for g in api.groups().list(userKey=uid).execute().get("groups", [])}
    group = next(
        g["id"] for g in api.groups().list(customer="my_customer").execute()["groups"] if g["id"] not in held
    )

    with pytest.raises(PermissionDeniedError):
        run(
            connect(google, READ_ONLY_SCOPES),
            lambda c: c.add_grant(GrantRecord(uid, EntitlementKind.GROUP, group)),
        )
    assert group not in {g["id"] for g in api.groups().list(userKey=uid).execute().get("groups", [])}


def test_a_read_only_delegation_is_refused_every_action_and_nothing_changes(
    google: RunningEmulators, org: SyntheticOrg
) -> None:
    person = leaver(org)
    uid = user_id(google, person.login)
    api = directory(google)
    group = api.groups().list(userKey=uid).execute()["groups"][0]["id"]
    grant = GrantRecord(uid, EntitlementKind.GROUP, group)

    async def body(c: GoogleConnector) -> list[str]:
        refused = []
        for action in (
            lambda: c.suspend_account(uid),
            lambda: c.revoke_sessions(uid),
            lambda: c.remove_grant(grant),
            lambda: c.verify_locked(uid),
        ):
            with pytest.raises(PermissionDeniedError) as denied:
                await action()
            refused.append(str(denied.value))
        return refused

    refused = run(connect(google, READ_ONLY_SCOPES), body)
    assert all("403" in message for message in refused), refused
    assert api.users().get(userKey=uid).execute()["suspended"] is False
    assert len(api.tokens().list(userKey=uid).execute()["items"]) == len(person.oauth_grants)
    assert uid in {m["id"] for m in api.members().list(groupKey=group).execute()["members"]}


def _seed_failing(calls: int, share: float) -> int:
    """A fault seed under which, with ``share`` of requests failing, the first ``calls`` requests
    pass and the next one fails (the emulator rolls its seeded RNG once per request)."""
    for seed in range(10_000):
        rng = random.Random(seed)
        if all(rng.random() >= share for _ in range(calls)) and rng.random() < share:
            return seed
    raise AssertionError("no such seed")


def test_a_failed_write_is_transient_and_the_retry_applies_it(
    google: RunningEmulators, org: SyntheticOrg
) -> None:
    """suspend_account reads the user, then writes: the write fails (503), the retry applies it."""
    person = leaver(org)
    uid = user_id(google, person.login)
    control = google.providers["google"].control
    api = directory(google)

    async def body(c: GoogleConnector) -> list[Any]:
        await c.find_account(external_id=uid)  # the token first (the token endpoint is never faulted)
        control.set_faults(f"5xx:0.5,seed:{_seed_failing(1, 0.5)}")
        with pytest.raises(TransientError) as failed:
            await c.suspend_account(uid)
        control.set_faults(None)
        unchanged = api.users().get(userKey=uid).execute()["suspended"]
        return [failed.value.status, unchanged, await c.suspend_account(uid)]

    status, unchanged, retried = run(connect(google), body)
    assert status == 503 and unchanged is False and retried is APPLIED
    assert [e.result for e in control.journal if e.method == "PATCH"] == ["fault:5xx", "ok"]
    assert api.users().get(userKey=uid).execute()["suspended"] is True
