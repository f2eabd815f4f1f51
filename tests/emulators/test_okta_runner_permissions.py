"""Okta API tokens as `accessctl emulate` starts the org: an unknown token is Okta's 401 E0000011, the
org's own token (a super admin's) changes things, and a read-only admin's token reads everything but
is refused every write with Okta's 403 E0000006, changing nothing."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

from connectors.emulators.generate import generate_org
from connectors.emulators.runner import RunningEmulators, start_emulators


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Any:
    org = generate_org(40, seed=4)
    with start_emulators(org, workdir=tmp_path_factory.mktemp("okta-perm"), providers=("okta",)) as emulators:
        yield emulators


def client(running: RunningEmulators, token: str) -> httpx.Client:
    okta = running.providers["okta"]
    return httpx.Client(
        base_url=okta.url,
        verify=ssl.create_default_context(cafile=str(running.ca_path)),
        headers={"Authorization": f"SSWS {token}"},
    )


def tokens(running: RunningEmulators) -> tuple[str, str]:
    okta = running.providers["okta"]
    return (
        okta.credential_files["api_token"].read_text().strip(),
        okta.read_only_credential_files["api_token"].read_text().strip(),
    )


def what_a_user_holds(api: httpx.Client, uid: str) -> dict[str, Any]:
    """Everything the writes below could change, read through the Management API."""
    clients = [c["client_id"] for c in api.get(f"/api/v1/users/{uid}/clients").json()]
    return {
        "status": api.get(f"/api/v1/users/{uid}").json()["status"],
        "groups": sorted(g["id"] for g in api.get(f"/api/v1/users/{uid}/groups").json()),
        "apps": sorted(
            a["id"] for a in api.get("/api/v1/apps", params={"filter": f'user.id eq "{uid}"'}).json()
        ),
        "roles": sorted(r["id"] for r in api.get(f"/api/v1/users/{uid}/roles").json()),
        "grants": sorted(g["id"] for g in api.get(f"/api/v1/users/{uid}/grants").json()),
        "tokens": sorted(
            t["id"] for c in clients for t in api.get(f"/api/v1/users/{uid}/clients/{c}/tokens").json()
        ),
    }


def test_an_unknown_token_is_refused_by_default(running: RunningEmulators) -> None:
    with client(running, "00not-a-token-of-this-org") as api:
        refused = api.get("/api/v1/users", params={"limit": 1})
    assert refused.status_code == 401
    assert (
        refused.json()["errorCode"] == "E0000011"
        and refused.json()["errorSummary"] == "Invalid token provided"
    )


def test_a_read_only_token_reads_but_every_write_is_refused_and_nothing_changes(
    running: RunningEmulators,
) -> None:
    own, read_only = tokens(running)
    with client(running, own) as admin, client(running, read_only) as limited:
        users = admin.get("/api/v1/users", params={"limit": 200}).json()
        target = next(
            u
            for u in users
            if u["status"] == "ACTIVE"
            and admin.get(f"/api/v1/users/{u['id']}/clients").json()
            and admin.get(f"/api/v1/users/{u['id']}/roles").json()
        )
        uid = target["id"]
        before = what_a_user_holds(admin, uid)
        assert limited.get(f"/api/v1/users/{uid}").status_code == 200  # reads are open to it
        me = limited.get("/api/v1/users/me").json()
        my_roles = {r["type"] for r in limited.get(f"/api/v1/users/{me['id']}/roles").json()}
        group = before["groups"][0]
        app = admin.get("/api/v1/apps").json()[0]["id"]
        client_id = admin.get(f"/api/v1/users/{uid}/clients").json()[0]["client_id"]
        writes = [
            *(("POST", f"/api/v1/users/{uid}/lifecycle/{a}") for a in ("suspend", "deactivate", "unsuspend")),
            ("POST", f"/api/v1/users/{uid}/lifecycle/activate?sendEmail=false"),
            ("DELETE", f"/api/v1/users/{uid}/sessions?oauthTokens=true"),
            ("DELETE", f"/api/v1/users/{uid}/grants"),
            ("DELETE", f"/api/v1/users/{uid}/grants/{before['grants'][0]}"),
            ("DELETE", f"/api/v1/users/{uid}/clients/{client_id}/grants"),
            ("DELETE", f"/api/v1/users/{uid}/clients/{client_id}/tokens"),
            ("DELETE", f"/api/v1/groups/{group}/users/{uid}"),
            ("PUT", f"/api/v1/groups/{group}/users/{uid}"),
            ("DELETE", f"/api/v1/apps/{app}/users/{uid}"),
            ("POST", f"/api/v1/apps/{app}/users"),
            ("DELETE", f"/api/v1/users/{uid}/roles/{before['roles'][0]}"),
            ("POST", f"/api/v1/users/{uid}/roles"),
        ]
        answers = {}
        for method, path in writes:
            body = {"id": uid, "scope": "USER"} if path.endswith("/users") else {"type": "SUPER_ADMIN"}
            response = limited.request(method, path, json=body if method == "POST" else None)
            answers[(method, path)] = (response.status_code, response.json()["errorCode"])
        after = what_a_user_holds(admin, uid)
    assert "READ_ONLY_ADMIN" in my_roles
    assert {k: v for k, v in answers.items() if v != (403, "E0000006")} == {}
    assert after == before and before["grants"] and before["tokens"]


def test_a_token_issued_for_a_help_desk_admin_may_clear_sessions_but_not_suspend(
    running: RunningEmulators,
) -> None:
    own, _ = tokens(running)
    with client(running, own) as admin:
        issued = admin.post(
            "/_emulator/state/tokens", json={"token": "00helpdesk-token", "role": "HELP_DESK_ADMIN"}
        )
        listed = admin.get("/_emulator/state/tokens").json()["tokens"]
        uid = next(u["id"] for u in admin.get("/api/v1/users").json() if u["status"] == "ACTIVE")
    with client(running, "00helpdesk-token") as helpdesk:
        cleared = helpdesk.delete(f"/api/v1/users/{uid}/sessions")
        suspended = helpdesk.post(f"/api/v1/users/{uid}/lifecycle/suspend")
        owner = helpdesk.get("/api/v1/users/me").json()["id"]
    assert issued.status_code == 200 and "HELP_DESK_ADMIN" in {t["role"] for t in listed}
    assert all("00helpdesk" not in str(t) for t in listed)  # the value is never shown
    assert cleared.status_code == 204
    assert suspended.status_code == 403 and suspended.json()["errorCode"] == "E0000006"
    assert owner in {t["owner"] for t in listed if t["role"] == "HELP_DESK_ADMIN"}
