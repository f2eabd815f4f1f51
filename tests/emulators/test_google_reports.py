"""The Google emulator's Reports API (activities.list) and its users.list viewType, driven by
google-api-python-client with a service account, as the connector uses them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from connectors.emulators.model import SyntheticOrg
from connectors.emulators.runner import RunningEmulators, start_emulators

DIRECTORY = [
    "https://www.googleapis.com/auth/admin.directory.user",
    "https://www.googleapis.com/auth/admin.directory.group",
    "https://www.googleapis.com/auth/admin.directory.rolemanagement",
]
AUDIT = "https://www.googleapis.com/auth/admin.reports.audit.readonly"
ADMIN_ONLY = {"suspended", "isAdmin", "isEnrolledIn2Sv", "isEnforcedIn2Sv", "lastLoginTime", "orgUnitPath"}


@pytest.fixture
def google(tmp_path: Path, small_org: SyntheticOrg) -> Iterator[RunningEmulators]:
    running = start_emulators(small_org, workdir=tmp_path, tls=False, strict_auth=True, providers=("google",))
    yield running
    running.stop()


def credentials(running: RunningEmulators, scopes: list[str]) -> Any:
    info = json.loads(running.providers["google"].credential_files["service_account_key"].read_text())
    return service_account.Credentials.from_service_account_info(info, scopes=scopes).with_subject(
        running.secrets.google_admin_email
    )


def api(running: RunningEmulators, name: str, version: str, scopes: list[str]) -> Any:
    return build(
        name,
        version,
        credentials=credentials(running, scopes),
        static_discovery=True,
        client_options={"api_endpoint": running.providers["google"].url},
    )


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def params(activity: dict[str, Any]) -> dict[str, str]:
    (event,) = activity["events"]
    return {p["name"]: p["value"] for p in event["parameters"]}


def test_directory_changes_are_listed_as_admin_activities(
    google: RunningEmulators, small_org: SyntheticOrg
) -> None:
    """Member insert/delete, role assignment insert/delete, group insert/delete and a suspension,
    made through the Directory API, come back from activities.list newest first, paged, with
    Google's event types, names and parameters, attributed to the admin the token acts for."""
    started = rfc3339(datetime.now(UTC) - timedelta(seconds=1))
    directory = api(google, "admin", "directory_v1", DIRECTORY)
    reports = api(google, "admin", "reports_v1", [AUDIT])
    domain = small_org.domain
    sales = directory.groups().get(groupKey=f"dept-sales@{domain}").execute()
    member = directory.members().list(groupKey=sales["id"]).execute()["members"][0]["email"]
    outsider = f"it-admin@{domain}"
    directory.members().delete(groupKey=sales["id"], memberKey=member).execute()
    directory.members().insert(groupKey=sales["id"], body={"email": outsider}).execute()
    roles = {
        r["roleName"]: r["roleId"] for r in directory.roles().list(customer="my_customer").execute()["items"]
    }
    user_id = directory.users().get(userKey=member).execute()["id"]
    assignment = (
        directory.roleAssignments()
        .insert(
            customer="my_customer",
            body={"roleId": roles["_GROUPS_ADMIN_ROLE"], "assignedTo": user_id, "scopeType": "CUSTOMER"},
        )
        .execute()
    )
    assert (assignment["assigneeType"], assignment["roleId"]) == ("user", roles["_GROUPS_ADMIN_ROLE"])
    directory.roleAssignments().delete(
        customer="my_customer", roleAssignmentId=assignment["roleAssignmentId"]
    ).execute()
    created = directory.groups().insert(body={"email": f"new-team@{domain}", "name": "New team"}).execute()
    directory.groups().delete(groupKey=created["id"]).execute()
    directory.users().patch(userKey=member, body={"suspended": True}).execute()

    pages: list[dict[str, Any]] = []
    request = reports.activities().list(
        userKey="all", applicationName="admin", startTime=started, maxResults=3
    )
    while request is not None:
        pages.append(request.execute())
        request = reports.activities().list_next(request, pages[-1])
    items = [a for page in pages for a in page["items"]]
    assert [len(p["items"]) for p in pages] == [3, 3, 1] and pages[0]["kind"] == "admin#reports#activities"
    names = [(a["events"][0]["type"], a["events"][0]["name"]) for a in items]
    assert names == [
        ("USER_SETTINGS", "SUSPEND_USER"),
        ("GROUP_SETTINGS", "DELETE_GROUP"),
        ("GROUP_SETTINGS", "CREATE_GROUP"),
        ("DELEGATED_ADMIN_SETTINGS", "UNASSIGN_ROLE"),
        ("DELEGATED_ADMIN_SETTINGS", "ASSIGN_ROLE"),
        ("GROUP_SETTINGS", "ADD_GROUP_MEMBER"),
        ("GROUP_SETTINGS", "REMOVE_GROUP_MEMBER"),
    ]
    assert params(items[-1]) == {"GROUP_EMAIL": sales["email"], "USER_EMAIL": member}
    assert params(items[-2]) == {"GROUP_EMAIL": sales["email"], "USER_EMAIL": outsider}
    assert params(items[-3]) == {"ROLE_NAME": "_GROUPS_ADMIN_ROLE", "USER_EMAIL": member}
    assert params(items[2]) == {"GROUP_EMAIL": f"new-team@{domain}"}
    assert params(items[0]) == {"USER_EMAIL": member}
    times = [a["id"]["time"] for a in items]
    assert times == sorted(times, reverse=True)
    assert len({(a["id"]["time"], a["id"]["uniqueQualifier"]) for a in items}) == len(items)
    assert all(a["actor"]["email"] == google.secrets.google_admin_email for a in items)
    assert all(a["id"]["applicationName"] == "admin" and a["kind"] == "admin#reports#activity" for a in items)

    # eventName and filters narrow the listing; other applications have nothing recorded here
    removed = (
        reports.activities()
        .list(userKey="all", applicationName="admin", startTime=started, eventName="REMOVE_GROUP_MEMBER")
        .execute()["items"]
    )
    assert [params(a)["USER_EMAIL"] for a in removed] == [member]
    filtered = (
        reports.activities()
        .list(userKey="all", applicationName="admin", startTime=started, filters=f"USER_EMAIL=={outsider}")
        .execute()["items"]
    )
    assert [a["events"][0]["name"] for a in filtered] == ["ADD_GROUP_MEMBER"]
    excluded = (
        reports.activities()
        .list(
            userKey="all",
            applicationName="admin",
            startTime=started,
            eventName="ADD_GROUP_MEMBER",
            filters=f"USER_EMAIL<>{outsider}",
        )
        .execute()
    )
    assert excluded.get("items", []) == []
    later = reports.activities().list(userKey="all", applicationName="admin", startTime=times[0]).execute()
    assert {a["id"]["time"] for a in later["items"]} == {times[0]}
    assert reports.activities().list(userKey="all", applicationName="drive").execute().get("items", []) == []
    mine = reports.activities().list(userKey=google.secrets.google_admin_email, applicationName="admin")
    assert len(mine.execute()["items"]) == len(items)
    nobody_else = reports.activities().list(userKey=member, applicationName="admin").execute()
    assert nobody_else.get("items", []) == []


