"""MFA enforcement (Google's 2SV enforcement, MfaRecord.enforced) reaches the store and the MFA report,
on SQLite and PostgreSQL: through the account listing (a full Google sync against its emulator) and
through the MFA report path (write_mfa), and an account a complete report stops listing loses it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from accessctl.cli import app
from accessctl.emulation import emulator_config, write_config
from accessctl.settings import load_settings
from accessctl.sync import writer
from accessctl.sync.service import run_sync
from accessctl.sync.writer.common import ACCOUNTS
from connectors.base import AccountRecord, AccountStatus, MfaRecord, MfaState
from connectors.emulators.generate import generate_org
from connectors.emulators.runner import start_emulators
from tests.emulators.test_google_emulator import all_users, service


def _enforced(engine: Engine, provider: str) -> dict[str, bool | None]:
    with engine.connect() as conn:
        query = sa.select(ACCOUNTS.c.external_id, ACCOUNTS.c.mfa_enforced).where(
            ACCOUNTS.c.provider == provider
        )
        return {external_id: enforced for external_id, enforced in conn.execute(query)}


def test_google_2sv_enforcement_is_stored_and_reported(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACCESSCTL_SYNC_BACKOFF_BASE_S", "0.01")
    org = generate_org(60, seed=2)  # two super admins enrolled in 2SV, where Google enforces it
    with start_emulators(org, workdir=tmp_path / "emu", tls=False, providers=("google",)) as running:
        url = engine.url.render_as_string(hide_password=False)
        config = write_config(emulator_config(running, database_url=url), tmp_path / "accessctl.toml")
        summary = run_sync(load_settings(config, strict=True), engine, full=True)
        assert summary.complete, [r.reason for r in summary.results]
        # what Google says of each user, read through its API with Google's own client
        users = all_users(service(running))
    said = {u["id"]: u["isEnforcedIn2Sv"] for u in users}
    assert True in said.values() and False in said.values()  # a user in an OU where 2SV is enforced, and not
    assert _enforced(engine, "google") == said

    result = CliRunner().invoke(app, ["--config", str(config), "report", "mfa", "--format", "json"])
    assert result.exit_code == 0, result.output
    google = next(r for r in json.loads(result.output)["by_provider"] if r["provider"] == "google")
    live_active = {u["id"] for u in users if not u["suspended"]}
    assert google["enforced"] == sum(1 for uid in live_active if said[uid])

    table = CliRunner().invoke(app, ["--config", str(config), "report", "mfa"], terminal_width=80)
    assert table.exit_code == 0, table.output
    line = f"google: MFA enforced by the provider for {google['enforced']} of {google['accounts']}"
    assert line in table.output.splitlines()
    assert max(len(line) for line in table.output.splitlines()) <= 80


def test_the_mfa_report_path_writes_enforcement(engine: Engine) -> None:
    seen = datetime.now(UTC)
    accounts = [
        AccountRecord(external_id=f"u{i}", login=f"u{i}@example.com", status=AccountStatus.ACTIVE)
        for i in range(3)
    ]
    with engine.begin() as conn:
        writer.write_accounts(conn, "google", accounts, seen)
        changed = writer.write_mfa(
            conn,
            "google",
            [
                MfaRecord("u0", MfaState.ENROLLED, ["2sv"], enforced=True),
                MfaRecord("u1", MfaState.NOT_ENROLLED, [], enforced=True),  # enforced but not enrolled
                MfaRecord("u2", MfaState.ENROLLED, ["2sv"], enforced=False),
            ],
            seen,
        )
    assert changed == 3
    assert _enforced(engine, "google") == {"u0": True, "u1": True, "u2": False}
    later = seen + timedelta(minutes=1)
    with engine.begin() as conn:
        # only a change of enforcement is a change
        again = writer.write_mfa(
            conn,
            "google",
            [
                MfaRecord("u0", MfaState.ENROLLED, ["2sv"], enforced=True),
                MfaRecord("u1", MfaState.NOT_ENROLLED, [], enforced=False),
            ],
            later,
        )
        assert again == 1
        # u2 was not in this complete report: unknown, enforcement too
        assert writer.mark_unreported_mfa_unknown(conn, "google", later) == 1
    assert _enforced(engine, "google") == {"u0": True, "u1": False, "u2": None}
