"""The inventory read through the DB-API driver (``accessctl.store.reader``): the same answers on
SQLite and PostgreSQL for a store holding every kind of row the questions look at; a store that cannot
be read fails as an engine's does (one line, the same exit code); and the read commands never import
SQLAlchemy."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from accessctl import exitcodes, inventory
from accessctl.store import migrate
from accessctl.store.engine import make_engine
from accessctl.store.models import Account, Entitlement, Grant, MfaState, Person
from accessctl.store.reader import ReadConnection, engine_reader, reader
from tests.test_cli_errors import assert_one_error_line, run_cli
from tests.test_startup import PROBE, ROOT

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
T_LOGIN = datetime(2025, 5, 30, 8, 15, 42, 123456, tzinfo=UTC)
T_OLD = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)

READ_COMMANDS = [
    ["people"],
    ["accounts"],
    ["accounts", "--privileged", "--no-mfa"],
    ["access", "ada@example.com"],
    ["report", "mfa"],
]


def seed(url: str) -> None:
    """People (one terminated), accounts of each kind (linked, orphan, shared, service, conflict,
    suspended, ended), direct and inherited grants (through a known group, an unknown one, a nested
    one), a privileged group and a plain app."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    with Session(engine) as s:
        ada = Person(
            employee_id="E1",
            email="Ada@Example.com",
            first_name="Ada",
            last_name="Lovelace",
            department="Eng",
            title="Engineer",
            hire_date=date(2020, 2, 3),
            updated_at=T_OLD,
        )
        bob = Person(
            employee_id="E2",
            email="bob@example.com",
            first_name="Bob",
            last_name="",
            manager_employee_id="E1",
            status="terminated",
            termination_date=date(2025, 3, 31),
            updated_at=T_OLD,
        )
        admins = Entitlement(provider="okta", kind="group", external_id="g1", name="Admins", privileged=True)
        staff = Entitlement(provider="okta", kind="group", external_id="g2", name="Staff")
        app = Entitlement(provider="okta", kind="app", external_id="a1", name="Payroll", first_seen_at=T_OLD)
        role = Entitlement(
            provider="entra", kind="role", external_id="r1", name="Global Admin", privileged=True
        )
        s.add_all([ada, bob, admins, staff, app, role])
        s.flush()

        def account(**kw: Any) -> Account:
            row = Account(**{"created_at": T_LOGIN, **kw})  # new, unless said otherwise
            s.add(row)
            s.flush()
            return row

        ada_okta = account(
            provider="okta",
            external_id="u1",
            login="ada@example.com",
            person_id=ada.id,
            link_method="email",
            mfa_state=MfaState.NOT_ENROLLED,
            last_login_at=T_LOGIN,
            created_at=T_OLD,
        )
        ada_entra = account(
            provider="entra",
            external_id="e1",
            login="ada@corp.example",
            person_id=ada.id,
            mfa_state=MfaState.ENROLLED,
            mfa_methods=["microsoftAuthenticatorPush", "fido2"],
            mfa_enforced=True,
            department="Eng (Entra)",
        )
        bob_okta = account(
            provider="okta",
            external_id="u2",
            login="bob@example.com",
            person_id=bob.id,
            status="suspended",
            mfa_state=MfaState.NOT_ENROLLED,
            last_login_at=T_OLD,
        )
        account(provider="okta", external_id="u3", login="orphan@example.com", created_at=T_OLD)
        shared = account(provider="okta", external_id="u4", login="shared@example.com", is_shared=True)
        account(
            provider="google",
            external_id="s1",
            login="robot@example.com",
            is_service=True,
            protected=True,
            mfa_enforced=False,
            department="Ops",
        )
        account(
            provider="google",
            external_id="c1",
            login="conflict@example.com",
            link_method="conflict",
            link_note="E1 and E2 both claim it",
        )
        account(provider="entra", external_id="e9", login="gone@corp.example", ended_at=T_OLD)
        for acc, ent, extra in (
            (ada_okta, admins, {"first_seen_at": T_LOGIN}),
            (ada_okta, app, {"inherited": True, "via": "g2"}),  # through a group the store knows
            (ada_okta, staff, {"inherited": True, "via": "g404"}),  # through one it does not
            (ada_entra, role, {"inherited": True, "via": "nested group"}),
            (bob_okta, admins, {}),
            (shared, admins, {}),
            (shared, staff, {"ended_at": T_OLD}),
        ):
            assert acc.id is not None and ent.id is not None
            s.add(Grant(account_id=acc.id, entitlement_id=ent.id, **extra))
        s.commit()
    engine.dispose()


