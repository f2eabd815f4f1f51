"""Errors as a user meets them: one line starting with ``error:``, a documented exit code, no traceback.

Each test runs the real command line (``python -m accessctl.cli``) in a subprocess, as a user or a
script would, unless it needs to look inside.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from accessctl import exitcodes


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    python_flags: Sequence[str] = (),
    prefix: Sequence[str] = (),
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """``accessctl ARGS`` in a subprocess (cwd: the test's tmp_path, see conftest)."""
    return subprocess.run(
        [*prefix, sys.executable, *python_flags, "-m", "accessctl.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def assert_one_error_line(done: subprocess.CompletedProcess[str], code: int, *needles: str) -> str:
    """The command failed with ``code`` and said why in one ``error:`` line, with no traceback."""
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and "Traceback" not in done.stdout, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# ----------------------------------------------------------------------------- noise


def test_no_command_warns_about_the_settings_model() -> None:
    """pydantic-settings 2.16 warned on every command that the ``missing`` field was incomplete (its
    type was defined after the model)."""
    from accessctl.settings import Settings

    assert Settings.__pydantic_complete__
    done = run_cli("config", "check", python_flags=("-W", "error"))
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr


# ----------------------------------------------------------------------------- the configuration


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("notaurl", "not a database URL"),
        ("foo://bar", "unknown database 'foo'"),
        ("mysql://user@db.example.com/access", "the mysql driver is not installed"),
    ],
)
def test_a_database_url_accessctl_cannot_use_is_a_config_error(tmp_path: Path, url: str, reason: str) -> None:
    config = write(tmp_path / "accessctl.toml", f'database_url = "{url}"\n')
    checked = run_cli("--config", str(config), "config", "check")
    assert checked.returncode == exitcodes.CONFIG, checked.stderr
    assert "database_url" in checked.stderr and reason in checked.stderr
    assert_one_error_line(run_cli("--config", str(config), "db", "upgrade"), exitcodes.CONFIG, reason)
    env = {"ACCESSCTL_DATABASE_URL": url}  # the variable is named as the culprit
    assert_one_error_line(run_cli("audit", "verify", env=env), exitcodes.CONFIG, "ACCESSCTL_DATABASE_URL")


def test_a_config_file_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    config = write(tmp_path / "accessctl.toml", b"[sync]\ninactive_days = 90 # caf\xe9\n")
    checked = run_cli("--config", str(config), "config", "check")
    assert checked.returncode == exitcodes.CONFIG and "not UTF-8" in checked.stderr, checked.stderr
    assert "Traceback" not in checked.stderr
    assert_one_error_line(run_cli("--config", str(config), "db", "current"), exitcodes.CONFIG, "not UTF-8")


def test_a_ca_bundle_that_is_not_pem_is_caught_by_config_check_and_sync(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("token-0123456789")
    bundle = write(tmp_path / "corp-ca.pem", "this is not a certificate\n")
    config = write(
        tmp_path / "accessctl.toml",
        '[okta]\nenabled = true\norg_url = "https://example.okta.com"\napi_token_file = "token"\n'
        'ca_bundle = "corp-ca.pem"\n',
    )
    checked = run_cli("--config", str(config), "config", "check")
    assert checked.returncode == exitcodes.CONFIG, checked.stderr
    assert "okta.ca_bundle" in checked.stderr and "no PEM certificate" in checked.stderr
    env = {"ACCESSCTL_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    synced = run_cli("--config", str(config), "sync", env=env)
    assert_one_error_line(synced, exitcodes.CONFIG, "okta.ca_bundle", str(bundle))
    assert not (tmp_path / "s.db").exists()


def test_config_check_rejects_a_bad_log_level_in_the_file(tmp_path: Path) -> None:
    config = write(tmp_path / "accessctl.toml", '[log]\nlevel = "LOUD"\nformat = "yaml"\n')
    checked = run_cli("--config", str(config), "config", "check")
    assert checked.returncode == exitcodes.CONFIG
    assert "log.level" in checked.stderr and "log.format" in checked.stderr


# ----------------------------------------------------------------------------- the store


def test_a_corrupted_sqlite_file_exits_6(tmp_path: Path) -> None:
    store = write(tmp_path / "accessctl.db", b"\x13\x37 not a database " * 512)
    env = {"ACCESSCTL_DATABASE_URL": f"sqlite:///{store}"}
    for command in (("db", "upgrade"), ("audit", "verify"), ("db", "current")):
        assert_one_error_line(run_cli(*command, env=env), exitcodes.STORE, "not a database")


def _without_root_powers() -> list[str]:
    """A command prefix under which file permissions hold (root ignores them otherwise)."""
    if os.geteuid() != 0:
        return []
    import shutil

    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("running as root without setpriv: cannot make a directory unwritable to test with")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def test_a_sqlite_path_under_an_unwritable_directory(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    prefix = _without_root_powers()
    try:
        for url in (
            f"sqlite:///{locked / 'accessctl.db'}",
            f"sqlite:///{locked / 'missing' / 'accessctl.db'}",
        ):
            env = {"ACCESSCTL_DATABASE_URL": url}
            checked = run_cli("config", "check", env=env, prefix=prefix)
            assert checked.returncode == exitcodes.CONFIG, checked.stderr
            assert "database_url" in checked.stderr and f"{locked} is not writable" in checked.stderr
            upgraded = run_cli("db", "upgrade", env=env, prefix=prefix)
            assert_one_error_line(upgraded, exitcodes.STORE, str(locked))
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_a_sqlite_path_under_a_file(tmp_path: Path) -> None:
    blocker = write(tmp_path / "notes.txt", "a file, not a folder")
    env = {"ACCESSCTL_DATABASE_URL": f"sqlite:///{blocker / 'store' / 'accessctl.db'}"}
    checked = run_cli("config", "check", env=env)
    assert checked.returncode == exitcodes.CONFIG and "is not a directory" in checked.stderr, checked.stderr
    assert_one_error_line(
        run_cli("db", "upgrade", env=env), exitcodes.STORE, "cannot create the SQLite database"
    )


#: ``accessctl`` with every SQLite connection capped at a number of pages: the store refuses to grow
#: with SQLITE_FULL, as on a full disk
CAPPED = """
import os
import sqlalchemy as sa
from sqlalchemy.engine import Engine

@sa.event.listens_for(Engine, "connect")
def _cap(dbapi_connection, _record):
    dbapi_connection.execute("PRAGMA max_page_count = " + os.environ["TEST_MAX_PAGES"])

from accessctl.cli import main
main()
"""


def test_a_full_disk_during_sync_is_one_line_per_provider_and_exit_6(tmp_path: Path) -> None:
    import sqlite3

    from accessctl.emulation import emulator_config, write_config
    from connectors.emulators.generate import generate_org
    from connectors.emulators.runner import start_emulators

    store = tmp_path / "s.db"
    running = start_emulators(generate_org(300, seed=5), workdir=tmp_path / "emu", providers=("okta",))
    try:
        config = emulator_config(running, database_url=f"sqlite:///{store}")
        config.pop("hr")
        path = write_config(config, tmp_path / "accessctl.toml")
        assert run_cli("--config", str(path), "db", "upgrade").returncode == 0
        with sqlite3.connect(store) as conn:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
        command = [sys.executable, "-c", CAPPED, "--config", str(path), "sync"]
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "TEST_MAX_PAGES": str(pages + 8)},
        )
    finally:
        running.stop()
    assert done.returncode == exitcodes.STORE, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == "error: cannot use the database: database or disk is full"
    logged = [line for line in done.stderr.splitlines() if "accessctl.sync.runner" in line]
    assert logged and all(
        "okta sync stopped: the store refused: database or disk is full" in x for x in logged
    )


# ----------------------------------------------------------------------------- arguments


def test_an_out_of_range_number_is_a_usage_error(tmp_path: Path) -> None:
    env = {"ACCESSCTL_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    done = run_cli("accounts", "--inactive-days", "99999999999", env=env)
    assert_one_error_line(done, exitcodes.USAGE, "--inactive-days", "36500")
    done = run_cli("audit", "list", "--limit", "99999999999999999999", env=env)
    assert_one_error_line(done, exitcodes.USAGE, "--limit")


def test_audit_export_to_a_directory_or_a_missing_folder_is_a_usage_error(tmp_path: Path) -> None:
    env = {"ACCESSCTL_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}"}
    assert run_cli("db", "upgrade", env=env).returncode == 0
    (tmp_path / "out").mkdir()
    assert_one_error_line(run_cli("audit", "export", "-o", "out", env=env), exitcodes.USAGE, "is a directory")
    done = run_cli("audit", "export", "-o", "nowhere/audit.jsonl", env=env)
    assert_one_error_line(done, exitcodes.USAGE, "nowhere", "does not exist")
    written = run_cli("audit", "export", "-o", "out/audit.jsonl", env=env)
    assert written.returncode == 0 and (tmp_path / "out" / "audit.jsonl").is_file()


@pytest.mark.parametrize(
    ("option", "value", "choices"),
    [
        ("--log-level", "LOUD", "'debug', 'info', 'warning', 'error'"),
        ("--log-format", "yaml", "'text', 'json'"),
    ],
)
def test_log_options_take_only_their_choices(option: str, value: str, choices: str) -> None:
    assert_one_error_line(run_cli(option, value, "config", "check"), exitcodes.USAGE, option, choices)


def test_help_shows_the_choices_and_no_value_after_a_flag() -> None:
    import re

    from typer.testing import CliRunner

    from accessctl.cli import app

    for args in ([], ["sync"], ["accounts"]):
        shown = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": "120"})
        assert shown.exit_code == 0
        assert "<bool>" not in shown.output, shown.output
        assert re.search(r"--help\s+-h\s+Show this message", shown.output), shown.output
    root = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120"}).output
    assert "<text|json>" in root and "<debug|info|warning|error>" in root
    assert re.search(r"--version\s+Print the version", root)


# ----------------------------------------------------------------------------- nothing configured


def test_sync_with_no_provider_enabled_refuses_and_creates_nothing(tmp_path: Path) -> None:
    done = run_cli("sync")
    assert_one_error_line(done, exitcodes.CONFIG, "no provider is enabled", "enabled = true", "[okta]")
    assert list(tmp_path.iterdir()) == []
    write(tmp_path / "accessctl.toml", "[sync]\ninactive_days = 30\n")
    assert_one_error_line(run_cli("sync"), exitcodes.CONFIG, "accessctl.toml", "no provider is enabled")
    assert [p.name for p in tmp_path.iterdir()] == ["accessctl.toml"]


def test_config_check_warns_when_no_provider_is_enabled() -> None:
    done = run_cli("config", "check")
    assert done.returncode == exitcodes.OK
    assert done.stderr.strip().startswith("warning: ") and "no provider is enabled" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "configuration OK" in done.stdout


# ----------------------------------------------------------------------------- bugs


#: ``accessctl`` with a bug planted where every command meets it: reading the schema revision
BUGGY = """
import accessctl.store.migrate as migrate

def head_revision():
    secret = {"token": "SSWS 00abcdefghijklmnopqrstuvwxyz"}
    return secret["members"]

migrate.head_revision = head_revision
from accessctl.cli import main
main()
"""


def test_a_bug_is_one_line_naming_its_crash_report(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {
        **os.environ,
        "XDG_STATE_HOME": str(state),
        "ACCESSCTL_DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}",
    }
    done = subprocess.run(
        [sys.executable, "-c", BUGGY, "db", "current"], capture_output=True, text=True, env=env, timeout=60
    )
    line = assert_one_error_line(done, exitcodes.BUG, "a bug in accessctl", "KeyError: 'members'")
    (report,) = (state / "accessctl" / "crashes").iterdir()
    assert str(report) in line
    text = report.read_text()
    assert "Traceback (most recent call last)" in text and "head_revision" in text and "db current" in text
    assert report.stat().st_mode & 0o077 == 0


# ----------------------------------------------------------------------------- okta, the demo


def test_okta_sdk_config_errors_read_as_plain_text() -> None:
    """The SDK HTML-escapes its messages (``&#39;https&#39;``); users read them unescaped."""
    import asyncio

    from connectors.base import ConnectorError
    from connectors.okta.client import OktaClient
    from connectors.okta.config import OktaConfig

    client = OktaClient(OktaConfig(org_url="http://example.okta.com", api_token="t" * 40))

    async def attempt() -> str:
        try:
            await client.request("GET", "/api/v1/users")
        except ConnectorError as exc:
            return str(exc)
        finally:
            await client.aclose()
        raise AssertionError("the SDK accepted an http:// org URL")

    message = asyncio.run(asyncio.wait_for(attempt(), timeout=60))
    assert "must start with 'https'" in message and "&#" not in message


def test_config_check_refuses_an_okta_org_url_that_is_not_https(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("token-0123456789")
    config = write(
        tmp_path / "accessctl.toml",
        '[okta]\nenabled = true\norg_url = "http://example.okta.com"\napi_token_file = "token"\n',
    )
    checked = run_cli("--config", str(config), "config", "check")
    assert checked.returncode == exitcodes.CONFIG and "okta.org_url" in checked.stderr, checked.stderr
    assert "https://" in checked.stderr


def test_the_demo_folder_is_ignored_by_git() -> None:
    repo = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", "accessctl-demo/accessctl.toml"], cwd=repo, timeout=30
    )
    assert done.returncode == 0, "accessctl demo's default folder would show as untracked"


def test_the_demo_never_replaces_a_folder_that_is_not_its_own(tmp_path: Path) -> None:
    """The demo replaces its folder on each run: `--workdir .` in a checkout must not wipe it."""
    precious = write(tmp_path / "notes.txt", "my work")
    done = run_cli("demo", "--people", "10", "--workdir", str(tmp_path))
    assert_one_error_line(done, exitcodes.USAGE, "not empty and not a previous demo's folder")
    assert precious.read_text() == "my work"


def test_a_group_alone_shows_its_help_and_nothing_else() -> None:
    done = run_cli("db")
    assert done.returncode == exitcodes.USAGE
    assert "upgrade" in done.stdout and done.stderr == ""
