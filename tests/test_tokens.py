"""API tokens: `accessctl token create|list|revoke` and what the service accepts, on SQLite and
PostgreSQL.  The token is printed once and never stored; a revoked, wrong or out-of-scope token is
refused with its reason; making and revoking are audited."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from typer.testing import CliRunner, Result

from accessctl import audit, exitcodes
from accessctl.cli import app
from accessctl.store.models import AuditEvent
from accessctl.tokens import TOKENS, AuthFailure, Scope, authenticate, create_token
from tests.conftest import sqlite_only

runner = CliRunner()
EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def cli(engine: Engine, *args: str) -> Result:
    url = engine.url.render_as_string(hide_password=False).replace("postgresql+psycopg://", "postgresql://")
    return runner.invoke(app, list(args), env={"ACCESSCTL_DATABASE_URL": url, "COLUMNS": "80"})


def token_events(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(EVENTS.c.action, EVENTS.c.target_id)
            .where(EVENTS.c.target_type == "api_token")
            .order_by(EVENTS.c.seq)
        )
        return [(r.action, r.target_id) for r in rows]


def test_create_prints_the_token_once_and_keeps_only_its_hash(engine: Engine) -> None:
    made = cli(engine, "token", "create", "--scope", "admin", "--name", "ops-laptop")
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    assert token.startswith("actk_") and "\n" not in token
    assert "shown this once" in made.stderr
    with engine.connect() as conn:
        stored = conn.execute(sa.select(TOKENS)).one()
        everything = json.dumps([list(r) for r in conn.execute(sa.select(EVENTS))], default=str)
    secret = token.split("_", 2)[2]
    assert stored.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in json.dumps(list(stored), default=str) and secret not in everything
    assert authenticate(engine, token, needed=Scope.ADMIN, now=NOW).name == "ops-laptop"

    listed = cli(engine, "token", "list")
    assert listed.exit_code == 0, listed.output
    assert "ops-laptop" in listed.stdout and "admin" in listed.stdout and "active" in listed.stdout
    assert secret not in listed.stdout and stored.key_id not in listed.stdout
    assert max(len(line) for line in listed.stdout.splitlines()) <= 80
    as_json = json.loads(cli(engine, "token", "list", "--format", "json").stdout)
    assert as_json[0]["name"] == "ops-laptop" and as_json[0]["last_used_at"] is not None
    assert secret not in json.dumps(as_json) and "secret_sha256" not in as_json[0]
    assert token_events(engine) == [("token.created", "ops-laptop")]


def test_revoke_makes_the_token_refused_and_is_audited(engine: Engine) -> None:
    _, token = create_token(engine, name="ci", scope=Scope.READ, by="test", now=NOW)
    done = cli(engine, "token", "revoke", "ci")
    assert done.exit_code == 0, done.output
    with pytest.raises(AuthFailure) as refused:
        authenticate(engine, token, needed=Scope.READ, now=NOW)
    assert refused.value.reason == "revoked"
    assert "revoked" in cli(engine, "token", "list").stdout
    again = cli(engine, "token", "revoke", "ci")
    assert again.exit_code == exitcodes.FAILED and "revoked already" in again.stderr
    unknown = cli(engine, "token", "revoke", "nobody")
    assert unknown.exit_code == exitcodes.FAILED
    assert unknown.stderr.strip().splitlines() == [
        "error: no token named 'nobody' (`accessctl token list` shows them)"
    ]
    assert token_events(engine) == [("token.created", "ci"), ("token.revoked", "ci")]
    with engine.connect() as conn:
        assert audit.verify(conn).ok


def test_bad_create_arguments_are_one_line_and_change_nothing(engine: Engine) -> None:
    create_token(engine, name="taken", scope=Scope.HR, by="test", now=NOW)
    for args, needle in [
        (["--scope", "root", "--name", "x"], "--scope 'root': one of admin, read, hr"),
        (["--scope", "read", "--name", "taken"], "exists already"),
        (["--scope", "read", "--name", "has space"], "token name 'has space'"),
    ]:
        result = cli(engine, "token", "create", *args)
        assert result.exit_code == exitcodes.USAGE, result.output
        assert len(result.stderr.strip().splitlines()) == 1 and needle in result.stderr
    assert cli(engine, "token", "create", "--name", "x").exit_code == exitcodes.USAGE  # scope is required
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(TOKENS)).scalar_one() == 1


@sqlite_only  # refused before the store matters; PostgreSQL is tested on the paths that store
@pytest.mark.parametrize(
    ("presented", "needed", "reason"),
    [
        (None, Scope.READ, "missing"),
        ("Bearer-ish nonsense", Scope.READ, "malformed"),
        ("actk_000000000000_" + "a" * 43, Scope.READ, "unknown"),
        ("WRONG_SECRET", Scope.READ, "wrong_secret"),
        ("READ", Scope.ADMIN, "scope"),
        ("HR", Scope.READ, "scope"),
    ],
)
def test_each_refusal_has_its_reason(
    engine: Engine, presented: str | None, needed: Scope, reason: str
) -> None:
    _, read = create_token(engine, name="reader", scope=Scope.READ, by="test", now=NOW)
    _, hr = create_token(engine, name="workday", scope=Scope.HR, by="test", now=NOW)
    given = {"READ": read, "HR": hr, "WRONG_SECRET": read[:-4] + "AAAA"}.get(presented or "", presented)
    with pytest.raises(AuthFailure) as refused:
        authenticate(engine, given, needed=needed, now=NOW)
    assert refused.value.reason == reason


def test_an_admin_token_reads_too_and_last_use_is_written_at_most_once_a_minute(engine: Engine) -> None:
    _, token = create_token(engine, name="admin", scope=Scope.ADMIN, by="test", now=NOW)
    assert authenticate(engine, token, needed=Scope.READ, now=NOW).name == "admin"
    authenticate(engine, token, needed=Scope.ADMIN, now=NOW + timedelta(seconds=30))
    with engine.connect() as conn:
        assert conn.execute(sa.select(TOKENS.c.last_used_at)).scalar_one().replace(tzinfo=UTC) == NOW
    later = NOW + timedelta(minutes=5)
    authenticate(engine, token, needed=Scope.ADMIN, now=later)
    with engine.connect() as conn:
        assert conn.execute(sa.select(TOKENS.c.last_used_at)).scalar_one().replace(tzinfo=UTC) == later
