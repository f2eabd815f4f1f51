"""The emulator runner: all three providers on loopback, reachable with only the files it wrote."""

from __future__ import annotations

import json
import socket
import ssl
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from connectors.emulators.control import FaultSpecError
from connectors.emulators.model import SyntheticOrg
from connectors.emulators.roster import read_roster
from connectors.emulators.runner import RunningEmulators, start_emulators

GOOGLE_SCOPE = "https://www.googleapis.com/auth/admin.directory.user.readonly"


@pytest.fixture(scope="module", params=[False, True], ids=["http", "tls"])
def running(
    request: pytest.FixtureRequest, small_org: SyntheticOrg, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningEmulators]:
    workdir = tmp_path_factory.mktemp("emulators")
    with start_emulators(small_org, workdir=workdir, tls=request.param, strict_auth=True) as emulators:
        yield emulators


def _client(running: RunningEmulators) -> httpx.Client:
    verify: Any = True
    if running.ca_path is not None:
        verify = ssl.create_default_context(cafile=str(running.ca_path))
    return httpx.Client(verify=verify, timeout=10)


def _okta_token(running: RunningEmulators) -> str:
    return running.providers["okta"].credential_files["api_token"].read_text()


def _entra_token(running: RunningEmulators, http: httpx.Client) -> str:
    entra = running.providers["entra"]
    response = http.post(
        f"{entra.url}/{entra.settings['tenant_id']}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials",
            "client_id": entra.settings["client_id"],
            "client_secret": entra.credential_files["client_secret"].read_text(),
            "scope": "https://graph.microsoft.com/.default",
        },
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def _google_token(
    running: RunningEmulators, http: httpx.Client, *, subject: str | None = None
) -> httpx.Response:
    google = running.providers["google"]
    key = json.loads(google.credential_files["service_account_key"].read_text())
    now = int(time.time())
    claims = {
        "iss": key["client_email"],
        "sub": subject or google.settings["admin_email"],
        "scope": GOOGLE_SCOPE,
        "aud": key["token_uri"],
        "iat": now,
        "exp": now + 3600,
    }
    assertion = jwt.encode(
        claims, key["private_key"], algorithm="RS256", headers={"kid": key["private_key_id"]}
    )
    return http.post(
        key["token_uri"],
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
    )


def test_all_three_run_with_the_requested_scheme(running: RunningEmulators) -> None:
    assert set(running.providers) == {"okta", "entra", "google"} and not running.missing
    scheme = "https://" if running.tls else "http://"
    assert all(url.startswith(scheme + "127.0.0.1:") for url in running.urls.values())
    assert len(set(running.urls.values())) == 3
    assert set(running.controls) == {"okta", "entra", "google"}


def test_okta_lists_users_with_the_written_api_token(
    running: RunningEmulators, small_org: SyntheticOrg
) -> None:
    with _client(running) as http:
        url = f"{running.urls['okta']}/api/v1/users"
        response = http.get(
            url, params={"limit": 200}, headers={"Authorization": f"SSWS {_okta_token(running)}"}
        )
        assert response.status_code == 200, response.text
        logins = {u["profile"]["login"] for u in response.json()}
        assert logins <= {a.login for a in small_org.okta.accounts}
        assert len(logins) == min(200, len(small_org.okta.accounts))
        wrong = http.get(url, headers={"Authorization": "SSWS not-the-token"})
        assert wrong.status_code == 401


