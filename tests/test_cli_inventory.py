"""The read commands on a store synced from a small emulated org, checked against what the org holds:
`sync --format json`, `people`, `accounts` and each filter, `access PERSON`, `report mfa`, each in
table, JSON and CSV where it has them."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from accessctl import exitcodes
from accessctl.cli import app
from connectors.emulators.model import Account, SyntheticOrg

runner = CliRunner()
PROVIDERS = ("okta", "entra", "google")
Key = tuple[str, str]  # (provider, login)


@dataclass
class Synced:
    org: SyntheticOrg
    config: Path
    sync: Result  # the `accessctl sync --format json` that filled the store

    def run(self, *args: str) -> Result:
        # a wide terminal, so table cells are not cut short
        return runner.invoke(app, ["--config", str(self.config), *args], env={"COLUMNS": "240"})

    def json(self, *args: str) -> list[dict]:
        result = self.run(*args, "--format", "json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def csv(self, *args: str) -> list[dict[str, str]]:
        result = self.run(*args, "--format", "csv")
        assert result.exit_code == 0, result.output
        return list(csv.DictReader(io.StringIO(result.stdout)))

    def accounts(self) -> dict[Key, Account]:
        return {(p, a.login): a for p in PROVIDERS for a in self.org.directory(p).accounts}

    def privileged(self) -> set[Key]:
        """Accounts the org gives an admin role or a privileged group's membership."""
        keys: set[Key] = set()
        for p in PROVIDERS:
            directory = self.org.directory(p)
            by_key = {a.key: a.login for a in directory.accounts}
            for role in directory.roles:
                keys |= {(p, by_key[k]) for k in role.assigned_keys}
            for group in directory.groups:
                if group.privileged:
                    keys |= {(p, by_key[k]) for k in group.member_keys if k in by_key}
        return keys


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synced]:
    from accessctl.emulation import emulator_config, write_config
    from connectors.emulators.generate import generate_org
    from connectors.emulators.runner import start_emulators

    workdir = tmp_path_factory.mktemp("synced")
    org = generate_org(150, seed=11)
    with pytest.MonkeyPatch.context() as env:
        for key in list(os.environ):
            if key.startswith("ACCESSCTL_") and key != "ACCESSCTL_TEST_POSTGRES_URL":
                env.delenv(key)
        running = start_emulators(org, workdir=workdir / "emu")
        try:
            config = emulator_config(running, database_url=f"sqlite:///{workdir / 's.db'}")
            path = write_config(config, workdir / "accessctl.toml")
            upgraded = runner.invoke(app, ["--config", str(path), "db", "upgrade"])
            assert upgraded.exit_code == 0, upgraded.output
            result = runner.invoke(app, ["--config", str(path), "sync", "--format", "json"])
        finally:
            running.stop()
        yield Synced(org, path, result)


def keys(rows: list[dict]) -> set[Key]:
    return {(r["provider"], r["login"]) for r in rows}


def test_sync_json_summary_is_pure_json_and_counts_what_the_org_has(synced: Synced) -> None:
    assert synced.sync.exit_code == 0, synced.sync.output
    summary = json.loads(synced.sync.stdout)  # progress bars and logs stay off stdout
    assert summary["complete"] is True
    by_provider = {p["provider"]: p for p in summary["providers"]}
    assert set(by_provider) == set(PROVIDERS)
    for name in PROVIDERS:
        assert by_provider[name]["complete"] is True and by_provider[name]["failure"] is None
        assert by_provider[name]["accounts_added"] == len(synced.org.directory(name).accounts)
    assert summary["roster"]["people"] == len(synced.org.people)
    orphans = [
        a
        for a in synced.accounts().values()
        if a.person_employee_id is None and not (a.is_shared or a.is_service)
    ]
    assert summary["correlation"]["orphans"] == len(orphans)


def test_people_in_every_format(synced: Synced) -> None:
    people = synced.org.people
    rows = synced.json("people")
    assert {r["employee_id"] for r in rows} == {p.employee_id for p in people}
    ceo = next(r for r in rows if r["employee_id"] == people[0].employee_id)
    assert ceo["name"] == f"{people[0].first_name} {people[0].last_name}" and ceo["accounts"] >= 1

    terminated = {p.employee_id for p in people if p.status == "terminated"}
    assert terminated
    assert {r["employee_id"] for r in synced.json("people", "--status", "terminated")} == terminated
    assert {r["employee_id"] for r in synced.csv("people", "--status", "terminated")} == terminated

    table = synced.run("people", "--status", "terminated")
    assert table.exit_code == 0
    assert f"People ({len(terminated)})" in table.stdout
    assert all(e in table.stdout for e in terminated)
    active = next(p for p in people if p.status == "active")
    assert active.employee_id not in table.stdout


def _inactive(account: Account, days: int) -> bool:
    cutoff = datetime.now(UTC) - timedelta(days=days)
    return (
        (account.last_login or account.created) < cutoff if account.last_login else account.created < cutoff
    )


FILTERS = {
    "--no-mfa": (["--no-mfa"], lambda a: not a.mfa_factors),
    "--inactive-days": (["--inactive-days", "90"], lambda a: _inactive(a, 90)),
    "--orphans": (
        ["--orphans"],
        lambda a: a.person_employee_id is None and not (a.is_shared or a.is_service),
    ),
    "--shared": (["--shared"], lambda a: a.is_shared or a.is_service),
    "--provider": (["--provider", "entra"], None),
}


