"""`accessctl config check --live` and each connector's check_permissions against emulators holding
every permission, and too few: an Okta read-only admin's token, an Entra app without write roles, a
Google delegation without write scopes.  Each names what is missing."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from accessctl import exitcodes
from connectors.base import ChecksPermissions
from connectors.emulators.entra import READ_ONLY_ROLES
from connectors.emulators.generate import generate_org
from connectors.emulators.runner import RunningEmulators, start_emulators
from connectors.google.config import READ_ONLY_SCOPES
from tests.connectors.helpers import entra_connector, google_connector, okta_connector, run

READ_ONLY_APP = ("read-only-app", "ro~secret")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEmulators]:
    with start_emulators(generate_org(30, seed=2), workdir=tmp_path_factory.mktemp("perm")) as emulators:
        entra = emulators.providers["entra"]
        with httpx.Client(
            base_url=entra.url, verify=ssl.create_default_context(cafile=str(emulators.ca_path))
        ) as c:
            app = {
                "client_id": READ_ONLY_APP[0],
                "client_secret": READ_ONLY_APP[1],
                "roles": sorted(READ_ONLY_ROLES),
            }
            assert c.post("/_emulator/state/apps", json=app).status_code == 200
        yield emulators


def okta(running: RunningEmulators, *, read_only: bool = False) -> Any:
    return okta_connector(running, read_only=read_only)


def entra(running: RunningEmulators, *, read_only: bool = False) -> Any:
    provider = running.providers["entra"]
    if read_only:
        return entra_connector(running, *READ_ONLY_APP)
    return entra_connector(
        running, provider.settings["client_id"], provider.credential_files["client_secret"].read_text()
    )


def google(running: RunningEmulators, *, read_only: bool = False) -> Any:
    return google_connector(running, **({"scopes": READ_ONLY_SCOPES} if read_only else {}))


@pytest.mark.parametrize("build", [okta, entra, google], ids=["okta", "entra", "google"])
def test_full_credentials_hold_everything_and_read_only_ones_lack_the_writes(
    running: RunningEmulators, build: Any
) -> None:
    def check(c: Any) -> Any:
        assert isinstance(c, ChecksPermissions)
        return c.check_permissions()

    full = run(build(running), check)
    limited = run(build(running, read_only=True), check)
    assert full.ok and full.missing == [] and full.granted
    assert not limited.ok
    assert limited.missing and all("deprovisioning" in m for m in limited.missing)  # sync can still read
    assert limited.acting_as and limited.granted


def test_each_provider_names_the_permission_it_lacks(running: RunningEmulators) -> None:
    okta_report = run(okta(running, read_only=True), lambda c: c.check_permissions())
    entra_report = run(entra(running, read_only=True), lambda c: c.check_permissions())
    google_report = run(google(running, read_only=True), lambda c: c.check_permissions())
    assert okta_report.granted == ["READ_ONLY_ADMIN"]
    assert any(m.startswith("SUPER_ADMIN: deprovisioning removes admin roles") for m in okta_report.missing)
    assert any("User.EnableDisableAccount.All" in m for m in entra_report.missing)
    assert any(m.startswith("admin.directory.user.security:") for m in google_report.missing)


def _config_check(
    running: RunningEmulators, tmp_path: Path, *, read_only_okta: bool
) -> subprocess.CompletedProcess[str]:
    from accessctl.emulation import emulator_config, write_config

    config = emulator_config(running, database_url=f"sqlite:///{tmp_path / 's.db'}")
    if read_only_okta:
        config["okta"]["api_token_file"] = str(
            running.providers["okta"].read_only_credential_files["api_token"]
        )
    path = write_config(config, tmp_path / "accessctl.toml")
    return subprocess.run(
        [sys.executable, "-m", "accessctl.cli", "--config", str(path), "config", "check", "--live"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        cwd=tmp_path,
        timeout=120,
    )


def test_config_check_live_says_all_is_well_or_names_what_is_missing(
    running: RunningEmulators, tmp_path: Path
) -> None:
    good = _config_check(running, tmp_path, read_only_okta=False)
    assert good.returncode == exitcodes.OK, good.stderr
    verdicts = [line.split(":")[0] for line in good.stdout.splitlines()[1:] if not line.startswith(" ")]
    assert verdicts == ["✓ okta", "✓ entra", "✓ google"]
    assert all(len(line) <= 80 for line in good.stdout.splitlines()[1:])
    bad = _config_check(running, tmp_path, read_only_okta=True)
    assert bad.returncode == exitcodes.FAILED, bad.stderr
    assert (
        "✗ okta: API token of" in bad.stdout
        and "SUPER_ADMIN: deprovisioning removes admin roles" in bad.stdout
    )
    assert "✓ entra" in bad.stdout and "Traceback" not in bad.stderr
    assert all(len(line) <= 80 for line in bad.stdout.splitlines()[1:])
    token = running.providers["okta"].read_only_credential_files["api_token"].read_text().strip()
    assert token not in bad.stdout + bad.stderr


def test_config_check_live_says_which_provider_could_not_answer(
    running: RunningEmulators, tmp_path: Path
) -> None:
    from accessctl.emulation import emulator_config, write_config

    config = emulator_config(running, database_url=f"sqlite:///{tmp_path / 's.db'}")
    (tmp_path / "wrong-token").write_text("00wrong")
    os.chmod(tmp_path / "wrong-token", 0o600)
    config["okta"]["api_token_file"] = str(tmp_path / "wrong-token")
    path = write_config(config, tmp_path / "accessctl.toml")
    done = subprocess.run(
        [sys.executable, "-m", "accessctl.cli", "--config", str(path), "config", "check", "--live"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == exitcodes.PROVIDER
    assert "error: okta: could not say what the credentials hold" in done.stderr and "E0000011" in done.stderr
    assert "✓ google" in done.stdout and "Traceback" not in done.stderr