def test_a_page_token_pins_the_listing_end(google: RunningEmulators, small_org: SyntheticOrg) -> None:
    """Activities recorded while a listing is paged do not shift its pages: no activity is listed twice
    or skipped; the next listing has them."""
    state = google.providers["google"].server.app.app.state.google
    reports = api(google, "admin", "reports_v1", [AUDIT])
    started = rfc3339(datetime.now(UTC) - timedelta(seconds=1))
    group = next(g for g in state.groups.values() if "GROUP" not in g.members.values() and len(g.members) > 4)
    members = list(group.members)[:4]
    for uid in members:
        state.remove_member(group.id, uid)
    request = reports.activities().list(
        userKey="all", applicationName="admin", startTime=started, maxResults=2
    )
    first = request.execute()
    state.add_member(group.id, members[0])  # recorded between the pages
    second = reports.activities().list_next(request, first).execute()
    listed = [params(a)["USER_EMAIL"] for a in first["items"] + second["items"]]
    emails = [state.users[uid].body["primaryEmail"] for uid in members]
    assert listed == emails[::-1] and "nextPageToken" not in second
    again = reports.activities().list(userKey="all", applicationName="admin", startTime=started).execute()
    assert [a["events"][0]["name"] for a in again["items"]] == ["ADD_GROUP_MEMBER"] + [
        "REMOVE_GROUP_MEMBER"
    ] * 4


