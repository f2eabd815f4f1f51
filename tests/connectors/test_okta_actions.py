"""The Okta connector's actions against its emulator, through the official SDK's request executor:
each applied, then ALREADY_DONE; the effect read back through the Management API; a restore that
gives back exactly what was taken; a read-only admin's token refused every action, nothing changed."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.base import (
    ActionResult,
    ConnectorError,
    EntitlementKind,
    GrantRecord,
    NotFoundError,
    PermissionDeniedError,
    TransientError,
    VerifiesLockout,
)
from connectors.emulators.generate import generate_org
from connectors.emulators.model import SyntheticOrg
from connectors.emulators.runner import RunningEmulators, start_emulators
from connectors.okta import OktaConnector
from connectors.okta.client import classify
from tests.connectors.helpers import okta_connector, run

APPLIED, DONE = ActionResult.APPLIED, ActionResult.ALREADY_DONE


@pytest.fixture(scope="module")
def org() -> SyntheticOrg:
    return generate_org(40, seed=4)


@pytest.fixture
def okta(tmp_path: Path, org: SyntheticOrg) -> Iterator[RunningEmulators]:
    running = start_emulators(org, workdir=tmp_path, providers=("okta",))
    yield running
    running.stop()


def connect(running: RunningEmulators, *, read_only: bool = False) -> OktaConnector:
    return okta_connector(running, read_only=read_only)


def api(running: RunningEmulators) -> httpx.Client:
    """The Management API with the org's own token, to read effects back."""
    provider = running.providers["okta"]
    return httpx.Client(
        base_url=provider.url,
        verify=ssl.create_default_context(cafile=str(running.ca_path)),
        headers={"Authorization": f"SSWS {provider.credential_files['api_token'].read_text().strip()}"},
    )


def leaver(running: RunningEmulators, org: SyntheticOrg) -> str:
    """An active person with OAuth grants, a direct admin role and a direct app assignment."""
    roles = {k for r in org.okta.roles if not r.custom for k in r.assigned_keys}
    apps = {k for a in org.okta.apps for k in a.assigned_keys}
    login = next(
        a.login
        for a in org.okta.accounts
        if a.status == "active" and a.oauth_grants and a.key in roles and a.key in apps
    )
    with api(running) as client:
        return str(client.get(f"/api/v1/users/{login}").json()["id"])


def removable(running: RunningEmulators, grants: list[GrantRecord]) -> list[GrantRecord]:
    """The account's own grants an admin can take away (not Everyone, not held through a group)."""
    with api(running) as client:
        editable = {
            g["id"] for g in client.get("/api/v1/groups", params={"filter": 'type eq "OKTA_GROUP"'}).json()
        }
    return [
        g
        for g in grants
        if not g.inherited
        and (g.entitlement_kind is not EntitlementKind.GROUP or g.entitlement_external_id in editable)
    ]


def key(grant: GrantRecord) -> tuple[str, str]:
    return (grant.entitlement_kind.value, grant.entitlement_external_id)


