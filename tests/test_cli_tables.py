"""The CLI's tables as a person reads them: fitted to 80 columns with no login or email cut, --wide for
the rest, wider terminals used, --limit, rows streamed, the pager, the group a grant is inherited
through, "never", and `accounts` and `report mfa` counting the same accounts."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from accessctl.cli import app
from connectors.emulators.model import SyntheticOrg

runner = CliRunner()
PROVIDERS = ("okta", "entra", "google")
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Store:
    org: SyntheticOrg
    config: Path
    sync_table: Result  # `accessctl sync` in table form, at 80 columns

    def run(self, *args: str, columns: int = 80) -> Result:
        return runner.invoke(app, ["--config", str(self.config), *args], env={"COLUMNS": str(columns)})

    def table(self, *args: str, columns: int = 80) -> list[str]:
        result = self.run(*args, columns=columns)
        assert result.exit_code == 0, result.output
        return result.stdout.splitlines()

    def json(self, *args: str) -> object:
        result = self.run(*args, "--format", "json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    from accessctl.emulation import emulator_config, write_config
    from connectors.emulators.generate import generate_org
    from connectors.emulators.runner import start_emulators

    workdir = tmp_path_factory.mktemp("tables")
    org = generate_org(150, seed=5)  # has a suspended privileged account without MFA (Entra)
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
            synced = runner.invoke(app, ["--config", str(path), "sync"], env={"COLUMNS": "80"})
            assert synced.exit_code == 0, synced.output
        finally:
            running.stop()
        yield Store(org, path, synced)


def logins(org: SyntheticOrg, *, active_only: bool = False) -> set[tuple[str, str]]:
    return {
        (p, a.login)
        for p in PROVIDERS
        for a in org.directory(p).accounts
        if a.status == "active" or not active_only
    }


def _rows(lines: list[str], header: str) -> list[list[str]]:
    """The split cells of the lines under the header line starting with ``header``."""
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    return [line.split() for line in lines[start + 1 :] if line.strip()]


def test_every_default_table_fits_80_columns(store: Store) -> None:
    someone = store.org.people[3]
    tables = {
        "people": store.table("people"),
        "accounts": store.table("accounts", "--include-suspended"),
        "accounts --conflicts": store.table("accounts", "--conflicts"),
        "access": store.table("access", someone.employee_id),
        "report mfa": store.table("report", "mfa"),
        # the summary table, not the identities line sync_cmd prints below it
        "sync": store.sync_table.stdout.split("\nidentities:")[0].splitlines(),
    }
    for name, lines in tables.items():
        too_long = [line for line in lines if len(line) > 80]
        assert not too_long, f"{name}: {too_long[:3]}"
    assert "…" not in "".join(tables["sync"])  # the sync summary has room for every count


def test_no_login_or_email_is_cut_at_80_columns(store: Store) -> None:
    rows = _rows(store.table("accounts", "--include-suspended"), "provider")
    longest = max(logins(store.org), key=lambda k: len(k[1]))
    assert len(longest[1]) > 35  # a long onmicrosoft.com login, and it is not cut
    assert {(r[0], r[1]) for r in rows} == logins(store.org)

    people = _rows(store.table("people"), "employee")
    emails = {p.email for p in store.org.people}
    assert {cell for r in people for cell in r if "@" in cell} == emails

    admins = _rows(store.table("report", "mfa"), "provider")
    report = store.json("report", "mfa")
    assert isinstance(report, dict)
    expected = {(a["provider"], a["login"]) for a in report["admins_without_mfa"]}
    assert {(r[0], r[1]) for r in admins[: len(expected)]} == expected


def test_wide_shows_the_columns_the_terminal_has_no_room_for(store: Store) -> None:
    narrow = store.table("accounts", "--limit", "5")
    header = next(line for line in narrow if line.startswith("provider"))
    for hidden in ("external id", "mfa methods", "person", "name"):
        assert hidden not in header
    wide = store.table("accounts", "--limit", "5", "--wide")
    header = next(line for line in wide if line.startswith("provider"))
    for shown in ("login", "status", "mfa", "last login", "external id", "mfa methods", "person", "name"):
        assert shown in header
    okta = {a.login: a for a in store.org.okta.accounts}
    assert any(len(line) > 80 for line in wide)  # at full width, whatever the terminal

    people = next(line for line in store.table("people", "--wide") if line.startswith("employee"))
    assert "title" in people and "manager" in people and "terminated" in people
    assert okta  # the org has Okta accounts to list


def test_a_wider_terminal_shows_more_columns(store: Store) -> None:
    header = next(line for line in store.table("accounts", columns=200) if line.startswith("provider"))
    assert "person" in header and "name" in header
    header = next(line for line in store.table("people", columns=200) if line.startswith("employee"))
    assert "department" in header and "title" in header


def test_limit_shows_that_many_rows_in_every_format(store: Store) -> None:
    people = store.json("people", "--limit", "4")
    assert isinstance(people, list) and len(people) == 4
    lines = store.table("people", "--limit", "4")
    assert len(_rows(lines, "employee")) == 4
    assert f"showing the first 4 of {len(store.org.people)} (--limit)" in lines
    accounts = store.json("accounts", "--limit", "3")
    assert isinstance(accounts, list) and len(accounts) == 3
    result = store.run("accounts", "--limit", "3", "--format", "csv")
    assert len(result.stdout.splitlines()) == 1 + 3
    assert store.run("people", "--limit", "0").exit_code == 2


def test_the_table_is_written_before_all_rows_are_read() -> None:
    from accessctl.output import Column, OutputFormat, render

    pulled = 0

    def rows() -> Iterator[dict[str, object]]:
        nonlocal pulled
        for i in range(5000):
            pulled += 1
            yield {"login": f"user{i}@example.com", "n": i}

    class Out:
        def __init__(self) -> None:
            self.pulled_at_first_write: int | None = None
            self.lines = 0

        def write(self, text: str) -> None:
            if self.pulled_at_first_write is None:
                self.pulled_at_first_write = pulled
            self.lines += text.count("\n")

        def isatty(self) -> bool:
            return False

    out = Out()
    render(rows(), [Column("login", keep=True), Column("n", right=True)], OutputFormat.TABLE, out=out)  # type: ignore[arg-type]
    assert out.pulled_at_first_write is not None and out.pulled_at_first_write < 500
    assert out.lines == 1 + 5000  # header and every row in the end
    pulled = 0
    json_out = Out()
    render(rows(), ["login", "n"], OutputFormat.JSON, out=json_out)  # type: ignore[arg-type]
    assert json_out.pulled_at_first_write is not None and json_out.pulled_at_first_write <= 1


def _inherited_app(org: SyntheticOrg) -> tuple[str, str, str]:
    """(login, app name, group name): an Entra account holding an app only through one group it is a
    direct member of."""
    entra = org.entra
    by_key = {a.key: a for a in entra.accounts}
    groups = {g.key: g for g in entra.groups}
    for application in entra.apps:
        for group_key in application.assigned_group_keys:
            group = groups[group_key]
            for key in group.member_keys:
                others = [
                    g
                    for g in application.assigned_group_keys
                    if g != group_key and key in groups[g].member_keys
                ]
                nested = any(groups[g].child_group_keys for g in application.assigned_group_keys)
                account = by_key.get(key)
                alone = key not in application.assigned_keys and not others and not nested
                if account and alone and account.person_employee_id and account.status == "active":
                    return account.login, application.label, group.name
    raise AssertionError("the org has no Entra app held through one group")


def _person_of(org: SyntheticOrg, provider: str, login: str) -> str:
    account = next(a for a in org.directory(provider).accounts if a.login == login)
    assert account.person_employee_id
    return account.person_employee_id


def test_access_names_the_group_a_grant_is_inherited_through(store: Store) -> None:
    login, app_name, group_name = _inherited_app(store.org)
    employee_id = _person_of(store.org, "entra", login)
    rows = store.json("access", employee_id)
    assert isinstance(rows, list)
    grant = next(
        r for r in rows if r["provider"] == "entra" and r["account"] == login and r["entitlement"] == app_name
    )
    assert grant["how"] == "inherited" and grant["via"] == group_name
    assert grant["via_group_id"] != group_name  # the store's id, resolved to the group's name
    lines = store.table("access", employee_id)
    assert any(
        line.split()[:2] == ["app", *app_name.split()[:1]] and f"via {group_name}" in line for line in lines
    )
    assert not any("inherited via" in line for line in lines)
    assert "first seen" in next(line for line in lines if line.lstrip().startswith("kind"))


def test_access_says_via_a_group_where_okta_names_none(store: Store) -> None:
    okta = store.org.okta
    by_key = {a.key: a for a in okta.accounts}
    groups = {g.key: g for g in okta.groups}
    holder = next(
        by_key[k]
        for application in okta.apps
        for g in application.assigned_group_keys
        for k in groups[g].member_keys
        if k in by_key and by_key[k].person_employee_id and by_key[k].status == "active"
    )
    employee_id = holder.person_employee_id or ""
    rows = store.json("access", employee_id)
    assert isinstance(rows, list)
    inherited = [r for r in rows if r["provider"] == "okta" and r["how"] == "inherited"]
    assert inherited and all(r["via"] == "a group" and r["via_group_id"] is None for r in inherited)
    lines = store.table("access", employee_id)
    assert any(line.lstrip().startswith("app ") and "via a group" in line for line in lines)


def test_access_groups_by_provider_and_says_never(store: Store) -> None:
    never = next(
        a
        for a in store.org.entra.accounts
        if a.last_login is None and a.person_employee_id and a.status == "active"
    )
    lines = store.table("access", never.person_employee_id or "")
    heading = lines.index(f"entra  {never.login}")
    assert "last login never" in lines[heading + 1]
    providers = [line.split()[0] for line in lines if line.split() and line.split()[0] in PROVIDERS]
    assert providers == sorted(providers) and len(set(providers)) == len(providers)

    rows = _rows(store.table("accounts", "--provider", "entra"), "provider")
    assert next(r for r in rows if r[1] == never.login)[3] == "never"


def test_accounts_and_report_mfa_count_the_same_accounts(store: Store) -> None:
    org = logins(store.org)
    suspended = {k for k in org if k not in logins(store.org, active_only=True)}
    assert suspended

    report = store.json("report", "mfa")
    assert isinstance(report, dict)
    not_enrolled = {
        (a["provider"], a["login"]) for a in report["admins_without_mfa"] if a["mfa_state"] == "NOT_ENROLLED"
    }
    listed = store.json("accounts", "--privileged", "--no-mfa")
    assert isinstance(listed, list)
    assert {(a["provider"], a["login"]) for a in listed} == not_enrolled
    assert not not_enrolled & suspended and report["scope"]["statuses"] == ["active"]

    left_out = report["scope"]["not_counted"]["admins_not_enrolled"]
    assert left_out >= 1  # the org's suspended admin without MFA, counted by neither
    note = f"active accounts only; {left_out} suspended not counted (--include-suspended)"
    assert note in store.table("accounts", "--privileged", "--no-mfa")
    assert note in store.table("report", "mfa")

    everything = store.json("report", "mfa", "--include-suspended")
    assert isinstance(everything, dict)
    with_suspended = {
        (a["provider"], a["login"])
        for a in everything["admins_without_mfa"]
        if a["mfa_state"] == "NOT_ENROLLED"
    }
    listed = store.json("accounts", "--privileged", "--no-mfa", "--include-suspended")
    assert isinstance(listed, list)
    assert {(a["provider"], a["login"]) for a in listed} == with_suspended
    assert len(with_suspended) == len(not_enrolled) + left_out
    assert sum(r["accounts"] for r in everything["by_provider"]) == len(org)
    assert sum(r["accounts"] for r in report["by_provider"]) == len(org) - len(suspended)


def _cli(*args: str, config: Path) -> list[str]:
    return [sys.executable, "-m", "accessctl.cli", "--config", str(config), *args]


def _on_a_terminal(command: list[str], env: dict[str, str]) -> str:
    """Run ``command`` with its stdout on a pseudo-terminal; what it wrote there."""
    leader, follower = pty.openpty()
    try:
        process = subprocess.run(
            command, stdout=follower, stderr=subprocess.PIPE, env=env, timeout=60, cwd=ROOT
        )
    finally:
        os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal's other end is closed: all read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.returncode == 0, process.stderr
    return b"".join(chunks).decode()


def test_a_terminal_gets_the_pager_unless_no_pager(store: Store, tmp_path: Path) -> None:
    paged = tmp_path / "paged.txt"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "PAGER": f"cat > {paged}",
        "COLUMNS": "80",
    }
    env.pop("ACCESSCTL_PAGER", None)
    shown = _on_a_terminal(_cli("people", config=store.config), env)
    assert paged.read_text().startswith(f"People ({len(store.org.people)})") and "employee" not in shown
    paged.unlink()
    shown = _on_a_terminal(_cli("people", "--no-pager", config=store.config), env)
    assert not paged.exists() and f"People ({len(store.org.people)})" in shown


def test_a_reader_that_goes_away_ends_the_listing_quietly(store: Store) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    listing = subprocess.Popen(
        _cli("accounts", "--include-suspended", "--wide", config=store.config),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    assert listing.stdout is not None and listing.stderr is not None
    first = listing.stdout.readline()
    listing.stdout.close()  # as `| head -1` does
    errors = listing.stderr.read()
    assert listing.wait(timeout=60) == 0
    assert first.startswith(b"Accounts (") and errors == b""
