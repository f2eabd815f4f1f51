"""Syncing the Okta emulator through the product path (config -> connector -> runner -> store),
on SQLite and PostgreSQL, compared with what the emulator holds."""

from __future__ import annotations

import csv
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.emulation import emulator_config, write_config
from accessctl.settings import Settings, load_settings
from accessctl.store.models import Account, Entitlement, Grant, Person
from accessctl.sync.service import run_sync
from connectors.emulators.generate import generate_org
from connectors.emulators.model import SyntheticOrg
from connectors.emulators.runner import RunningEmulators, start_emulators
from tests.sync.groundtruth import live_grants, role_grants


@dataclass
class Okta:
    org: SyntheticOrg
    running: RunningEmulators
    config: Path
    http: httpx.Client

    def settings(self) -> Settings:
        return load_settings(self.config, strict=True)


@pytest.fixture
def okta(tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Okta]:
    org = generate_org(300, seed=9)
    running = start_emulators(org, workdir=tmp_path / "emu", providers=("okta",))
    config = emulator_config(running, database_url=str(engine.url.render_as_string(hide_password=False)))
    path = write_config(config, tmp_path / "emu" / "accessctl.toml")
    monkeypatch.setenv("ACCESSCTL_SYNC_BACKOFF_BASE_S", "0.01")
    token = running.secrets.okta_api_token
    http = httpx.Client(
        base_url=running.providers["okta"].url,
        verify=ssl.create_default_context(cafile=str(running.tls.ca_path)),
        headers={"Authorization": f"SSWS {token}"},
    )
    yield Okta(org, running, path, http)
    http.close()
    running.stop()


def count(engine: Engine, table: sa.Table, *where: object) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()


def grants_of_kind(engine: Engine, kind: str) -> int:
    g, e = Grant.__table__, Entitlement.__table__
    with engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count())
            .select_from(g.join(e, e.c.id == g.c.entitlement_id))
            .where(e.c.kind == kind, g.c.ended_at.is_(None))
        ).scalar_one()


def test_full_sync_matches_the_emulator(okta: Okta, engine: Engine) -> None:
    summary = run_sync(okta.settings(), engine, full=True)
    assert summary.complete, [r.reason for r in summary.results]
    truth = okta.http.get("/_emulator/state/summary").json()
    accounts = Account.__table__
    assert count(engine, accounts, accounts.c.ended_at.is_(None)) == truth["users"]
    assert count(engine, Person.__table__) == len(okta.org.people)
    assert grants_of_kind(engine, "group") == truth["memberships"]
    assert grants_of_kind(engine, "app") == truth["app_assignments"]
    direct_roles, inherited_roles = role_grants(okta.org.okta)
    assert grants_of_kind(engine, "role") == truth["role_grants"] == direct_roles + inherited_roles
    assert inherited_roles  # HELP_DESK_ADMIN is assigned to a group; "Access Reviewer" is a custom role
    assert live_grants(engine, "okta", "role", inherited=True) == inherited_roles

    # a sample of rows, field by field
    with engine.connect() as conn:
        stored = {r.login: r for r in conn.execute(sa.select(accounts))}
    for source in okta.org.okta.accounts[::37]:
        row = stored[source.login]
        assert row.status == source.status
        assert row.employee_id == source.employee_id
        assert row.mfa_state == ("ENROLLED" if source.mfa_factors else "NOT_ENROLLED")
    it_admin = stored[f"it-admin@{okta.org.domain}"]
    assert (it_admin.is_shared, it_admin.person_id, it_admin.mfa_state) == (True, None, "NOT_ENROLLED")

    # identities: orphans are exactly the accounts nobody in HR owns
    orphans = {a.login for a in okta.org.okta.accounts if a.key.startswith("orphan")}
    assert summary.correlation.orphans == len(orphans)
    linked = sum(summary.correlation.linked.values())
    assert linked == sum(1 for a in okta.org.okta.accounts if a.person_employee_id)


def test_incremental_sync_correlates_what_changed_and_reports_everything(okta: Okta, engine: Engine) -> None:
    """An incremental sync re-decides only the accounts it wrote, yet reports on every account; a
    person added to the roster claims their orphan account on the next sync, incremental or not."""
    settings = okta.settings()
    first = run_sync(settings, engine, full=True).correlation
    unchanged = run_sync(settings, engine)
    assert unchanged.results[0].mode == "incremental"
    assert unchanged.correlation.as_dict() == {**first.as_dict(), "changed": 0}

    orphan = next(a for a in okta.org.okta.accounts if a.key.startswith("orphan"))
    roster = settings.hr.roster_file
    assert roster is not None
    header = roster.read_text().splitlines()[0].split(",")
    with roster.open("a", newline="") as out:
        csv.DictWriter(out, header, restval="").writerow(
            {"employee_id": "E999999", "email": orphan.login, "first_name": "Old", "status": "active"}
        )
    later = run_sync(settings, engine)
    assert later.results[0].mode == "incremental" and later.roster and later.roster.added == 1
    assert later.correlation.orphans == first.orphans - 1
    accounts = Account.__table__
    with engine.connect() as conn:
        method = conn.execute(
            sa.select(accounts.c.link_method).where(accounts.c.login == orphan.login)
        ).scalar_one()
    assert method == "email"


def test_incremental_sync_follows_the_system_log(okta: Okta, engine: Engine) -> None:
    first = run_sync(okta.settings(), engine)
    assert first.results[0].mode == "full"
    churned = okta.http.post("/_emulator/state/churn", json={"share": 0.05, "seed": 4}).json()
    second = run_sync(okta.settings(), engine)
    (result,) = second.results
    assert result.mode == "incremental" and result.complete, result.reason
    assert result.accounts.changed >= churned["suspended"] + churned["profile"]
    truth = okta.http.get("/_emulator/state/summary").json()
    assert grants_of_kind(engine, "group") == truth["memberships"]
    accounts = Account.__table__
    assert count(engine, accounts, accounts.c.status == "suspended", accounts.c.ended_at.is_(None)) == truth[
        "statuses"
    ].get("SUSPENDED", 0)
    assert result.requests < first.results[0].requests / 3