def test_a_leaver_is_locked_out_verified_and_restored_exactly(
    okta: RunningEmulators, org: SyntheticOrg
) -> None:
    uid = leaver(okta, org)

    async def body(c: OktaConnector) -> dict[str, Any]:
        assert isinstance(c, VerifiesLockout)
        seen: dict[str, Any] = {"before": await c.verify_locked(uid)}
        snapshot = removable(okta, seen["before"].grants)
        seen["snapshot"] = snapshot
        seen["lockout"] = [
            await c.suspend_account(uid),
            await c.suspend_account(uid),
            await c.revoke_sessions(uid),
            await c.revoke_sessions(uid),
        ]
        seen["removed"] = [await c.remove_grant(g) for g in snapshot]
        seen["removed_again"] = [await c.remove_grant(g) for g in snapshot]
        seen["locked"] = await c.verify_locked(uid)
        seen["restore"] = [await c.restore_account(uid), await c.restore_account(uid)]
        seen["added"] = [await c.add_grant(g) for g in snapshot]
        seen["added_again"] = [await c.add_grant(g) for g in snapshot]
        seen["after"] = await c.verify_locked(uid)
        return seen

    seen = run(connect(okta), body)
    before, locked, after = seen["before"], seen["locked"], seen["after"]
    kinds = {g.entitlement_kind for g in seen["snapshot"]}
    assert kinds == {EntitlementKind.GROUP, EntitlementKind.APP, EntitlementKind.ROLE}
    assert (
        not before.suspended
        and before.open_credentials
        and all(c.startswith("token:0oa") for c in before.open_credentials)
    )
    assert seen["lockout"] == [APPLIED, DONE, APPLIED, DONE]
    assert set(seen["removed"]) == {APPLIED} and set(seen["removed_again"]) == {DONE}
    assert locked.suspended and locked.open_credentials == [] and locked.locked
    assert not ({key(g) for g in seen["snapshot"]} & {key(g) for g in locked.grants if not g.inherited})
    assert seen["restore"] == [APPLIED, DONE]
    assert set(seen["added"]) == {APPLIED} and set(seen["added_again"]) == {DONE}
    assert not after.suspended
    assert {key(g) for g in removable(okta, after.grants)} == {key(g) for g in seen["snapshot"]}
    with api(okta) as client:  # the Management API shows the same
        user = client.get(f"/api/v1/users/{uid}").json()
        grants = client.get(f"/api/v1/users/{uid}/grants").json()
        clients = client.get(f"/api/v1/users/{uid}/clients").json()
        logged = {
            e["eventType"]
            for e in client.get("/api/v1/logs", params={"filter": f'target.id eq "{uid}"'}).json()
        }
    assert user["status"] == "ACTIVE" and grants == [] and clients == []
    assert {"user.lifecycle.suspend", "user.session.clear", "user.lifecycle.unsuspend"} <= logged


def test_deactivate_then_restore_without_an_email(okta: RunningEmulators, org: SyntheticOrg) -> None:
    uid = leaver(okta, org)

    async def body(c: OktaConnector) -> list[Any]:
        return [
            await c.suspend_account(uid),
            await c.deactivate_account(uid),  # a suspended user can be deactivated
            await c.deactivate_account(uid),
            await c.suspend_account(uid),  # deactivated is as locked as suspended
            (await c.verify_locked(uid)).suspended,
            await c.restore_account(uid),
            await c.restore_account(uid),
            (await c.find_account(external_id=uid)).status.value,
        ]

    assert run(connect(okta), body) == [APPLIED, APPLIED, DONE, DONE, True, APPLIED, DONE, "active"]
    with api(okta) as client:
        events = client.get("/api/v1/logs", params={"filter": f'target.id eq "{uid}"'}).json()
    assert [e["eventType"] for e in events] == [
        "user.lifecycle.suspend",
        "user.lifecycle.deactivate",
        "user.lifecycle.activate",
    ]


def test_a_read_only_token_is_refused_every_action_and_nothing_changes(
    okta: RunningEmulators, org: SyntheticOrg
) -> None:
    uid = leaver(okta, org)

    async def state(c: OktaConnector) -> Any:
        return await c.verify_locked(uid)

    before = run(connect(okta), state)
    grants = removable(okta, before.grants)
    actions = {
        "suspend_account": lambda c: c.suspend_account(uid),
        "deactivate_account": lambda c: c.deactivate_account(uid),
        "revoke_sessions": lambda c: c.revoke_sessions(uid),
        **{f"remove_grant {key(g)}": (lambda c, g=g: c.remove_grant(g)) for g in grants},
    }
    refused = {}
    for name, action in actions.items():
        with pytest.raises(PermissionDeniedError) as caught:
            run(connect(okta, read_only=True), action)
        refused[name] = caught.value.status
    after = run(connect(okta, read_only=True), state)  # reads are open to it
    assert set(refused.values()) == {403}
    assert "E0000006" in str(caught.value)
    assert after == before


