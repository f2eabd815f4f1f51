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
