"""The CLI as a user and a script see it: help everywhere, stable exit codes, no secret in any output."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
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


def test_audit_verify_fails_naming_the_row(tmp_path: Path, drop_audit_guard: Callable[..., None]) -> None:
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
    with pytest.raises(sa.exc.IntegrityError, match="append-only"), engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_event SET outcome = 'failure' WHERE seq = 2"))
    assert invoke("audit", "verify", env=env).exit_code == 0
    with engine.begin() as conn:  # someone with DDL rights drops the guard first
        drop_audit_guard(conn)
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


def test_sync_refuses_a_provider_missing_its_secret_and_changes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    database = tmp_path / "s.db"
    config.write_text(
        f'database_url = "sqlite:///{database}"\n[okta]\nenabled = true\norg_url = "https://x.okta.com"\n'
    )
    assert invoke("--config", str(config), "db", "upgrade").exit_code == 0
    result = invoke("--config", str(config), "sync")
    assert result.exit_code == exitcodes.CONFIG, result.output
    assert "okta.api_token" in result.output and "ACCESSCTL_OKTA_API_TOKEN" in result.output
    assert "Traceback" not in result.output
    with sqlite3.connect(database) as conn:
        assert conn.execute("select count(*) from sync_run").fetchone()[0] == 0


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


def test_help_shows_bracketed_words_literally() -> None:
    """Rich markup must not swallow "[set]" and the like from any command's help."""
    root = typer.main.get_command(app)
    for path in all_command_paths():
        command = root
        for name in path:
            command = command.commands[name]
        texts = [command.help or ""] + [getattr(param, "help", None) or "" for param in command.params]
        words = {w for text in texts for w in re.findall(r"\[(\w+)\]", text)}
        if not words:
            continue
        shown = " ".join(invoke(*path, "--help").output.split())
        for word in words:
            assert f"[{word}]" in shown, (path, word)
    shown = " ".join(invoke("config", "--help").output.replace("│", " ").split())
    assert "[set] or [unset]" in shown


def test_config_check_names_a_broken_list_variable_instead_of_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[sync]\ninactive_days = 30\n")
    bad = invoke(
        "--config", str(config), "config", "check", env={"ACCESSCTL_SYNC_SHARED_ACCOUNT_PATTERNS": '["a*",'}
    )
    assert bad.exit_code == exitcodes.CONFIG
    assert ("Traceback" not in bad.output and bad.exception is None) or isinstance(bad.exception, SystemExit)
    assert "environment ACCESSCTL_SYNC_SHARED_ACCOUNT_PATTERNS: sync.shared_account_patterns" in bad.output
    assert "comma-separated" in bad.output
    env = {"ACCESSCTL_SYNC_SHARED_ACCOUNT_PATTERNS": "a*,b*"}
    assert invoke("--config", str(config), "config", "check", env=env).exit_code == 0
    shown = invoke("--config", str(config), "config", "show", env=env).output
    assert 'shared_account_patterns = [\n    "a*",\n    "b*",\n]' in shown


