"""Who a command acts as, in the audit log: ``cli:<login name>``."""

from __future__ import annotations

import getpass


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name for this uid (a container): still audited, as the CLI
        return "cli"