def test_restore_is_refused_for_a_read_only_token_and_add_grant_too(
    okta: RunningEmulators, org: SyntheticOrg
) -> None:
    uid = leaver(okta, org)
    run(connect(okta), lambda c: c.suspend_account(uid))
    with api(okta) as client:
        group = client.get("/api/v1/groups", params={"filter": 'type eq "OKTA_GROUP"'}).json()
        held = {g["id"] for g in client.get(f"/api/v1/users/{uid}/groups").json()}
    missing = next(g["id"] for g in group if g["id"] not in held)
    with pytest.raises(PermissionDeniedError):
        run(connect(okta, read_only=True), lambda c: c.restore_account(uid))
    with pytest.raises(PermissionDeniedError):
        run(
            connect(okta, read_only=True),
            lambda c: c.add_grant(GrantRecord(uid, EntitlementKind.GROUP, missing)),
        )
    with api(okta) as client:
        assert client.get(f"/api/v1/users/{uid}").json()["status"] == "SUSPENDED"
        assert missing not in {g["id"] for g in client.get(f"/api/v1/users/{uid}/groups").json()}


def test_everyone_cannot_be_left_and_says_so(okta: RunningEmulators, org: SyntheticOrg) -> None:
    uid = leaver(okta, org)
    with api(okta) as client:
        everyone = next(
            g["id"] for g in client.get(f"/api/v1/users/{uid}/groups").json() if g["type"] == "BUILT_IN"
        )
    with pytest.raises(ConnectorError, match="BUILT_IN: Okta changes its members") as refused:
        run(connect(okta), lambda c: c.remove_grant(GrantRecord(uid, EntitlementKind.GROUP, everyone)))
    assert refused.value.status == 400
    with api(okta) as client:
        assert everyone in {g["id"] for g in client.get(f"/api/v1/users/{uid}/groups").json()}
        journal = client.get("/_emulator/journal").json()
    assert not [e for e in journal if e["method"] == "DELETE"]  # refused before any write


def test_errors_are_classified_for_actions(okta: RunningEmulators) -> None:
    with pytest.raises(NotFoundError):
        run(connect(okta), lambda c: c.suspend_account("00unosuchuser0000000"))
    with pytest.raises(NotFoundError):
        run(connect(okta), lambda c: c.verify_locked("00unosuchuser0000000"))
    control = okta.controls["okta"]
    control.set_faults("429:1")
    try:
        with pytest.raises(TransientError) as throttled:
            run(connect(okta), lambda c: c.suspend_account("00unosuchuser0000000"))
    finally:
        control.set_faults(None)
    assert throttled.value.throttled and throttled.value.retry_after is not None
    assert 0 < throttled.value.retry_after <= 61


def test_a_refused_transition_names_okta_s_cause_in_plain_text() -> None:
    class Refused:  # what the okta SDK's OktaAPIError carries
        status = 400
        error_code = "E0000001"
        error_summary = "Api validation failed: unsuspend"
        error_causes = [{"errorSummary": "Cannot unsuspend a user that isn&#39;t suspended"}]
        headers: dict[str, str] = {}

    error = classify("POST", "/api/v1/users/00u1/lifecycle/unsuspend", Refused())
    assert type(error) is ConnectorError and error.status == 400
    assert str(error).endswith(
        "HTTP 400 E0000001 Api validation failed: unsuspend (Cannot unsuspend a user that isn't suspended)"
    )