FILTERS = [
    {},
    {"provider": "okta"},
    {"no_mfa": True},
    {"mfa_unknown": True},
    {"inactive_days": 30},
    {"inactive_days": 30, "include_suspended": True},
    {"orphans": True},
    {"shared": True},
    {"privileged": True},
    {"privileged": True, "no_mfa": True, "include_suspended": True},
    {"conflicts": True},
    {"include_ended": True, "include_suspended": True},
]


def answers(conn: ReadConnection) -> dict[str, Any]:
    """Every inventory function's answer, keyed by the question."""
    out: dict[str, Any] = {}
    for status in (None, "active", "terminated"):
        out[f"people {status}"] = inventory.list_people(conn, status=status)
        out[f"people {status} limit 1"] = list(inventory.iter_people(conn, status=status, limit=1))
        out[f"people_summary {status}"] = inventory.people_summary(conn, status=status)
    for where in FILTERS:
        f = inventory.AccountFilter(**where)
        out[f"accounts {where}"] = inventory.list_accounts(conn, f, now=NOW)
        out[f"accounts {where} limit 2"] = list(inventory.iter_accounts(conn, f, now=NOW, limit=2))
        out[f"account_summary {where}"] = inventory.account_summary(conn, f, now=NOW)
    for key in ("E1", "ada@example.COM", "E2"):
        out[f"access {key}"] = inventory.person_access(conn, key)
    for suspended in (False, True):
        out[f"mfa {suspended}"] = inventory.mfa_report(conn, include_suspended=suspended)
    return out


@pytest.fixture(scope="module")
def sqlite_answers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path_factory.mktemp('reader') / 'store.db'}"
    seed(url)
    with reader(url) as conn:
        return answers(conn)