def test_config_check_blames_the_variable_not_the_file(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[okta]\npage_size = 100\n")
    result = invoke("--config", str(config), "config", "check", env={"ACCESSCTL_OKTA_PAGE_SIZE": "abc"})
    assert result.exit_code == exitcodes.CONFIG
    assert "environment ACCESSCTL_OKTA_PAGE_SIZE: okta.page_size" in result.output
    assert f"{config}: okta.page_size" not in result.output


def test_config_show_masks_the_database_password() -> None:
    env = {"ACCESSCTL_DATABASE_URL": "postgresql://accessctl:hunter2-pw@db.internal/accessctl"}
    result = invoke("config", "show", env=env)
    assert result.exit_code == 0
    assert "hunter2-pw" not in result.output
    assert 'database_url = "postgresql://accessctl:***@db.internal/accessctl"' in result.output


def test_a_schema_newer_than_the_code_is_refused_with_its_own_message(tmp_path: Path) -> None:
    import sqlalchemy as sa

    env = {"ACCESSCTL_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    assert invoke("db", "upgrade", env=env).exit_code == 0
    engine = sa.create_engine(env["ACCESSCTL_DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    for command in (["audit", "verify"], ["db", "upgrade"]):
        result = invoke(*command, env=env)
        assert result.exit_code == exitcodes.SCHEMA, command
        assert "newer than this version of accessctl" in result.output
        assert "run `accessctl db upgrade`" not in result.output


@pytest.fixture
def okta_only(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Start an Okta emulator (with options) and return the path of a config pointing at it."""
    from accessctl.emulation import emulator_config, write_config
    from connectors.emulators.generate import generate_org
    from connectors.emulators.runner import start_emulators

    started = []

    def start(org_url: str | None = None, **options: object) -> Path:
        running = start_emulators(
            generate_org(40, seed=3), workdir=tmp_path / "emu", providers=("okta",), **options
        )
        started.append(running)
        config = emulator_config(running, database_url=f"sqlite:///{tmp_path / 's.db'}")
        if org_url:
            config["okta"]["org_url"] = org_url
        path = write_config(config, tmp_path / "accessctl.toml")
        assert invoke("--config", str(path), "db", "upgrade").exit_code == 0
        return path

    yield start
    for running in started:
        running.stop()


FAST_RETRIES = {"ACCESSCTL_SYNC_MAX_ATTEMPTS": "2", "ACCESSCTL_SYNC_BACKOFF_BASE_S": "0.01"}


def test_sync_exits_5_when_the_provider_refuses_the_credentials(okta_only: Callable[..., Path]) -> None:
    config = okta_only(strict_auth=True)
    env = {**FAST_RETRIES, "ACCESSCTL_OKTA_API_TOKEN": "not-the-token-0123456789"}
    result = invoke("--config", str(config), "sync", env=env)
    assert result.exit_code == exitcodes.PROVIDER, result.output
    assert "okta could not be reached or refused: AuthError" in result.output
    assert "not-the-token-0123456789" not in result.output
    assert invoke("--config", str(config), "sync").exit_code == exitcodes.OK  # the right token works


def test_sync_exits_5_when_the_provider_cannot_be_reached(okta_only: Callable[..., Path]) -> None:
    config = okta_only(org_url="https://127.0.0.1:9")
    result = invoke("--config", str(config), "sync", "--format", "json", env=FAST_RETRIES)
    assert result.exit_code == exitcodes.PROVIDER, result.output
    (okta,) = json.loads(result.stdout)["providers"]
    assert (okta["complete"], okta["failure"]) == (False, "TransientError")


def test_sync_exits_1_when_a_pass_is_merely_incomplete(okta_only: Callable[..., Path]) -> None:
    config = okta_only(faults="page:/api/v1/users:2:404")  # a listing page vanishes: not a refusal
    env = {**FAST_RETRIES, "ACCESSCTL_OKTA_PAGE_SIZE": "10"}
    result = invoke("--config", str(config), "sync", "--format", "json", env=env)
    assert result.exit_code == exitcodes.FAILED, result.output
    (okta,) = json.loads(result.stdout)["providers"]
    assert (okta["complete"], okta["failure"]) == (False, "NotFoundError")


def _emulate(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """Start `accessctl emulate`, wait until it says it is up; returns (process, stdout so far)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "accessctl.cli", "emulate", "--people", "20", "--workdir", "emu", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    assert process.stderr is not None and process.stdout is not None
    status = []
    for line in process.stderr:
        status.append(line)
        if "Ctrl-C stops" in line:
            break
    else:
        raise AssertionError("emulate did not come up: " + "".join(status))
    return process, "".join(status)


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return out, err


def test_emulate_prints_the_config_and_keeps_secrets_in_files(tmp_path: Path) -> None:
    import tomllib

    process, status = _emulate(tmp_path)
    try:
        out, _ = _stop(process)
    finally:
        process.kill()
    config = tomllib.loads(out)  # stdout is the config and only the config
    assert config["okta"]["enabled"] is True and config["okta"]["org_url"].startswith("https://127.0.0.1:")
    secret_file = Path(config["okta"]["api_token_file"])
    assert secret_file.parent == (tmp_path / "emu").resolve() and secret_file.read_text()
    assert secret_file.read_text() not in out
    assert "api_token =" not in out and "client_secret =" not in out
    assert not (tmp_path / "emu" / "accessctl.toml").exists()
    assert "printed above" in status


def test_emulate_writes_the_config_to_the_path_given(tmp_path: Path) -> None:
    target = tmp_path / "emu" / "accessctl.toml"
    process, status = _emulate(tmp_path, "--write-config", str(target))
    try:
        checked = invoke("--config", str(target), "config", "check")
        upgraded = invoke("--config", str(target), "db", "upgrade")
        out, _ = _stop(process)
    finally:
        process.kill()
    assert checked.exit_code == 0, checked.output
    assert upgraded.exit_code == 0, upgraded.output
    assert out == ""
    assert f"config:      {target}" in status


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


SYNC_MARKERS = {
    "okta": "MARKER-okta-sync-token-2e6b",
    "entra": "MARKER-entra-sync-secret-93fa",
    "google": "MARKER-google-key-id-5d17",
}


def grep_everything(tmp_path: Path, outputs: list[str], needles: list[str]) -> None:
    """No needle in any output, nor in any file of the store (the database, its -wal and -shm)."""
    store_files = sorted(tmp_path.glob("s.db*"))
    assert store_files, "the store was not written"
    blobs = {"output": "\n".join(outputs)}
    blobs.update({f.name: f.read_bytes().decode("latin-1") for f in store_files})
    for where, text in blobs.items():
        for needle in needles:
            assert needle not in text, f"a secret reached {where}"


@pytest.mark.parametrize("reachable", [True, False], ids=["sync", "sync-bad-host"])
def test_no_secret_reaches_output_log_or_store_on_a_real_sync(tmp_path: Path, reachable: bool) -> None:
    """`accessctl sync` against the emulators with every credential a marker (Okta is given it as a token),
    then against a host that is not there: stdout, stderr (the log, DEBUG, text and JSON) and every
    store file are grepped for the markers and for the service-account private key."""
    from accessctl.emulation import emulator_config, write_config
    from connectors.emulators.credentials import google_key_json, write_secret
    from connectors.emulators.generate import generate_org
    from connectors.emulators.runner import start_emulators

    running = start_emulators(generate_org(40, seed=5), workdir=tmp_path / "emu")
    try:
        # Okta checks its API tokens: the marker becomes one of the org's (a super admin's)
        issued = httpx.post(
            f"{running.providers['okta'].url}/_emulator/state/tokens",
            json={"token": SYNC_MARKERS["okta"], "role": "SUPER_ADMIN"},
            verify=str(running.ca_path),
        )
        assert issued.status_code == 200
        config = emulator_config(running, database_url=f"sqlite:///{tmp_path / 's.db'}")
        # Okta's token from the environment, Entra's secret and Google's key from files
        config["okta"].pop("api_token_file")
        write_secret(Path(config["entra"]["client_secret_file"]), SYNC_MARKERS["entra"])
        key = json.loads(google_key_json(running.secrets, f"{running.providers['google'].url}/token"))
        key["private_key_id"] = SYNC_MARKERS["google"]
        write_secret(Path(config["google"]["service_account_key_file"]), json.dumps(key))
        if not reachable:
            closed = "https://127.0.0.1:9"
            config["okta"]["org_url"] = closed
            config["entra"].update(authority_host=closed, graph_url=closed)
            config["google"]["api_endpoint"] = closed
        path = write_config(config, tmp_path / "accessctl.toml")
        env = {
            **os.environ,
            "ACCESSCTL_OKTA_API_TOKEN": SYNC_MARKERS["okta"],
            "ACCESSCTL_LOG_LEVEL": "DEBUG",
            "ACCESSCTL_SYNC_MAX_ATTEMPTS": "2",
            "ACCESSCTL_SYNC_BACKOFF_BASE_S": "0.01",
        }
        outputs = []
        for command in (["db", "upgrade"], ["sync"], ["--log-format", "json", "sync", "--full"]):
            done = subprocess.run(
                [sys.executable, "-m", "accessctl.cli", "--config", str(path), *command],
                capture_output=True,
                text=True,
                env=env,
                cwd=tmp_path,
            )
            expected = exitcodes.OK if reachable or command[0] == "db" else exitcodes.PROVIDER
            assert done.returncode == expected, (command, done.stdout, done.stderr[-3000:])
            outputs.append(done.stdout + done.stderr)
    finally:
        running.stop()
    log = "\n".join(outputs)
    assert "DEBUG" in log and '"level": "DEBUG"' in log  # the log was there to leak into
    private_key_lines = [line for line in key["private_key"].splitlines() if len(line) > 40]
    grep_everything(tmp_path, outputs, [*SYNC_MARKERS.values(), *private_key_lines[2:4]])


def test_demo_runs_the_story_end_to_end(tmp_path: Path) -> None:
    """The README's first command: every stage that exists runs on the real code path; the missing
    ones are named, not faked; mail goes to the demo's own SMTP sink."""
    import tomllib

    # a folder relative to where it runs (the tests run in tmp_path), as the README's `accessctl-demo`
    result = invoke("demo", "--people", "40", "--workdir", "demo")
    assert result.exit_code == 0, result.output
    stages = (
        "1. A company",
        "2. Sync",
        "3. Risky access",
        "4. A leaver",
        "5. The audit trail",
        "audit chain intact",
    )
    for stage in stages:
        assert stage in result.output
    assert "orphans" in result.output.lower()
    not_shown = [line for line in result.output.splitlines() if "Not in this demo yet" in line]
    assert len(not_shown) == 1
    assert "review campaigns" in not_shown[0] and "HR" not in not_shown[0]
    assert re.findall(r"─ (\d)\. ", result.output) == ["1", "2", "3", "4", "5"]  # no stage beyond what exists
    verified = [line for line in result.output.splitlines() if "✓" in line and "blocked, " in line]
    assert len(verified) == 3  # the leaver, read back in each provider
    assert all("grants gone" in line and "no credentials open" in line for line in verified)
    assert "HTTP 202: event 1 applied" in result.output
    assert [line for line in result.output.splitlines() if len(line) > 80] == []

    config = tmp_path / "demo" / "accessctl.toml"
    _the_leaver_came_through_the_http_intake(config)
    smtp = tomllib.loads(config.read_text())["smtp"]
    assert f"SMTP sink at {smtp['host']}:{smtp['port']}" in result.output
    assert (tmp_path / "demo" / "mail").is_dir()
    listed = invoke("--config", str(config), "accounts", "--shared", "--format", "json")
    assert listed.exit_code == 0
    assert any(a["login"].startswith("it-admin@") for a in json.loads(listed.stdout))


def _the_leaver_came_through_the_http_intake(config: Path) -> None:
    """The demo's leaver is an HR event from its source, signed and posted over HTTP: stored, its
    job (requested by `hr`) done, and the person's accounts suspended as the store last read them."""
    import sqlalchemy as sa

    from accessctl.settings import load_settings
    from accessctl.store.engine import make_engine

    engine = make_engine(load_settings(config, strict=True).database_url)
    try:
        with engine.connect() as conn:
            events = conn.execute(
                sa.text(
                    "SELECT e.source, e.event_type, e.status, e.webhook_id, j.state, j.requested_by,"
                    " e.person_id FROM hr_event e JOIN job j ON j.id = e.job_id"
                )
            ).all()
            assert [tuple(e[:3]) + tuple(e[4:6]) for e in events] == [
                ("hris", "employee.terminated", "applied", "done", "hr")
            ]
            assert events[0].webhook_id.startswith("msg_demo_")  # came with Standard Webhooks headers
            accounts = conn.execute(
                sa.text("SELECT provider, status FROM account WHERE person_id = :p AND ended_at IS NULL"),
                {"p": events[0].person_id},
            ).all()
    finally:
        engine.dispose()
    assert {provider for provider, _ in accounts} == {"okta", "entra", "google"}
    assert {status for _, status in accounts} == {"suspended"}


def test_demo_smtp_sink_writes_each_mail_into_its_folder(tmp_path: Path) -> None:
    import smtplib
    from email.message import EmailMessage

    from accessctl.demo import SmtpSink

    with SmtpSink(tmp_path / "mail") as sink:
        for n in (1, 2):
            message = EmailMessage()
            message["From"], message["To"], message["Subject"] = "a@example.com", "b@example.com", f"n{n}"
            message.set_content(f"review item {n}")
            with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
                client.send_message(message)
    files = sorted((tmp_path / "mail").iterdir())
    assert [f.name for f in files] == ["0001.eml", "0002.eml"]
    assert "Subject: n2" in files[1].read_text() and "review item 2" in files[1].read_text()