def test_group_steps_read_the_user_s_groups_once_and_see_a_change_after_the_window(
    okta: RunningEmulators, org: SyntheticOrg, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A leaver's group steps follow one another: the first reads the user's groups, the next ones
    use that listing (kept true to their own removals); once the listing is older than
    GROUPS_FRESH_S it is read again, so a membership someone else added meanwhile is removed."""
    from connectors.okta import actions

    uid = leaver(okta, org)
    control = okta.providers["okta"].control
    listing = f"/api/v1/users/{uid}/groups"

    async def body(c: OktaConnector) -> dict[str, Any]:
        groups = [
            g
            for g in removable(okta, await c.list_account_grants(uid))
            if g.entitlement_kind is EntitlementKind.GROUP
        ]
        assert len(groups) >= 2, groups
        control.trace = []
        removed = [await c.remove_grant(g) for g in groups]
        again = [await c.remove_grant(g) for g in groups]
        reads = sum(1 for method, path, _, _ in control.trace if method == "GET" and path == listing)
        with api(okta) as client:  # another admin puts the first group back
            put_back = client.put(f"/api/v1/groups/{groups[0].entitlement_external_id}/users/{uid}")
            assert put_back.status_code == 204
        within_window = await c.remove_grant(groups[0])
        monkeypatch.setattr(actions, "GROUPS_FRESH_S", 0.0)
        after_window = await c.remove_grant(groups[0])
        control.trace = None
        return {
            "removed": removed,
            "again": again,
            "reads": reads,
            "within": within_window,
            "after": after_window,
            "left": await c.list_account_grants(uid),
            "groups": groups,
        }

    seen = run(connect(okta), body)
    assert set(seen["removed"]) == {APPLIED} and set(seen["again"]) == {DONE}
    assert seen["reads"] == 1  # one listing for every group step, not one per step
    assert seen["within"] == DONE  # the listing is seconds old: the step trusts it
    assert seen["after"] == APPLIED  # read again: the membership added meanwhile is removed
    assert not {key(g) for g in seen["groups"]} & {key(g) for g in seen["left"]}


def test_a_custom_role_is_removed_and_given_back_over_its_resource_set(
    okta: RunningEmulators, org: SyntheticOrg
) -> None:
    """The custom role's grant carries its resource set; add_grant gives it back over that set, and
    one without a resource set is refused before anything is sent (Okta would answer 400)."""
    custom = next(r for r in org.okta.roles if r.custom)
    login = next(a.login for a in org.okta.accounts if a.key == custom.assigned_keys[0])
    with api(okta) as client:
        uid = str(client.get(f"/api/v1/users/{login}").json()["id"])
        (held,) = [r for r in client.get(f"/api/v1/users/{uid}/roles").json() if r["type"] == "CUSTOM"]

    async def body(c: OktaConnector) -> dict[str, Any]:
        (grant,) = [g for g in await c.list_account_grants(uid) if g.entitlement_external_id == held["role"]]
        seen: dict[str, Any] = {"grant": grant, "removed": await c.remove_grant(grant)}
        unscoped = GrantRecord(uid, EntitlementKind.ROLE, grant.entitlement_external_id)
        with pytest.raises(ConnectorError, match="resource set") as refused:
            await c.add_grant(unscoped)
        seen["refused"] = refused.value.status
        seen["between"] = [
            g for g in await c.list_account_grants(uid) if g.entitlement_kind is EntitlementKind.ROLE
        ]
        seen["added"] = [await c.add_grant(grant), await c.add_grant(grant)]
        return seen

    seen = run(connect(okta), body)
    assert seen["grant"].scope == held["resource-set"] and not seen["grant"].inherited
    assert seen["removed"] is APPLIED and seen["refused"] == 400
    assert held["role"] not in {g.entitlement_external_id for g in seen["between"]}
    assert seen["added"] == [APPLIED, DONE]
    with api(okta) as client:  # read back through the Management API
        customs = [r for r in client.get(f"/api/v1/users/{uid}/roles").json() if r["type"] == "CUSTOM"]
    assert [(r["role"], r["resource-set"], r["assignmentType"]) for r in customs] == [
        (held["role"], held["resource-set"], "USER")
    ]
