"""Start-up stays fast: a command that reads the store loads neither Alembic, SQLModel, a provider SDK
nor the web framework, and the schema check's head revision is the migration scripts' real head."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session

from accessctl.store import migrate
from accessctl.store.engine import make_engine
from accessctl.store.models import Account, Entitlement, Grant, MfaState, Person

ROOT = Path(__file__).resolve().parents[1]

#: imported by none of the store-reading commands (each costs a large part of a second, or more)
HEAVY = ("alembic", "mako", "sqlmodel", "okta", "googleapiclient", "msal", "fastapi")

#: runs the CLI in this process, then prints what it imported as JSON on the last line of stderr
PROBE = """
import json, sys
from accessctl.cli import main
sys.argv = ["accessctl", *sys.argv[1:]]
try:
    main()
except SystemExit as exit:
    code = exit.code
else:
    code = 0
heavy = sorted({name.split(".")[0] for name in sys.modules} & set(json.loads(sys.stdin.read())))
print(json.dumps({"exit": code, "heavy": heavy}), file=sys.stderr)
"""


def test_the_head_revision_in_code_is_alembics_head() -> None:
    assert migrate.head_revision() == migrate.HEAD_REVISION, "a new migration must update HEAD_REVISION"


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with one person holding a privileged group through an Okta account without MFA, and every
    provider configured (as in production), so the provider settings are loaded too."""
    work = tmp_path_factory.mktemp("startup")
    engine = make_engine(f"sqlite:///{work / 'store.db'}")
    migrate.upgrade(engine)
    with Session(engine) as session:
        person = Person(employee_id="E1", email="ada@example.com", first_name="Ada", last_name="Lovelace")
        group = Entitlement(provider="okta", kind="group", external_id="g1", name="Admins", privileged=True)
        session.add_all([person, group])
        session.flush()
        account = Account(
            provider="okta",
            external_id="u1",
            login="ada@example.com",
            person_id=person.id,
            mfa_state=MfaState.NOT_ENROLLED,
        )
        session.add(account)
        session.flush()
        assert account.id is not None and group.id is not None
        session.add(Grant(account_id=account.id, entitlement_id=group.id))
        session.commit()
    engine.dispose()
    for name in ("okta-token", "entra-secret"):
        (work / name).write_text("s3cret\n")
    (work / "google.json").write_text("{}")
    path = work / "accessctl.toml"
    path.write_text(
        f'database_url = "sqlite:///{work / "store.db"}"\n'
        f'[okta]\nenabled = true\norg_url = "https://example.okta.com"\n'
        f'api_token_file = "{work / "okta-token"}"\n'
        f'[entra]\nenabled = true\ntenant_id = "t"\nclient_id = "c"\n'
        f'client_secret_file = "{work / "entra-secret"}"\n'
        f'[google]\nenabled = true\ncustomer_id = "C1"\nadmin_email = "it@example.com"\n'
        f'service_account_key_file = "{work / "google.json"}"\n'
    )
    return path


@pytest.mark.parametrize(
    "command",
    [
        ["people", "--limit", "1"],
        ["accounts"],
        ["accounts", "--privileged", "--no-mfa"],
        ["access", "ada@example.com"],
        ["report", "mfa"],
    ],
    ids=" ".join,
)
def test_store_commands_start_without_heavy_modules(config: Path, command: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCESSCTL_")}
    env.update({"PYTHONPATH": str(ROOT), "COLUMNS": "80"})
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "--config", str(config), *command],
        input=json.dumps(HEAVY),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    probe = json.loads(done.stderr.strip().splitlines()[-1])
    assert probe["exit"] == 0, done.stderr
    assert "ada" in done.stdout.lower() or "okta" in done.stdout, done.stdout
    assert probe["heavy"] == [], f"`accessctl {' '.join(command)}` imported {probe['heavy']}"
