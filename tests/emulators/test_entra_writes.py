"""The writes a leaver, lockout or restore plan makes, through Microsoft's own Graph SDK (msgraph-sdk),
each read back through Graph's public API: accountEnabled, revokeSignInSessions, member removal, app
role assignment removal (both paths), directory role removal (roleManagement and the legacy
directoryRoles); and the application permissions each needs, checked as Graph checks them."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import pytest
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.user import User
from msgraph.generated.users.item.user_item_request_builder import UserItemRequestBuilder

from connectors.emulators.entra import READ_ONLY_ROLES, AppRegistration, EntraCredentials, create_app
from connectors.emulators.generate import generate_org
from connectors.emulators.model import SyntheticOrg
from connectors.emulators.server import TlsMaterial
from tests.emulators.msgraph_client import graph_client, run_with

CREDS = EntraCredentials(
    "6a1f0c2e-2b7d-4c1e-9f3a-5d6e7f8091a2", "0d9c8b7a-6f5e-4d3c-8b2a-19f0e1d2c3b4", "writes~secret"
)
READ_ONLY = AppRegistration("7e6d5c4b-3a29-4180-b7a6-958473625140", "read~only~secret", READ_ONLY_ROLES)
T = TypeVar("T")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def small_org() -> SyntheticOrg:
    return generate_org(60, seed=11)


@pytest.fixture
def emulator(serve, small_org: SyntheticOrg) -> tuple[str, Any]:
    server, control = serve(
        create_app, small_org.entra, strict_auth=True, credentials=CREDS, apps=[READ_ONLY]
    )
    return server.url, control


def sdk(url: str, tls: TlsMaterial, client_id: str, secret: str) -> GraphServiceClient:
    return graph_client(url, tls, CREDS.tenant_id, client_id, secret)


def run(
    url: str,
    tls: TlsMaterial,
    body: Callable[[GraphServiceClient], Awaitable[T]],
    app: AppRegistration | None = None,
) -> T:
    client_id, secret = (app.client_id, app.client_secret) if app else (CREDS.client_id, CREDS.client_secret)

    return run_with(sdk(url, tls, client_id, secret), body)


def selecting(*fields: str) -> RequestConfiguration[Any]:
    query = UserItemRequestBuilder.UserItemRequestBuilderGetQueryParameters(select=list(fields))
    return RequestConfiguration(query_parameters=query)


async def holder(client: GraphServiceClient) -> dict[str, str]:
    """A user holding a direct directory role, with (if any) a direct group and app assignment."""
    assignments = (await client.role_management.directory.role_assignments.get()).value
    users = {u.id for u in (await client.users.get()).value}
    role = next(a for a in assignments if a.principal_id in users)
    uid = role.principal_id
    found = {"user": uid, "role_assignment": role.id, "role": role.role_definition_id}
    groups = (await client.users.by_user_id(uid).member_of.get()).value
    plain = [g for g in groups if not getattr(g, "is_assignable_to_role", False)]
    if plain:
        found["group"] = plain[0].id
    apps = (await client.users.by_user_id(uid).app_role_assignments.get()).value
    if apps:
        found["app_assignment"], found["sp"] = apps[0].id, apps[0].resource_id
    return found


def status_and_code(error: ODataError) -> tuple[int, str, str]:
    return error.response_status_code, error.error.code, error.error.message


# ------------------------------------------------------------------ accountEnabled and sessions


def test_account_enabled_patch_as_the_sdk_sends_it_is_read_back(emulator, tls) -> None:
    url, _ = emulator

    async def body(client: GraphServiceClient) -> list[bool]:
        uid = (await client.users.get()).value[0].id
        me = client.users.by_user_id(uid)
        seen = []
        for enabled in (False, True):
            await me.patch(User(account_enabled=enabled))  # the SDK adds "@odata.type"
            seen.append((await me.get(request_configuration=selecting("accountEnabled"))).account_enabled)
        return seen

    assert run(url, tls, body) == [False, True]


def test_revoke_sign_in_sessions_moves_sessions_valid_from(emulator, tls) -> None:
    url, _ = emulator

    async def body(client: GraphServiceClient) -> tuple[datetime, bool | None, datetime]:
        uid = (await client.users.get()).value[1].id
        me = client.users.by_user_id(uid)
        config = selecting("signInSessionsValidFromDateTime")
        before = (await me.get(request_configuration=config)).sign_in_sessions_valid_from_date_time
        answer = await me.revoke_sign_in_sessions.post()
        after = (await me.get(request_configuration=config)).sign_in_sessions_valid_from_date_time
        return before, answer.value, after

    started = datetime.now(UTC).replace(microsecond=0)
    before, value, after = run(url, tls, body)
    assert value is True
    assert before < started <= after


# ------------------------------------------------------------------ grants


def test_member_removal_is_read_back_and_a_second_one_is_graphs_404(emulator, tls) -> None:
    url, _ = emulator

    async def body(client: GraphServiceClient) -> tuple[list[str], tuple[int, str, str], str]:
        found = await holder(client)
        uid, gid = found["user"], found["group"]
        await client.groups.by_group_id(gid).members.by_directory_object_id(uid).ref.delete()
        left = [g.id for g in (await client.users.by_user_id(uid).member_of.get()).value]
        members = [m.id for m in (await client.groups.by_group_id(gid).members.get()).value]
        assert uid not in members
        try:
            await client.groups.by_group_id(gid).members.by_directory_object_id(uid).ref.delete()
        except ODataError as error:
            return left, status_and_code(error), gid
        raise AssertionError("removing a non-member succeeded")

    left, (status, code, message), gid = run(url, tls, body)
    assert gid not in left
    assert (status, code) == (404, "Request_ResourceNotFound")
    assert message == (
        f"Resource '{gid}' does not exist or one of its queried reference-property objects are not present."
    )


def test_app_role_assignment_removal_through_the_user_and_the_service_principal(emulator, tls) -> None:
    url, _ = emulator

    async def body(client: GraphServiceClient) -> dict[str, Any]:
        with_apps = []
        for user in (await client.users.get()).value:
            apps = (await client.users.by_user_id(user.id).app_role_assignments.get()).value
            if apps:
                with_apps.append((user.id, apps[0]))
            if len(with_apps) == 2:
                break
        (first, a1), (second, a2) = with_apps
        mine = client.users.by_user_id(first).app_role_assignments
        await mine.by_app_role_assignment_id(a1.id).delete()
        sp = client.service_principals.by_service_principal_id(a2.resource_id)
        await sp.app_role_assigned_to.by_app_role_assignment_id(a2.id).delete()
        try:
            await mine.by_app_role_assignment_id(a1.id).delete()
            again = 204
        except ODataError as error:
            again = error.response_status_code
        return {
            "removed": (a1.id, a2.id),
            "first_left": {a.id for a in (await mine.get()).value},
            "second_left": {
                a.id for a in (await client.users.by_user_id(second).app_role_assignments.get()).value
            },
            "assigned_to": {a.id for a in (await sp.app_role_assigned_to.get()).value},
            "again": again,
        }

    seen = run(url, tls, body)
    a1, a2 = seen["removed"]
    assert a1 not in seen["first_left"]
    assert a2 not in seen["second_left"] and a2 not in seen["assigned_to"]
    assert seen["again"] == 404


def test_role_removal_through_role_management_and_directory_roles(emulator, tls) -> None:
    url, _ = emulator

    async def body(client: GraphServiceClient) -> dict[str, Any]:
        assignments = (await client.role_management.directory.role_assignments.get()).value
        users = {u.id for u in (await client.users.get()).value}
        direct = [a for a in assignments if a.principal_id in users]
        first, second = direct[0], next(a for a in direct[1:] if a.id != direct[0].id)
        await client.role_management.directory.role_assignments.by_unified_role_assignment_id(
            first.id
        ).delete()
        role = client.directory_roles.by_directory_role_id(second.role_definition_id)
        await role.members.by_directory_object_id(second.principal_id).ref.delete()
        after = {a.id for a in (await client.role_management.directory.role_assignments.get()).value}
        members = {m.id for m in (await role.members.get()).value}
        try:
            await role.members.by_directory_object_id(second.principal_id).ref.delete()
            again = 204
        except ODataError as error:
            again = error.response_status_code
        return {"first": first.id, "second": second, "after": after, "members": members, "again": again}

    seen = run(url, tls, body)
    assert seen["first"] not in seen["after"] and seen["second"].id not in seen["after"]
    assert seen["second"].principal_id not in seen["members"]
    assert seen["again"] == 404


# ------------------------------------------------------------------ permissions


def test_a_read_only_app_reads_but_every_write_gets_graphs_403(emulator, tls) -> None:
    url, _ = emulator
    found = run(url, tls, holder)
    uid = found["user"]

    async def unchanged(client: GraphServiceClient) -> dict[str, Any]:
        me = client.users.by_user_id(uid)
        user = await me.get(
            request_configuration=selecting("accountEnabled", "signInSessionsValidFromDateTime")
        )
        return {
            "enabled": user.account_enabled,
            "valid_from": user.sign_in_sessions_valid_from_date_time,
            "group": found["group"] in {g.id for g in (await me.member_of.get()).value},
            "app": found["app_assignment"] in {a.id for a in (await me.app_role_assignments.get()).value},
            "role": found["role_assignment"]
            in {a.id for a in (await client.role_management.directory.role_assignments.get()).value},
        }

    before = run(url, tls, unchanged, app=READ_ONLY)  # the read-only app can read it all
    assert before["enabled"] is True and before["group"] and before["app"] and before["role"]

    async def writes(client: GraphServiceClient) -> list[tuple[int, str, str]]:
        me = client.users.by_user_id(uid)
        attempts: list[Callable[[], Awaitable[Any]]] = [
            lambda: me.patch(User(account_enabled=False)),
            lambda: me.revoke_sign_in_sessions.post(),
            lambda: (
                client.groups.by_group_id(found["group"]).members.by_directory_object_id(uid).ref.delete()
            ),
            lambda: me.app_role_assignments.by_app_role_assignment_id(found["app_assignment"]).delete(),
            lambda: client.role_management.directory.role_assignments.by_unified_role_assignment_id(
                found["role_assignment"]
            ).delete(),
            lambda: (
                client.directory_roles.by_directory_role_id(found["role"])
                .members.by_directory_object_id(uid)
                .ref.delete()
            ),
        ]
        answers = []
        for attempt in attempts:
            try:
                await attempt()
                answers.append((204, "", ""))
            except ODataError as error:
                answers.append(status_and_code(error))
        return answers

    answers = run(url, tls, writes, app=READ_ONLY)
    denied = (403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
    assert answers == [denied] * 6
    assert run(url, tls, unchanged, app=READ_ONLY) == before


def test_enable_disable_permission_alone_cannot_edit_a_profile(emulator, tls) -> None:
    url, _ = emulator
    narrow = AppRegistration("1b2c3d4e-0000-4000-8000-00000000e0d1", "narrow~secret", READ_ONLY_ROLES)
    with httpx.Client(base_url=url, verify=str(tls.ca_path)) as plain:
        registered = plain.post(
            "/_emulator/state/apps",
            json={
                "client_id": narrow.client_id,
                "client_secret": narrow.client_secret,
                "roles": sorted(READ_ONLY_ROLES | {"User.EnableDisableAccount.All"}),
            },
        )
        assert registered.status_code == 200

    async def body(client: GraphServiceClient) -> list[int]:
        uid = (await client.users.get()).value[2].id
        me = client.users.by_user_id(uid)
        answers = []
        for change in (User(account_enabled=False), User(job_title="Renamed")):
            try:
                await me.patch(change)
                answers.append(204)
            except ODataError as error:
                answers.append(error.response_status_code)
        return answers

    assert run(url, tls, body, app=narrow) == [204, 403]


# ------------------------------------------------------------------ latency and faults on writes


def test_latency_applies_to_writes(emulator, tls) -> None:
    url, control = emulator
    uid = run(url, tls, holder)["user"]

    async def disable(client: GraphServiceClient) -> float:
        await client.users.by_user_id(uid).get()  # the token first, outside the timing
        started = time.monotonic()
        await client.users.by_user_id(uid).patch(User(account_enabled=False))
        return time.monotonic() - started

    fast = run(url, tls, disable)
    control.latency_ms = 300
    slow = run(url, tls, disable)
    assert slow >= 0.3 and slow > fast


def test_restore_writes_through_the_sdk_are_read_back(emulator, tls) -> None:
    """What a restore sends: the member, the app role assignment and the role assignment given back."""
    from uuid import UUID

    from msgraph.generated.models.app_role_assignment import AppRoleAssignment
    from msgraph.generated.models.reference_create import ReferenceCreate
    from msgraph.generated.models.unified_role_assignment import UnifiedRoleAssignment

    url, _ = emulator

    async def body(client: GraphServiceClient) -> dict[str, Any]:
        found = await holder(client)
        uid = found["user"]
        me = client.users.by_user_id(uid)
        app = (await me.app_role_assignments.get()).value[0]
        group = client.groups.by_group_id(found["group"])
        await group.members.by_directory_object_id(uid).ref.delete()
        await me.app_role_assignments.by_app_role_assignment_id(app.id).delete()
        roles = client.role_management.directory.role_assignments
        await roles.by_unified_role_assignment_id(found["role_assignment"]).delete()

        await group.members.ref.post(ReferenceCreate(odata_id=f"{url}/v1.0/directoryObjects/{uid}"))
        given = await me.app_role_assignments.post(
            AppRoleAssignment(
                principal_id=UUID(uid), resource_id=app.resource_id, app_role_id=app.app_role_id
            )
        )
        role = await roles.post(
            UnifiedRoleAssignment(principal_id=uid, role_definition_id=found["role"], directory_scope_id="/")
        )
        try:
            await group.members.ref.post(ReferenceCreate(odata_id=f"{url}/v1.0/directoryObjects/{uid}"))
            duplicate: tuple[int, str, str] | None = None
        except ODataError as error:
            duplicate = status_and_code(error)
        return {
            "group": found["group"] in {g.id for g in (await me.member_of.get()).value},
            "app": [(a.id, a.resource_id) for a in (await me.app_role_assignments.get()).value],
            "given": (given.id, given.resource_id, app.id),
            "roles": {
                (a.id, a.role_definition_id) for a in (await roles.get()).value if a.principal_id == uid
            },
            "role": (role.id, found["role"], found["role_assignment"]),
            "duplicate": duplicate,
        }

    seen = run(url, tls, body)
    assert seen["group"]
    given_id, resource, old_id = seen["given"]
    assert (given_id, resource) in seen["app"] and given_id != old_id  # a fresh assignment
    role_id, definition, old_role = seen["role"]
    assert (role_id, definition) in seen["roles"] and role_id != old_role
    assert seen["duplicate"] == (
        400,
        "Request_BadRequest",
        "One or more added object references already exist for the following modified properties: 'members'.",
    )


def test_a_role_assignable_groups_members_need_role_management_too(emulator, tls) -> None:
    url, _ = emulator
    members_only = AppRegistration(
        "3e1d2c3b-4a59-4687-9a8b-7c6d5e4f3a2b",
        "members~only",
        READ_ONLY_ROLES | {"GroupMember.ReadWrite.All"},
    )
    with httpx.Client(base_url=url, verify=str(tls.ca_path)) as plain:
        plain.post(
            "/_emulator/state/apps",
            json={
                "client_id": members_only.client_id,
                "client_secret": members_only.client_secret,
                "roles": sorted(members_only.roles),
            },
        ).raise_for_status()

    async def body(client: GraphServiceClient) -> dict[str, int]:
        answers = {}
        for group in (await client.groups.get()).value:
            kind = "privileged" if group.is_assignable_to_role else "plain"
            members = (await client.groups.by_group_id(group.id).members.get()).value
            if kind in answers or not members:
                continue
            try:
                await (
                    client.groups.by_group_id(group.id)
                    .members.by_directory_object_id(members[0].id)
                    .ref.delete()
                )
                answers[kind] = 204
            except ODataError as error:
                answers[kind] = error.response_status_code
        return answers

    assert run(url, tls, body, app=members_only) == {"plain": 204, "privileged": 403}