def test_entra_lists_users_with_a_token_from_its_token_endpoint(
    running: RunningEmulators, small_org: SyntheticOrg
) -> None:
    with _client(running) as http:
        token = _entra_token(running, http)
        response = http.get(
            f"{running.urls['entra']}/v1.0/users",
            params={"$top": 999},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        upns = {u["userPrincipalName"] for u in response.json()["value"]}
        assert upns and upns <= {a.login for a in small_org.entra.accounts}


def test_google_lists_users_with_a_jwt_signed_by_the_written_key(
    running: RunningEmulators, small_org: SyntheticOrg
) -> None:
    with _client(running) as http:
        response = _google_token(running, http)
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        listing = http.get(
            f"{running.urls['google']}/admin/directory/v1/users",
            params={"customer": "my_customer", "maxResults": 500},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert listing.status_code == 200, listing.text
        emails = {u["primaryEmail"] for u in listing.json()["users"]}
        assert emails and emails <= {a.login for a in small_org.google.accounts}
        not_admin = _google_token(running, http, subject="nobody@example.com")
        assert not_admin.json()["error"] == "unauthorized_client"


def test_credential_files_are_owner_only_and_the_key_is_in_googles_format(running: RunningEmulators) -> None:
    files = [path for p in running.providers.values() for path in p.credential_files.values()]
    assert len(files) == 3
    for path in files:
        assert path.parent == running.workdir
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    key = json.loads(running.providers["google"].credential_files["service_account_key"].read_text())
    assert {
        "type",
        "project_id",
        "private_key_id",
        "private_key",
        "client_email",
        "client_id",
        "auth_uri",
        "token_uri",
        "auth_provider_x509_cert_url",
        "client_x509_cert_url",
    } <= set(key)
    assert key["type"] == "service_account"
    assert key["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert key["token_uri"] == f"{running.urls['google']}/token"
    assert key["client_email"].endswith(".iam.gserviceaccount.com")
    assert _okta_token(running) not in repr(running.secrets) and "redacted" in repr(running.secrets)


def test_the_roster_is_written_as_hr_exports_it(running: RunningEmulators, small_org: SyntheticOrg) -> None:
    assert running.roster_path == running.workdir / "roster.csv"
    assert read_roster(running.roster_path) == small_org.people


def test_each_run_gets_fresh_credentials(small_org: SyntheticOrg, tmp_path: Path) -> None:
    with (
        start_emulators(small_org, workdir=tmp_path / "a", tls=False, providers=("okta",)) as a,
        start_emulators(small_org, workdir=tmp_path / "b", tls=False, providers=("okta",)) as b,
    ):
        assert _okta_token(a) != _okta_token(b)
        assert a.ca_path is None


def test_knobs_reach_every_emulator_and_bad_faults_fail_before_anything_starts(
    small_org: SyntheticOrg, tmp_path: Path
) -> None:
    with pytest.raises(FaultSpecError):
        start_emulators(small_org, workdir=tmp_path / "bad", tls=False, faults="5xx:lots")
    assert not (tmp_path / "bad" / "roster.csv").exists()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with start_emulators(
        small_org,
        workdir=tmp_path / "knobs",
        tls=False,
        latency_ms=5,
        faults="5xx:1.0",
        rate_limit=50,
        ports={"okta": port},
    ) as emulators:
        assert emulators.urls["okta"] == f"http://127.0.0.1:{port}"
        for control in emulators.controls.values():
            assert control.latency_ms == 5
            assert control.budget.limit == 50
        with httpx.Client(timeout=10) as http:
            response = http.get(
                f"{emulators.urls['okta']}/api/v1/users",
                headers={"Authorization": f"SSWS {_okta_token(emulators)}"},
            )
        assert response.status_code >= 500


def _page_through(http: httpx.Client, url: str, params: dict[str, Any], headers: dict[str, str]) -> list[str]:
    """Ids of every user of a listing, whichever provider's paging (Link, nextLink, nextPageToken)."""
    ids: list[str] = []
    response = http.get(url, params=params, headers=headers)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        if isinstance(body, list):  # Okta: the next page's URL is in the Link header
            ids += [u["id"] for u in body]
            next_url = response.links.get("next", {}).get("url")
        elif "value" in body:  # Graph: the next page's URL is in the body
            ids += [u["id"] for u in body["value"]]
            next_url = body.get("@odata.nextLink")
        else:  # Google: the same URL with pageToken
            ids += [u["id"] for u in body.get("users", [])]
            token = body.get("nextPageToken")
            next_url = str(httpx.URL(url, params={**params, "pageToken": token})) if token else None
        if next_url is None:
            return ids
        response = http.get(next_url, headers=headers)  # no params: they would replace the URL's query


def test_a_10000_person_org_serves_every_user_from_each_provider(tmp_path: Path) -> None:
    from connectors.emulators.generate import generate_org

    org = generate_org(10_000, seed=5)
    with (
        start_emulators(org, workdir=tmp_path, tls=True, strict_auth=True) as running,
        _client(running) as http,
    ):
        okta = _page_through(
            http,
            f"{running.urls['okta']}/api/v1/users",
            {"limit": 200},
            {"Authorization": f"SSWS {_okta_token(running)}"},
        )
        entra = _page_through(
            http,
            f"{running.urls['entra']}/v1.0/users",
            {"$top": 999, "$select": "id"},
            {"Authorization": f"Bearer {_entra_token(running, http)}"},
        )
        google = _page_through(
            http,
            f"{running.urls['google']}/admin/directory/v1/users",
            {"customer": "my_customer", "maxResults": 500},
            {"Authorization": f"Bearer {_google_token(running, http).json()['access_token']}"},
        )
    assert len(okta) == len(set(okta)) == sum(1 for a in org.okta.accounts if a.status != "deprovisioned")
    assert len(entra) == len(set(entra)) == len(org.entra.accounts)
    assert len(google) == len(set(google)) == len(org.google.accounts)
    assert len(okta) > 9000