@pytest.mark.parametrize("name", FILTERS)
def test_accounts_filter_matches_the_org(synced: Synced, name: str) -> None:
    args, holds = FILTERS[name]
    org = synced.accounts()
    if name == "--provider":
        expected = {k for k in org if k[0] == "entra"}
    else:
        expected = {k for k, a in org.items() if holds(a)}
    assert expected and expected != set(org)  # the filter has something to keep and something to drop
    assert keys(synced.json("accounts", *args, "--include-suspended")) == expected
    assert keys(synced.csv("accounts", *args, "--include-suspended")) == expected
    active = {k for k in expected if org[k].status == "active"}  # without the flag: active ones only
    assert keys(synced.json("accounts", *args)) == active
    table = synced.run("accounts", *args)
    assert table.exit_code == 0 and f"Accounts ({len(active)})" in table.stdout


def test_accounts_privileged_holds_every_admin_and_no_plain_user(synced: Synced) -> None:
    rows = synced.json("accounts", "--privileged")
    assert all(r["privileged"] for r in rows)
    found = keys(rows)
    assert synced.privileged() <= found
    org = synced.accounts()
    plain = {k for k, a in org.items() if k not in synced.privileged()}
    assert plain - found  # some accounts are left out ...
    no_access = {
        (p, a.login)
        for p in PROVIDERS
        for a in synced.org.directory(p).accounts
        if not any(a.key in g.member_keys for g in synced.org.directory(p).groups)
        and not any(a.key in app.assigned_keys for app in synced.org.directory(p).apps)
    }
    assert not (no_access - synced.privileged()) & found  # ... among them every account with no access


def test_accounts_filters_combine(synced: Synced) -> None:
    expected = {k for k, a in synced.accounts().items() if k in synced.privileged() and not a.mfa_factors}
    expected = {k for k in expected if k[0] == "okta"}
    rows = synced.json("accounts", "--privileged", "--no-mfa", "--provider", "okta")
    assert expected <= keys(rows)
    assert all(r["provider"] == "okta" and r["mfa_state"] == "NOT_ENROLLED" for r in rows)


def test_accounts_json_and_csv_carry_mfa_methods(synced: Synced) -> None:
    org = synced.accounts()
    rows = {(r["provider"], r["login"]): r for r in synced.json("accounts", "--provider", "okta")}
    with_mfa = [k for k in rows if org[k].mfa_factors]
    without = [k for k in rows if not org[k].mfa_factors]
    assert with_mfa and without
    assert all(rows[k]["mfa_methods"] for k in with_mfa)
    assert all(rows[k]["mfa_methods"] == [] for k in without)
    csv_rows = {(r["provider"], r["login"]): r for r in synced.csv("accounts", "--provider", "okta")}
    assert all(csv_rows[k]["mfa_methods"] for k in with_mfa)


def test_accounts_rejects_an_unknown_provider(synced: Synced) -> None:
    result = synced.run("accounts", "--provider", "aws")
    assert result.exit_code == exitcodes.USAGE and "unknown provider" in result.output


def _admin(synced: Synced) -> tuple[str, str, str]:
    """(employee id, email, role name) of a person holding an Entra directory role."""
    entra = synced.org.entra
    by_key = {a.key: a for a in entra.accounts}
    for role in entra.roles:
        for key in role.assigned_keys:
            account = by_key[key]
            if account.person_employee_id:
                person = next(p for p in synced.org.people if p.employee_id == account.person_employee_id)
                return person.employee_id, person.email, role.name
    raise AssertionError("the org has no person with an Entra directory role")


def test_access_of_a_person_in_every_format(synced: Synced) -> None:
    employee_id, email, role = _admin(synced)
    rows = synced.json("access", employee_id)
    assert any(
        r["provider"] == "entra" and r["kind"] == "role" and r["entitlement"] == role and r["privileged"]
        for r in rows
    )
    entra_rows = [r for r in rows if r["provider"] == "entra" and r["kind"]]
    assert entra_rows[0]["privileged"] and not entra_rows[-1]["privileged"]  # privileged first
    assert synced.json("access", email.upper()) == rows  # by email, any case
    assert len(synced.csv("access", employee_id)) == len(rows)
    table = synced.run("access", email)
    assert table.exit_code == 0 and f"({employee_id}," in table.stdout and role in table.stdout


def test_access_of_an_unknown_person_is_a_clear_error(synced: Synced) -> None:
    result = synced.run("access", "nobody@nowhere.example")
    assert result.exit_code == exitcodes.FAILED
    assert "no person with employee id or email 'nobody@nowhere.example'" in result.output


def test_report_mfa_puts_admins_without_mfa_in_every_format(synced: Synced) -> None:
    org = synced.accounts()
    admins = {k for k in synced.privileged() if not org[k].mfa_factors and org[k].status == "active"}
    assert admins
    report = json.loads(synced.run("report", "mfa", "--format", "json").stdout)
    assert list(report) == ["admins_without_mfa", "by_provider", "by_department", "scope"]
    assert admins <= keys(report["admins_without_mfa"])
    assert {r["provider"] for r in report["by_provider"]} == set(PROVIDERS)

    rows = synced.csv("report", "mfa")
    assert [r["section"] for r in rows][: len(report["admins_without_mfa"])] == ["admin_without_mfa"] * len(
        report["admins_without_mfa"]
    )
    assert admins <= keys([r for r in rows if r["section"] == "admin_without_mfa"])
    assert {r["provider"] for r in rows if r["section"] == "provider"} == set(PROVIDERS)
    assert {r["department"] for r in rows if r["section"] == "department"} == {
        r["department"] for r in report["by_department"]
    }

    table = synced.run("report", "mfa")
    assert f"Privileged accounts without MFA ({len(report['admins_without_mfa'])})" in table.stdout
    assert table.stdout.index("Privileged accounts without MFA") < table.stdout.index(
        "MFA coverage by provider"
    )
