"""The project as a newcomer meets it: the README's two commands, and CI running the same one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    """The indented command lines of the README's "Try it" section."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Try it", 1)[1].split("\n## ", 1)[0]
    return [line.strip() for line in section.splitlines() if line.startswith("    ") and line.strip()]


def test_readme_has_one_demo_command_and_one_test_command() -> None:
    commands = readme_commands()
    assert len(commands) == 2, commands
    assert commands[0].endswith("accessctl demo")
    assert commands[1].endswith("python -m pytest")


def test_ci_runs_exactly_the_readme_test_command_then_ruff() -> None:
    test_command = readme_commands()[1]
    lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    assert test_command in commands, f"{test_command!r} is not a line of .ci/run"
    assert [c for c in commands if "pytest" in c] == [test_command]
    assert commands.index("python -m ruff check .") > commands.index(test_command)


def run_postgres_tests_without_a_server(
    ci: str | None, *, workers: int = 2
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["ACCESSCTL_TEST_POSTGRES_URL"] = "postgresql://postgres@127.0.0.1:9/test"  # nothing listens
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/test_store.py",
            "-k",
            "noop",
            "-n",
            str(workers),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
    )


def test_postgres_tests_without_a_server_are_one_line_saying_how_to_run_them() -> None:
    done = run_postgres_tests_without_a_server(None)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SKIPPED" not in done.stdout and "skipped" not in done.stdout
    lines = [line for line in done.stdout.splitlines() if "PostgreSQL tests not run" in line]
    assert len(lines) == 1
    assert "pg_ctlcluster" in lines[0] and "ACCESSCTL_TEST_POSTGRES_URL" in lines[0]
    assert "passed" in done.stdout  # (under pytest-xdist the summary does not count deselected tests)


def test_postgres_tests_fail_in_ci_whatever_truthy_value_ci_has(monkeypatch: pytest.MonkeyPatch) -> None:
    done = run_postgres_tests_without_a_server("true", workers=0)
    assert done.returncode != 0, done.stdout
    assert "CI must run them" in done.stdout
    from tests.conftest import in_ci

    for value in ("true", "1", "yes", "on", " TRUE "):
        monkeypatch.setenv("CI", value)
        assert in_ci(), value
    for value in ("", "0", "false", "no"):
        monkeypatch.setenv("CI", value)
        assert not in_ci(), value
