"""The writes a leaver, lockout or restore plan makes in the Google emulator, driven by
google-api-python-client with a service account, each read back through the Directory API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from connectors.emulators.model import Account, SyntheticOrg
from connectors.emulators.runner import RunningEmulators, start_emulators

AUTH = "https://www.googleapis.com/auth/"
WRITE = [
    AUTH + "admin.directory.user",
    AUTH + "admin.directory.user.security",
    AUTH + "admin.directory.group.member",
    AUTH + "admin.directory.group.readonly",
    AUTH + "admin.directory.rolemanagement",
]
READ_ONLY = [
    AUTH + "admin.directory.user.readonly",
    AUTH + "admin.directory.group.readonly",
    AUTH + "admin.directory.group.member.readonly",
    AUTH + "admin.directory.rolemanagement.readonly",
]
TOKEN_FIELDS = {"kind", "etag", "clientId", "displayText", "scopes", "anonymous", "nativeApp", "userKey"}
ASP_FIELDS = {"kind", "etag", "codeId", "name", "creationTime", "lastTimeUsed", "userKey"}


@pytest.fixture
def google(tmp_path: Path, small_org: SyntheticOrg) -> Iterator[RunningEmulators]:
    running = start_emulators(small_org, workdir=tmp_path, tls=False, strict_auth=True, providers=("google",))
    yield running
    running.stop()


def directory(running: RunningEmulators, scopes: list[str] = WRITE) -> Any:
    info = json.loads(running.providers["google"].credential_files["service_account_key"].read_text())
    credentials = service_account.Credentials.from_service_account_info(info, scopes=scopes).with_subject(
        running.secrets.google_admin_email
    )
    return build(
        "admin",
        "directory_v1",
        credentials=credentials,
        static_discovery=True,
        client_options={"api_endpoint": running.providers["google"].url},
    )


def person(org: SyntheticOrg, *, tokens: bool = False, asps: bool = False, codes: bool = False) -> Account:
    return next(
        a
        for a in org.google.accounts
        if a.status == "active"
        and a.person_employee_id
        and (a.oauth_grants or not tokens)
        and (a.app_passwords or not asps)
        and (a.backup_codes or not codes)
    )


def error(exc: HttpError) -> dict[str, Any]:
    return json.loads(exc.content)["error"]


def test_the_generated_org_gives_people_tokens_app_passwords_and_backup_codes(
    google: RunningEmulators, small_org: SyntheticOrg
) -> None:
    api = directory(google)
    people = [a for a in small_org.google.accounts if a.status == "active" and a.person_employee_id]
    with_tokens = [a for a in people if a.oauth_grants]
    assert len(with_tokens) > len(people) // 3 and any(a.app_passwords for a in people)
    assert any(a.backup_codes for a in people)
    someone = person(small_org, tokens=True, asps=True)
    tokens = api.tokens().list(userKey=someone.login).execute()["items"]
    assert sorted(t["clientId"] for t in tokens) == sorted(g.client_id for g in someone.oauth_grants)
    assert all(set(t) == TOKEN_FIELDS and t["kind"] == "admin#directory#token" for t in tokens)
    (asp,) = api.asps().list(userKey=someone.login).execute()["items"]
    assert set(asp) == ASP_FIELDS and isinstance(asp["codeId"], int) and asp["creationTime"].isdigit()


def test_suspension_is_read_back_with_its_reason(google: RunningEmulators, small_org: SyntheticOrg) -> None:
    api = directory(google)
    login = person(small_org).login
    patched = api.users().patch(userKey=login, body={"suspended": True}).execute()
    assert patched["suspended"] is True
    user = api.users().get(userKey=login).execute()
    assert user["suspended"] is True and user["suspensionReason"] == "ADMIN"
    listed = api.users().list(customer="my_customer", query="isSuspended=true", maxResults=500).execute()
    assert login in {u["primaryEmail"] for u in listed["users"]}
    api.users().update(userKey=login, body={"suspended": False}).execute()
    user = api.users().get(userKey=login).execute()
    assert user["suspended"] is False and "suspensionReason" not in user


def test_tokens_and_app_passwords_are_got_and_deleted(
    google: RunningEmulators, small_org: SyntheticOrg
) -> None:
    api = directory(google)
    someone = person(small_org, tokens=True, asps=True)
    client_id = someone.oauth_grants[0].client_id
    token = api.tokens().get(userKey=someone.login, clientId=client_id).execute()
    assert token["clientId"] == client_id and token["displayText"] == someone.oauth_grants[0].app_name
    for grant in someone.oauth_grants:
        api.tokens().delete(userKey=someone.login, clientId=grant.client_id).execute()
    assert api.tokens().list(userKey=someone.login).execute().get("items", []) == []
    with pytest.raises(HttpError) as gone:
        api.tokens().get(userKey=someone.login, clientId=client_id).execute()
    assert gone.value.status_code == 404 and error(gone.value)["errors"][0]["reason"] == "notFound"
    with pytest.raises(HttpError) as again:
        api.tokens().delete(userKey=someone.login, clientId=client_id).execute()
    assert again.value.status_code == 404

    code_id = someone.app_passwords[0].code_id
    assert api.asps().get(userKey=someone.login, codeId=code_id).execute()["codeId"] == code_id
    api.asps().delete(userKey=someone.login, codeId=code_id).execute()
    assert api.asps().list(userKey=someone.login).execute().get("items", []) == []
    with pytest.raises(HttpError) as asp_gone:
        api.asps().get(userKey=someone.login, codeId=code_id).execute()
    assert asp_gone.value.status_code == 404


def test_backup_codes_are_listed_until_invalidated_and_sign_out_leaves_tokens(
    google: RunningEmulators, small_org: SyntheticOrg
) -> None:
    """verificationCodes.invalidate: the current codes stop working and are no longer listed (only
    generate makes new ones).  signOut ends sessions (Google has no read of them) and revokes no token."""
    api = directory(google)
    someone = person(small_org, tokens=True, codes=True)
    codes = api.verificationCodes().list(userKey=someone.login).execute()["items"]
    assert sorted(c["verificationCode"] for c in codes) == sorted(someone.backup_codes)
    assert all(c["kind"] == "admin#directory#verificationCode" and c["userId"] for c in codes)
    api.verificationCodes().invalidate(userKey=someone.login).execute()
    assert api.verificationCodes().list(userKey=someone.login).execute().get("items", []) == []

    before = api.tokens().list(userKey=someone.login).execute()["items"]
    api.users().signOut(userKey=someone.login).execute()
    assert api.tokens().list(userKey=someone.login).execute()["items"] == before


def test_members_delete_answers_404_for_a_non_member(
    google: RunningEmulators, small_org: SyntheticOrg
) -> None:
    api = directory(google)
    login = person(small_org).login
    group_id = api.groups().list(userKey=login).execute()["groups"][0]["id"]
    api.members().delete(groupKey=group_id, memberKey=login).execute()
    members = api.members().list(groupKey=group_id, maxResults=200).execute().get("members", [])
    assert login not in {m["email"] for m in members}
    assert group_id not in {g["id"] for g in api.groups().list(userKey=login).execute().get("groups", [])}
    with pytest.raises(HttpError) as absent:
        api.members().delete(groupKey=group_id, memberKey=login).execute()
    body = error(absent.value)
    assert absent.value.status_code == 404 and body["errors"][0]["reason"] == "notFound"
    assert body["status"] == "NOT_FOUND"


def test_removing_the_super_admin_role_clears_is_admin(google: RunningEmulators) -> None:
    api = directory(google)
    roles = api.roles().list(customer="my_customer").execute()["items"]
    super_admin = next(r["roleId"] for r in roles if r["isSuperAdminRole"])
    assignments = api.roleAssignments().list(customer="my_customer", roleId=super_admin).execute()["items"]
    admin_email = google.secrets.google_admin_email.lower()
    target = next(
        a
        for a in assignments
        if a["assigneeType"] == "user"
        and api.users().get(userKey=a["assignedTo"]).execute()["primaryEmail"].lower() != admin_email
    )
    assert api.users().get(userKey=target["assignedTo"]).execute()["isAdmin"] is True
    api.roleAssignments().delete(
        customer="my_customer", roleAssignmentId=target["roleAssignmentId"]
    ).execute()
    assert api.users().get(userKey=target["assignedTo"]).execute()["isAdmin"] is False
    admins = api.users().list(customer="my_customer", query="isAdmin=true", maxResults=500).execute()
    assert target["assignedTo"] not in {u["id"] for u in admins["users"]}
    with pytest.raises(HttpError) as gone:
        api.roleAssignments().delete(
            customer="my_customer", roleAssignmentId=target["roleAssignmentId"]
        ).execute()
    assert gone.value.status_code == 404


def test_a_read_only_token_reads_but_every_write_gets_googles_403(
    google: RunningEmulators, small_org: SyntheticOrg
) -> None:
    reader, writer = directory(google, READ_ONLY), directory(google)
    someone = person(small_org, tokens=True)
    group_id = reader.groups().list(userKey=someone.login).execute()["groups"][0]["id"]
    assert reader.users().list(customer="my_customer", maxResults=10).execute()["users"]
    assert reader.members().list(groupKey=group_id).execute()["members"]
    assignment = reader.roleAssignments().list(customer="my_customer").execute()["items"][0]
    writes = [
        reader.users().patch(userKey=someone.login, body={"suspended": True}),
        reader.users().signOut(userKey=someone.login),
        reader.tokens().list(userKey=someone.login),
        reader.tokens().delete(userKey=someone.login, clientId=someone.oauth_grants[0].client_id),
        reader.asps().list(userKey=someone.login),
        reader.verificationCodes().invalidate(userKey=someone.login),
        reader.members().delete(groupKey=group_id, memberKey=someone.login),
        reader.roleAssignments().delete(
            customer="my_customer", roleAssignmentId=assignment["roleAssignmentId"]
        ),
    ]
    for request in writes:
        with pytest.raises(HttpError) as refused:
            request.execute()
        body = error(refused.value)
        assert refused.value.status_code == 403 and body["status"] == "PERMISSION_DENIED"
        assert body["errors"][0]["reason"] == "insufficientPermissions"
        assert body["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    # nothing changed
    assert writer.users().get(userKey=someone.login).execute()["suspended"] is False
    assert len(writer.tokens().list(userKey=someone.login).execute()["items"]) == len(someone.oauth_grants)
    assert someone.login in {
        m["email"] for m in writer.members().list(groupKey=group_id).execute()["members"]
    }
    assert assignment in writer.roleAssignments().list(customer="my_customer").execute()["items"]


def test_a_faulted_write_is_a_server_error_and_changes_nothing(
    google: RunningEmulators, small_org: SyntheticOrg
) -> None:
    api = directory(google)
    someone = person(small_org, tokens=True)
    control = google.providers["google"].control
    control.set_faults("5xx:1")
    for request in (
        api.users().patch(userKey=someone.login, body={"suspended": True}),
        api.tokens().delete(userKey=someone.login, clientId=someone.oauth_grants[0].client_id),
    ):
        with pytest.raises(HttpError) as failed:
            request.execute()
        assert failed.value.status_code == 503 and error(failed.value)["status"] == "UNAVAILABLE"
    control.set_faults(None)
    assert api.users().get(userKey=someone.login).execute()["suspended"] is False
    assert len(api.tokens().list(userKey=someone.login).execute()["items"]) == len(someone.oauth_grants)
    assert [e.result for e in control.journal][-2:] == ["fault:5xx", "fault:5xx"]


def test_latency_applies_to_writes(tmp_path: Path, small_org: SyntheticOrg) -> None:
    """``accessctl emulate --latency-ms`` (start_emulators(latency_ms=...)) delays every call, writes too."""
    with start_emulators(
        small_org, workdir=tmp_path, tls=False, latency_ms=150, providers=("google",)
    ) as running:
        api = directory(running)
        login = person(small_org).login
        api.users().get(userKey=login).execute()  # the token and the connection first
        started = time.monotonic()
        api.users().patch(userKey=login, body={"suspended": True}).execute()
        assert time.monotonic() - started >= 0.15


def test_each_method_accepts_the_scopes_googles_discovery_document_lists() -> None:
    """The emulator's scope table is Google's own: the discovery documents google-api-python-client ships."""
    import googleapiclient

    from connectors.emulators.google.scopes import METHODS

    documents = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
    discovered: dict[str, frozenset[str]] = {}
    for api, name in (("directory", "admin.directory_v1.json"), ("reports", "admin.reports_v1.json")):
        resources = json.loads((documents / name).read_text())["resources"]
        for resource, body in resources.items():
            for method, spec in body.get("methods", {}).items():
                discovered[f"{api}.{resource}.{method}"] = frozenset(spec.get("scopes", []))
    assert {m: discovered.get(m) for m in METHODS} == METHODS
