"""Crash reports: the full traceback of an unexpected error (a bug), kept in a file, never shown raw.

Reports go to ``$XDG_STATE_HOME/accessctl/crashes/`` (``~/.local/state/accessctl/crashes/`` when it is
unset), else to the system's temporary directory; each is readable by its owner only and redacted like
the logs.
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from accessctl import __version__


def crash_dirs() -> list[Path]:
    """Where crash reports go, in order of preference."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return [Path(state) / "accessctl" / "crashes", Path(tempfile.gettempdir()) / "accessctl-crashes"]


def write_crash_report(exc: BaseException, argv: Sequence[str]) -> Path | None:
    """Write ``exc``'s traceback (secrets redacted) to a new file; its path, or None when no place
    could take it."""
    from accessctl.logs import redactor

    now = datetime.now(UTC)
    text = redactor()(
        f"accessctl {__version__} on Python {platform.python_version()} ({sys.platform})\n"
        f"time: {now.isoformat(timespec='seconds')}\n"
        f"command: accessctl {' '.join(argv)}\n\n" + "".join(traceback.format_exception(exc))
    )
    name = f"crash-{now:%Y%m%dT%H%M%SZ}-{os.getpid()}.txt"
    for directory in crash_dirs():
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(directory / name, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except OSError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        return directory / name
    return None
