"""The CLI as a user and a script see it: help everywhere, stable exit codes, no secret in any output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from accessctl import exitcodes
from accessctl.cli import app

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, list(args), env=env)


def all_command_paths() -> list[list[str]]:
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(command: typer.core.TyperCommand | typer.core.TyperGroup, prefix: list[str]) -> None:
        paths.append(prefix)
        if hasattr(command, "commands"):
            for name, sub in command.commands.items():
                walk(sub, [*prefix, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", all_command_paths(), ids=lambda p: " ".join(p) or "accessctl")
def test_every_command_has_help(path: list[str]) -> None:
    result = invoke(*path, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from accessctl.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('okta', 'sqlalchemy', 'sqlmodel', 'msal', 'googleapiclient',"
        " 'pydantic_settings', 'fastapi', 'alembic') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "HEAVY="


def test_db_upgrade_twice_then_verify(tmp_path: Path) -> None:
    env = {"ACCESSCTL_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    first = invoke("db", "upgrade", env=env)
    assert first.exit_code == 0 and "upgraded from empty" in first.output
    second = invoke("db", "upgrade", env=env)
    assert second.exit_code == 0 and "nothing to do" in second.output
    verified = invoke("audit", "verify", env=env)
    assert verified.exit_code == 0 and "0 events verified" in verified.output


def test_commands_refuse_a_schema_that_is_behind(tmp_path: Path) -> None:
    env = {"ACCESSCTL_DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}"}
    result = invoke("audit", "verify", env=env)
    assert result.exit_code == exitcodes.SCHEMA
    assert "accessctl db upgrade" in result.output


def test_audit_verify_fails_naming_the_row(tmp_path: Path) -> None:
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from accessctl import audit
    from accessctl.store.engine import make_engine

    url = f"sqlite:///{tmp_path / 's.db'}"
    env = {"ACCESSCTL_DATABASE_URL": url}
    assert invoke("db", "upgrade", env=env).exit_code == 0
    engine = make_engine(url)
    with Session(engine) as session:
        for i in range(3):
            audit.record(session, actor="cli", action="test", target_id=str(i))
        session.commit()
    assert invoke("audit", "verify", env=env).exit_code == 0
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_event SET outcome = 'failure' WHERE seq = 2"))
    engine.dispose()
    result = invoke("audit", "verify", env=env)
    assert result.exit_code == exitcodes.FAILED
    assert "event 2" in result.output

    listed = invoke("audit", "list", "--format", "json", env=env)
    assert [e["seq"] for e in json.loads(listed.stdout)] == [1, 2, 3]
    exported = invoke("audit", "export", "--format", "csv", env=env)
    assert exported.stdout.splitlines()[0].startswith("seq,occurred_at,actor")


def test_config_check_names_missing_secret(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[okta]\nenabled = true\norg_url = "https://x.okta.com"\n')
    result = invoke("--config", str(config), "config", "check")
    assert result.exit_code == exitcodes.CONFIG
    assert "okta.api_token" in result.output and "ACCESSCTL_OKTA_API_TOKEN" in result.output
    ok = invoke("--config", str(config), "config", "check", env={"ACCESSCTL_OKTA_API_TOKEN": "x" * 20})
    assert ok.exit_code == 0, ok.output


def test_bad_config_gives_config_exit_code_for_any_command(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[web]\nport = 'eighty'\n")
    result = invoke("--config", str(config), "db", "upgrade")
    assert result.exit_code == exitcodes.CONFIG
    assert "web.port" in result.output


def test_unreachable_database_is_a_clear_error(tmp_path: Path) -> None:
    env = {"ACCESSCTL_DATABASE_URL": "postgresql://nobody:hunter2-password@127.0.0.1:1/none"}
    result = invoke("db", "upgrade", env=env)
    assert result.exit_code == exitcodes.STORE
    assert "cannot use the database" in result.output
    assert "hunter2-password" not in result.output


MARKERS = {
    "ACCESSCTL_OKTA_API_TOKEN": "MARKER-okta-token-7f3a9",
    "ACCESSCTL_ENTRA_CLIENT_SECRET": "MARKER-entra-secret-51c2",
    "ACCESSCTL_GOOGLE_SERVICE_ACCOUNT_KEY": '{"private_key": "MARKER-google-key-88d1"}',
    "ACCESSCTL_HR_WEBHOOK_SECRET": "MARKER-hr-webhook-0b7e",
    "ACCESSCTL_SMTP_PASSWORD": "MARKER-smtp-password-c4d0",
}


def test_no_secret_reaches_any_output_log_or_store(tmp_path: Path) -> None:
    """Secrets set to marker strings; every command's stdout, stderr, JSON logs and the store are grepped."""
    config = tmp_path / "c.toml"
    config.write_text(
        f'database_url = "sqlite:///{tmp_path / "s.db"}"\n'
        '[okta]\nenabled = true\norg_url = "https://x.okta.com"\n'
        '[entra]\nenabled = true\ntenant_id = "t"\nclient_id = "c"\n'
        '[google]\nenabled = true\nadmin_email = "admin@example.com"\n'
    )
    env = {**os.environ, **MARKERS, "ACCESSCTL_LOG_LEVEL": "DEBUG"}
    commands = [
        ["config", "check"],
        ["config", "show"],
        ["--log-format", "json", "db", "upgrade"],
        ["db", "current"],
        ["audit", "verify"],
        ["audit", "list", "--format", "json"],
        ["audit", "export"],
    ]
    captured = []
    for command in commands:
        done = subprocess.run(
            [sys.executable, "-m", "accessctl.cli", "--config", str(config), *command],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        assert done.returncode == 0, (command, done.stdout, done.stderr)
        captured.append(done.stdout + done.stderr)
    everything = "\n".join(captured) + (tmp_path / "s.db").read_bytes().decode("latin-1")
    for marker in ("MARKER-okta", "MARKER-entra", "MARKER-google", "MARKER-hr", "MARKER-smtp"):
        assert marker not in everything
    assert "[set]" in captured[1]  # config show says the secrets are there without showing them


def test_demo_runs_the_story_end_to_end(tmp_path: Path) -> None:
    """The README's first command: every stage that exists runs on the real code path."""
    result = invoke("demo", "--people", "40", "--workdir", str(tmp_path / "demo"))
    assert result.exit_code == 0, result.output
    for stage in ("1. A company", "2. Sync", "3. Risky access", "4. The audit trail", "audit chain intact"):
        assert stage in result.output
    assert "orphans" in result.output.lower()
    config = tmp_path / "demo" / "accessctl.toml"
    listed = invoke("--config", str(config), "accounts", "--shared", "--format", "json")
    assert listed.exit_code == 0
    assert any(a["login"].startswith("it-admin@") for a in json.loads(listed.stdout))
