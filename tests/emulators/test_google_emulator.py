"""The Google Workspace emulator driven by google-api-python-client with a service account and
domain-wide delegation, as the product uses it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.auth.exceptions import RefreshError
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from connectors.emulators.model import Group, SyntheticOrg
from connectors.emulators.runner import RunningEmulators, start_emulators

SCOPES = [
    "https://www.googleapis.com/auth/admin.directory.user",
    "https://www.googleapis.com/auth/admin.directory.group",
    # roles and role assignments (the emulator, as Google, checks each method's scopes)
    "https://www.googleapis.com/auth/admin.directory.rolemanagement",
    "https://www.googleapis.com/auth/admin.directory.user.security",
]


@pytest.fixture
def google(tmp_path: Path, small_org: SyntheticOrg) -> Iterator[RunningEmulators]:
    running = start_emulators(small_org, workdir=tmp_path, tls=False, strict_auth=True, providers=("google",))
    yield running
    running.stop()


def service(
    running: RunningEmulators, *, key: dict[str, Any] | None = None, subject: str | None = None
) -> Any:
    provider = running.providers["google"]
    info = key or json.loads(provider.credential_files["service_account_key"].read_text())
    credentials = service_account.Credentials.from_service_account_info(info, scopes=SCOPES).with_subject(
        subject or running.secrets.google_admin_email
    )
    return build(
        "admin",
        "directory_v1",
        credentials=credentials,
        static_discovery=True,
        client_options={"api_endpoint": provider.url},
    )


def all_users(directory: Any, **params: Any) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = []
    request = directory.users().list(customer="my_customer", **params)
    while request is not None:
        response = request.execute()
        users += response.get("users", [])
        request = directory.users().list_next(request, response)
    return users


def test_lists_a_1000_person_org_with_list_next(tmp_path: Path, org_1000: SyntheticOrg) -> None:
    with start_emulators(org_1000, workdir=tmp_path, tls=False, providers=("google",)) as running:
        directory = service(running)
        users = all_users(directory, maxResults=500)
        capped = directory.users().list(customer="my_customer", maxResults=900).execute()
    assert len(users) == len({u["id"] for u in users}) == len(org_1000.google.accounts)
    assert len(capped["users"]) == 500  # the API's maximum
    sample = next(u for u in users if u["primaryEmail"].startswith("it-admin@"))
    assert sample["isEnrolledIn2Sv"] is False and sample["lastLoginTime"] != "1970-01-01T00:00:00.000Z"


def test_groups_and_members_page_at_200(google: RunningEmulators, small_org: SyntheticOrg) -> None:
    directory = service(google)
    groups = directory.groups().list(customer="my_customer", maxResults=500).execute()
    assert len(groups["groups"]) == min(200, len(small_org.google.groups))
    all_staff = directory.groups().get(groupKey=f"all-staff@{small_org.domain}").execute()
    members = directory.members().list(groupKey=all_staff["id"]).execute()["members"]
    assert members and {m["type"] for m in members} == {"GROUP"}  # nested groups appear as members
    derived = (
        directory.members()
        .list(groupKey=all_staff["id"], includeDerivedMembership=True, maxResults=200)
        .execute()
    )
    assert len(derived["members"]) > len(members) and "USER" in {m["type"] for m in derived["members"]}


def test_a_wrongly_signed_assertion_is_refused(google: RunningEmulators) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    info = json.loads(google.providers["google"].credential_files["service_account_key"].read_text())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info["private_key"] = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(RefreshError, match="invalid_grant"):
        service(google, key=info).users().list(customer="my_customer").execute()
    with pytest.raises(RefreshError, match="unauthorized_client"):  # delegation to a non-admin
        service(google, subject=f"helpdesk@{google.secrets.google_admin_email.split('@')[1]}").users().list(
            customer="my_customer"
        ).execute()


def test_batch_member_deletions_patch_and_journal(google: RunningEmulators, small_org: SyntheticOrg) -> None:
    directory = service(google)
    provider = google.providers["google"]
    group = directory.groups().get(groupKey=f"dept-engineering@{small_org.domain}").execute()
    members = directory.members().list(groupKey=group["id"]).execute()["members"][:3]
    results: list[tuple[str, Any]] = []
    batch = BatchHttpRequest(
        callback=lambda i, _, exc: results.append((i, exc)), batch_uri=f"{provider.url}/batch"
    )
    for member in members:
        batch.add(directory.members().delete(groupKey=group["id"], memberKey=member["id"]))
    batch.execute()
    assert [exc for _, exc in results] == [None, None, None]
    user = members[0]["email"]
    assert directory.users().patch(userKey=user, body={"suspended": True}).execute()["suspended"] is True
    assert directory.users().get(userKey=user).execute()["suspensionReason"] == "ADMIN"
    with pytest.raises(HttpError) as gone:
        directory.members().delete(groupKey=group["id"], memberKey=members[0]["id"]).execute()
    assert gone.value.status_code == 404 and gone.value.error_details[0]["reason"] == "notFound"
    journal = [(e.method, e.status) for e in provider.control.journal]
    assert journal == [("DELETE", 204)] * 3 + [("PATCH", 200), ("DELETE", 404)]


def test_partial_responses_keep_only_the_fields_asked_for(google: RunningEmulators) -> None:
    directory = service(google)
    page = (
        directory.users()
        .list(customer="my_customer", maxResults=5, fields="nextPageToken,users(id,name/givenName)")
        .execute()
    )
    assert set(page) == {"nextPageToken", "users"}
    assert all(set(u) == {"id", "name"} and set(u["name"]) == {"givenName"} for u in page["users"])
    whole = directory.users().get(userKey=page["users"][0]["id"]).execute()
    assert directory.users().get(userKey=whole["id"], fields="*").execute() == whole
    with pytest.raises(HttpError) as refused:
        directory.users().list(customer="my_customer", fields="users(id").execute()
    assert refused.value.status_code == 400 and refused.value.error_details[0]["reason"] == "invalidParameter"
    with pytest.raises(HttpError) as missing:  # errors are never trimmed
        directory.users().get(userKey="nobody@example.com", fields="id").execute()
    assert missing.value.error_details[0]["reason"] == "notFound"


def test_members_insert_adds_a_user_or_a_group(google: RunningEmulators, small_org: SyntheticOrg) -> None:
    """members.insert through google-api-python-client: a user by email, a group by email (nesting it),
    then a duplicate (409) and an unknown member (404), which change nothing."""
    directory = service(google)
    domain = small_org.domain
    sales = directory.groups().get(groupKey=f"dept-sales@{domain}").execute()
    outsider = next(
        u["primaryEmail"]
        for u in all_users(directory)
        if u["primaryEmail"]
        not in {m["email"] for m in directory.members().list(groupKey=sales["id"]).execute()["members"]}
    )
    added = (
        directory.members().insert(groupKey=sales["id"], body={"email": outsider, "role": "MEMBER"}).execute()
    )
    assert (added["kind"], added["email"], added["type"]) == ("admin#directory#member", outsider, "USER")
    team = directory.groups().list(customer="my_customer", maxResults=200).execute()["groups"][-1]
    nested = directory.members().insert(groupKey=sales["id"], body={"email": team["email"]}).execute()
    assert (nested["id"], nested["type"]) == (team["id"], "GROUP")
    after = directory.groups().get(groupKey=sales["id"]).execute()
    assert int(after["directMembersCount"]) == int(sales["directMembersCount"]) + 2
    for body, status, reason in (
        ({"email": outsider}, 409, "duplicate"),
        ({"email": f"nobody@{domain}"}, 404, "notFound"),
    ):
        with pytest.raises(HttpError) as refused:
            directory.members().insert(groupKey=sales["id"], body=body).execute()
        assert refused.value.status_code == status and refused.value.error_details[0]["reason"] == reason
    assert (
        directory.groups().get(groupKey=sales["id"]).execute()["directMembersCount"]
        == after["directMembersCount"]
    )


def test_rate_limit_and_5xx(google: RunningEmulators) -> None:
    directory = service(google)
    control = google.providers["google"].control
    control.budget.configure(2, 1)
    directory.users().list(customer="my_customer", maxResults=1).execute()
    directory.users().list(customer="my_customer", maxResults=1).execute()
    with pytest.raises(HttpError) as throttled:
        directory.users().list(customer="my_customer", maxResults=1).execute()
    assert (
        throttled.value.status_code == 403
        and throttled.value.error_details[0]["reason"] == "rateLimitExceeded"
    )
    # the client's own retry (num_retries) waits and recovers once the window turns over
    assert directory.users().list(customer="my_customer", maxResults=1).execute(num_retries=5)["users"]
    control.budget.configure(0, 60)
    control.set_faults("5xx:1")
    with pytest.raises(HttpError) as failed:
        directory.users().list(customer="my_customer").execute()
    assert failed.value.status_code == 503


def test_injected_429_is_a_real_429_resource_exhausted(google: RunningEmulators) -> None:
    directory = service(google)
    google.providers["google"].control.set_faults("429:1")
    with pytest.raises(HttpError) as throttled:
        directory.users().list(customer="my_customer", maxResults=1).execute()
    error = json.loads(throttled.value.content)["error"]
    assert throttled.value.status_code == 429
    assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert [e["reason"] for e in error["errors"]] == ["rateLimitExceeded"]


def test_client_retries_an_injected_429_and_succeeds(google: RunningEmulators) -> None:
    directory = service(google)
    control = google.providers["google"].control
    control.set_faults("page:/admin/directory/v1/users:2:429")
    request = directory.users().list(customer="my_customer", maxResults=50)
    first = request.execute()
    control.trace = []
    second = directory.users().list_next(request, first).execute(num_retries=3)
    calls = [entry for entry in control.trace if entry[1] == "/admin/directory/v1/users"]
    assert len(second["users"]) == 50
    assert not {u["id"] for u in first["users"]} & {u["id"] for u in second["users"]}
    assert len(calls) == 2  # the 429, then the retry that succeeded


def test_unknown_paths_answer_with_google_errors(google: RunningEmulators) -> None:
    with httpx.Client(base_url=google.providers["google"].url) as client:
        missing = client.get("/admin/directory/v1/nonsense")
    error = missing.json()["error"]
    assert missing.status_code == 404
    assert (error["code"], error["status"], error["errors"][0]["reason"]) == (404, "NOT_FOUND", "notFound")


def test_groups_and_members_listings_are_capped_at_200(tmp_path: Path, small_org: SyntheticOrg) -> None:
    everyone = [a.key for a in small_org.google.accounts]
    extra = [
        Group(key=f"extra-{i}", name=f"extra-{i:03d}", email=f"extra-{i:03d}@{small_org.domain}")
        for i in range(210)
    ]
    extra[0].member_keys = everyone
    extra[0].child_group_keys = [g.key for g in extra[1:11]]  # nested groups are members too
    org = replace(small_org, google=replace(small_org.google, groups=[*small_org.google.groups, *extra]))
    with start_emulators(org, workdir=tmp_path, tls=False, providers=("google",)) as running:
        directory = service(running)
        first = directory.groups().list(customer="my_customer", maxResults=500).execute()
        groups = list(first["groups"])
        request = directory.groups().list(customer="my_customer", maxResults=500)
        response = first
        while (request := directory.groups().list_next(request, response)) is not None:
            response = request.execute()
            groups += response["groups"]
        members = directory.members().list(groupKey=f"extra-000@{org.domain}", maxResults=500).execute()
    assert len(first["groups"]) == 200 and first["nextPageToken"]
    assert len(groups) == len({g["id"] for g in groups}) == len(org.google.groups) > 200
    assert len(everyone) + 10 > 200 and len(members["members"]) == 200 and members["nextPageToken"]


def test_admin_roles_assigned_to_a_group(google: RunningEmulators, small_org: SyntheticOrg) -> None:
    """_HELP_DESK_ADMIN_ROLE is assigned to helpdesk-admins (assigneeType group): listed for the role,
    for the group's userKey, and for a member's userKey with includeIndirectRoleAssignments."""
    directory = service(google)
    role = next(r for r in small_org.google.roles if r.name == "_HELP_DESK_ADMIN_ROLE")
    group = directory.groups().get(groupKey=f"helpdesk-admins@{small_org.domain}").execute()
    role_id = next(
        r["roleId"]
        for r in directory.roles().list(customer="my_customer").execute()["items"]
        if r["roleName"] == role.name
    )
    of_role = directory.roleAssignments().list(customer="my_customer", roleId=role_id).execute()["items"]
    assert sorted(a["assigneeType"] for a in of_role) == ["group"] + ["user"] * len(role.assigned_keys)
    (to_group,) = [a for a in of_role if a["assigneeType"] == "group"]
    assert to_group["assignedTo"] == group["id"]
    by_group = directory.roleAssignments().list(customer="my_customer", userKey=group["email"]).execute()
    assert by_group["items"] == [to_group]

    member = next(
        a.login for a in small_org.google.accounts if a.key in group_member_keys(small_org, "helpdesk-admins")
    )
    direct = directory.roleAssignments().list(customer="my_customer", userKey=member).execute()
    assert to_group not in direct.get("items", [])
    indirect = (
        directory.roleAssignments()
        .list(customer="my_customer", userKey=member, includeIndirectRoleAssignments=True)
        .execute()
    )
    assert to_group in indirect["items"]
    with pytest.raises(HttpError) as both:  # the API takes roleId and userKey as mutually exclusive
        directory.roleAssignments().list(customer="my_customer", roleId=role_id, userKey=member).execute()
    assert both.value.resp.status == 400


def group_member_keys(org: SyntheticOrg, key: str) -> list[str]:
    return next(g for g in org.google.groups if g.key == key).member_keys