def test_held_activities_arrive_late_with_their_own_times(google: RunningEmulators) -> None:
    """The emulator's late-data hook: what is recorded while held is not listed until released, and
    then it is listed at the time it happened (as Reports data that lagged)."""
    state = google.providers["google"].server.app.app.state.google
    reports = api(google, "admin", "reports_v1", [AUDIT])
    group = next(g for g in state.groups.values() if "GROUP" not in g.members.values() and g.members)
    uid = next(iter(group.members))
    with httpx.Client(base_url=google.providers["google"].url) as http:
        assert http.post("/_emulator/state/reports", json={"hold": True}).json() == {"held": True}
        state.remove_member(group.id, uid)
        before = reports.activities().list(userKey="all", applicationName="admin").execute()
        state.add_member(group.id, uid)
        released = http.post("/_emulator/state/reports", json={"hold": False}).json()
    after = reports.activities().list(userKey="all", applicationName="admin").execute()["items"]
    assert before.get("items", []) == [] and released == {"held": False, "released": 2}
    assert [a["events"][0]["name"] for a in after] == ["ADD_GROUP_MEMBER", "REMOVE_GROUP_MEMBER"]


def test_reports_errors_are_googles(google: RunningEmulators) -> None:
    reports = api(google, "admin", "reports_v1", [AUDIT])
    future = rfc3339(datetime.now(UTC) + timedelta(hours=1))
    past = rfc3339(datetime.now(UTC) - timedelta(hours=1))
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"maxResults": 1001}, 400, "invalid"),
        ({"maxResults": 0}, 400, "invalid"),
        ({"startTime": future}, 400, "invalid"),
        ({"startTime": past, "endTime": rfc3339(datetime.now(UTC) - timedelta(hours=2))}, 400, "invalid"),
        ({"pageToken": "not-a-token"}, 400, "invalid"),
        ({"filters": "USER_EMAIL,x"}, 400, "invalid"),
        ({"customerId": "C0someoneelse"}, 403, "forbidden"),
    ]
    for extra, status, reason in cases:
        with pytest.raises(HttpError) as refused:
            reports.activities().list(userKey="all", applicationName="admin", **extra).execute()
        assert refused.value.status_code == status, extra
        assert refused.value.error_details[0]["reason"] == reason, extra
    with pytest.raises(HttpError) as unknown:
        reports.activities().list(userKey="nobody@example.com", applicationName="admin").execute()
    assert unknown.value.status_code == 404