def test_the_answers_are_what_the_store_holds(sqlite_answers: dict[str, Any]) -> None:
    a = sqlite_answers
    assert [p["employee_id"] for p in a["people None"]] == ["E1", "E2"]
    assert a["people terminated"] == [
        {
            "employee_id": "E2",
            "name": "Bob",
            "email": "bob@example.com",
            "department": None,
            "title": None,
            "manager": "E1",
            "type": "employee",
            "status": "terminated",
            "termination_date": "2025-03-31",
            "accounts": 1,
        }
    ]
    assert a["people None"][0]["accounts"] == 2  # the ended account is not counted
    assert a["people_summary None"] == inventory.Summary(count=2, longest=len("Ada@Example.com"))
    by_login = {r["login"]: r for r in a["accounts {'include_ended': True, 'include_suspended': True}"]}
    assert by_login["ada@example.com"]["last_login_at"] == "2025-05-30T08:15:42Z"
    assert by_login["ada@example.com"]["privileged"] is True
    assert by_login["ada@corp.example"]["mfa_methods"] == ["microsoftAuthenticatorPush", "fido2"]
    assert by_login["ada@corp.example"]["privileged"] is True  # inherited through a nested group
    assert by_login["shared@example.com"]["flags"] == ["shared"]
    assert by_login["robot@example.com"]["flags"] == ["service", "protected"]
    assert by_login["conflict@example.com"]["flags"] == ["conflict"]
    assert by_login["orphan@example.com"]["flags"] == ["orphan"]
    assert by_login["gone@corp.example"]["flags"] == ["orphan", "ended"]
    logins = {k: [r["login"] for r in v] for k, v in a.items() if k.startswith("accounts")}
    assert logins["accounts {'inactive_days': 30}"] == ["orphan@example.com"]
    assert logins["accounts {'inactive_days': 30, 'include_suspended': True}"] == [
        "bob@example.com",
        "orphan@example.com",
    ]
    assert logins["accounts {'orphans': True}"] == ["orphan@example.com"]
    assert logins["accounts {'shared': True}"] == ["robot@example.com", "shared@example.com"]
    assert logins["accounts {'privileged': True}"] == [
        "ada@corp.example",
        "ada@example.com",
        "shared@example.com",
    ]
    assert logins["accounts {'privileged': True, 'no_mfa': True, 'include_suspended': True}"] == [
        "ada@example.com",
        "bob@example.com",
    ]
    assert logins["accounts {'conflicts': True}"] == ["conflict@example.com"]
    assert logins["accounts {} limit 2"] == ["ada@corp.example", "conflict@example.com"]
    assert a["account_summary {}"] == inventory.Summary(
        count=6, not_counted=1, longest=len("conflict@example.com")
    )
    person, access = a["access ada@example.COM"]
    assert person["employee_id"] == "E1" and person["hire_date"] == date(2020, 2, 3)
    assert person["updated_at"].replace(tzinfo=None) == T_OLD.replace(tzinfo=None)
    assert [(r["entitlement"], r["how"], r["via"]) for r in access] == [
        ("Global Admin", "inherited", "a nested group"),
        ("Admins", "direct", None),
        ("Payroll", "inherited", "Staff"),
        ("Staff", "inherited", "group g404"),
    ]
    assert access[1]["first_seen_at"] == "2025-05-30T08:15:42Z"
    report = a["mfa False"]
    assert [(r["login"], r["mfa_state"]) for r in report["admins_without_mfa"]] == [
        ("ada@example.com", "NOT_ENROLLED"),
        ("shared@example.com", "UNKNOWN"),
    ]
    assert report["scope"]["not_counted"] == {
        "accounts": 1,
        "admins_without_mfa": 1,
        "admins_not_enrolled": 1,
    }
    google = next(r for r in report["by_provider"] if r["provider"] == "google")
    assert google["enforced"] == 0 and google["accounts"] == 2
    assert next(r for r in report["by_provider"] if r["provider"] == "okta")["enforced"] is None
    assert "Eng" in [r["department"] for r in report["by_department"]]


@pytest.mark.postgres
def test_postgresql_gives_the_same_answers(sqlite_answers: dict[str, Any], postgres_url: str) -> None:
    seed(postgres_url)
    with reader(postgres_url) as conn:
        found = answers(conn)
    for key, expected in sqlite_answers.items():
        got = found[key]
        if key.startswith("access "):  # PostgreSQL's timestamps carry their zone, SQLite's are UTC
            (person, rows), (expected_person, expected_rows) = got, expected
            assert rows == expected_rows, key
            assert person["updated_at"] == expected_person["updated_at"].replace(tzinfo=UTC), key
            assert {**person, "updated_at": None} == {**expected_person, "updated_at": None}, key
        else:
            assert got == expected, key