def test_a_token_without_the_audit_scope_is_refused(google: RunningEmulators) -> None:
    """A token minted for the Directory scopes only cannot read the audit log: 403 with Google's
    insufficientPermissions and ACCESS_TOKEN_SCOPE_INSUFFICIENT."""
    reports = build(
        "admin",
        "reports_v1",
        credentials=credentials(google, DIRECTORY),
        static_discovery=True,
        client_options={"api_endpoint": google.providers["google"].url},
    )
    with pytest.raises(HttpError) as refused:
        reports.activities().list(userKey="all", applicationName="admin").execute()
    error = json.loads(refused.value.content)["error"]
    assert refused.value.status_code == 403 and error["status"] == "PERMISSION_DENIED"
    assert error["errors"][0]["reason"] == "insufficientPermissions"
    assert error["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"


def test_reports_are_rate_limited_and_faulted_like_the_directory(google: RunningEmulators) -> None:
    reports = api(google, "admin", "reports_v1", [AUDIT])
    control = google.providers["google"].control
    control.set_faults("page:/admin/reports/v1/activity/users/all/applications/admin:1:429")
    with pytest.raises(HttpError) as throttled:
        reports.activities().list(userKey="all", applicationName="admin").execute()
    assert throttled.value.status_code == 429
    assert json.loads(throttled.value.content)["error"]["status"] == "RESOURCE_EXHAUSTED"
    control.set_faults(None)
    control.budget.configure(1, 60)
    reports.activities().list(userKey="all", applicationName="admin").execute()
    with pytest.raises(HttpError) as over:
        reports.activities().list(userKey="all", applicationName="admin").execute()
    assert over.value.status_code == 403 and over.value.error_details[0]["reason"] == "rateLimitExceeded"


def test_users_list_domain_public_shows_only_public_fields(
    google: RunningEmulators, small_org: SyntheticOrg
) -> None:
    """viewType=domain_public: the profile other users see (name, email, organization, manager),
    none of the administrator-only fields; admin_view, the default, has them all."""
    directory = api(google, "admin", "directory_v1", DIRECTORY)
    public = directory.users().list(customer="my_customer", viewType="domain_public", maxResults=50).execute()
    admin = directory.users().list(customer="my_customer", maxResults=50).execute()
    explicit = directory.users().list(customer="my_customer", viewType="admin_view", maxResults=50).execute()
    assert admin == explicit and len(public["users"]) == len(admin["users"]) == 50
    assert [u["id"] for u in public["users"]] == [u["id"] for u in admin["users"]]
    assert all(set(u) >= ADMIN_ONLY for u in admin["users"])
    assert not any(ADMIN_ONLY & set(u) for u in public["users"])
    with_manager = next(u for u in public["users"] if u.get("relations"))
    assert with_manager["name"]["fullName"] and with_manager["primaryEmail"]
    one = directory.users().get(userKey=with_manager["id"], viewType="domain_public").execute()
    assert one == with_manager


def test_make_admin_assigns_the_super_admin_role_and_is_logged(
    google: RunningEmulators, small_org: SyntheticOrg
) -> None:
    """users.makeAdmin: isAdmin, a _SEED_ADMIN_ROLE assignment, and GRANT_ADMIN_PRIVILEGE in the log;
    status false takes them back (REVOKE_ADMIN_PRIVILEGE)."""
    directory = api(google, "admin", "directory_v1", DIRECTORY)
    reports = api(google, "admin", "reports_v1", [AUDIT])
    started = rfc3339(datetime.now(UTC) - timedelta(seconds=1))
    user = next(
        u for u in directory.users().list(customer="my_customer").execute()["users"] if not u["isAdmin"]
    )
    seed = next(
        r["roleId"]
        for r in directory.roles().list(customer="my_customer").execute()["items"]
        if r["roleName"] == "_SEED_ADMIN_ROLE"
    )

    def super_admins() -> set[str]:
        items = directory.roleAssignments().list(customer="my_customer", roleId=seed).execute()["items"]
        return {a["assignedTo"] for a in items}

    directory.users().makeAdmin(userKey=user["primaryEmail"], body={"status": True}).execute()
    assert directory.users().get(userKey=user["id"]).execute()["isAdmin"] is True
    assert user["id"] in super_admins()
    directory.users().makeAdmin(userKey=user["id"], body={"status": False}).execute()
    assert directory.users().get(userKey=user["id"]).execute()["isAdmin"] is False
    assert user["id"] not in super_admins()
    with pytest.raises(HttpError) as refused:
        directory.users().makeAdmin(userKey=user["id"], body={}).execute()
    assert refused.value.status_code == 400
    items = (
        reports.activities()
        .list(userKey="all", applicationName="admin", startTime=started)
        .execute()["items"]
    )
    assert [(a["events"][0]["name"], params(a)) for a in items] == [
        ("REVOKE_ADMIN_PRIVILEGE", {"USER_EMAIL": user["primaryEmail"]}),
        ("GRANT_ADMIN_PRIVILEGE", {"USER_EMAIL": user["primaryEmail"]}),
    ]