def test_an_engine_reads_the_same_through_its_pool(sqlite_answers: dict[str, Any], tmp_path: Path) -> None:
    """The web app and the demo hold an engine: they read through its DB-API connection, alike."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    seed(url)
    engine = make_engine(url)
    try:
        with engine_reader(engine) as conn:
            assert answers(conn) == sqlite_answers
    finally:
        engine.dispose()
    with reader(f"{url}?timeout=5") as conn:  # options only SQLAlchemy's dialect reads: through an engine
        assert answers(conn) == sqlite_answers


def test_person_columns_are_the_models() -> None:
    assert list(inventory.PERSON_COLUMNS) == [c.name for c in Person.__table__.columns]  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- stores that cannot be read


@pytest.fixture(scope="module")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "store.db"
    seed(f"sqlite:///{path}")
    return path


def _env(store: Path | str) -> dict[str, str]:
    url = store if isinstance(store, str) else f"sqlite:///{store}"
    return {"ACCESSCTL_DATABASE_URL": url, "COLUMNS": "80"}


@pytest.mark.parametrize("command", READ_COMMANDS, ids=" ".join)
def test_a_corrupted_sqlite_file_is_one_line_and_exit_6(tmp_path: Path, command: list[str]) -> None:
    store = tmp_path / "accessctl.db"
    store.write_bytes(b"\x13\x37 not a database " * 512)
    done = run_cli(*command, env=_env(store))
    assert_one_error_line(done, exitcodes.STORE, "cannot use the database: file is not a database")


def test_an_absent_store_is_created_owner_only_and_not_initialised(tmp_path: Path) -> None:
    """As an engine opens it: the file (and its directory) made 0600, then refused as not initialised."""
    store = tmp_path / "new" / "accessctl.db"
    done = run_cli("people", env=_env(store))
    assert_one_error_line(done, exitcodes.SCHEMA, "not initialised", "run `accessctl db upgrade`")
    assert store.exists() and store.stat().st_mode & 0o777 == 0o600


def test_a_store_under_a_file_is_one_line_and_exit_6(tmp_path: Path) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder")
    done = run_cli("accounts", env=_env(blocker / "store" / "accessctl.db"))
    assert_one_error_line(done, exitcodes.STORE, "cannot create the SQLite database")


@pytest.mark.parametrize(
    ("revision", "needle"),
    [("0009", "the database schema is at revision 0009"), ("9999", "newer than this version")],
)
def test_a_schema_behind_or_ahead_is_one_line_and_exit_4(
    store_template: Path, tmp_path: Path, revision: str, needle: str
) -> None:
    store = tmp_path / "store.db"
    shutil.copyfile(store_template, store)
    with sqlite3.connect(store) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    assert_one_error_line(run_cli("access", "ada@example.com", env=_env(store)), exitcodes.SCHEMA, needle)


def test_an_unreachable_postgresql_is_one_line_and_exit_6() -> None:
    done = run_cli("people", env=_env("postgresql://nobody:hunter2-password@127.0.0.1:1/none"))
    line = assert_one_error_line(done, exitcodes.STORE, "cannot use the database")
    assert "hunter2-password" not in line


# ----------------------------------------------------------------------------- start-up


@pytest.fixture(scope="module")
def config(store_template: Path) -> Iterator[Path]:
    path = store_template.parent / "accessctl.toml"
    path.write_text(f'database_url = "sqlite:///{store_template}"\n')
    yield path


@pytest.mark.parametrize(
    ("command", "code"),
    [*((c, exitcodes.OK) for c in READ_COMMANDS), (["access", "nobody@nowhere.invalid"], exitcodes.FAILED)],
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_read_commands_never_import_sqlalchemy(config: Path, command: list[str], code: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCESSCTL_")}
    env.update({"PYTHONPATH": str(ROOT), "COLUMNS": "80"})
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "--config", str(config), *command, "--no-pager"],
        input=json.dumps(["sqlalchemy", "alembic", "sqlmodel"]),
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    probe = json.loads(done.stderr.strip().splitlines()[-1])
    assert probe["exit"] == code, done.stderr
    assert probe["heavy"] == [], f"`accessctl {' '.join(command)}` imported {probe['heavy']}"
    if code == exitcodes.OK:
        assert "ada@" in done.stdout.lower(), done.stdout


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///accessctl.db",
        "sqlite:////var/lib/accessctl/a%20b.db",
        "sqlite://",
        "sqlite+pysqlite:///x.db?timeout=30",
        "postgresql://u:p%40ss@db.internal:6543/access?sslmode=require&options=-csearch_path%3Ds",
        "postgresql+psycopg://[::1]/db",
        "postgres://db/x",
        "mysql://user@db.example.com/access",
    ],
)
def test_urls_are_read_as_sqlalchemy_reads_them(url: str) -> None:
    from sqlalchemy.engine import make_url

    from accessctl.store.urls import parse_url

    ours, theirs = parse_url(url), make_url(url)
    assert ours.drivername == theirs.drivername
    assert (ours.username, ours.password, ours.host, ours.database) == (
        theirs.username,
        theirs.password,
        theirs.host,
        theirs.database,
    )
    assert (int(ours.port) if ours.port else None) == theirs.port
    assert ours.query == dict(theirs.query)
