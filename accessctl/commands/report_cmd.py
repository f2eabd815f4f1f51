"""`accessctl report`: reports over the synced inventory."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from accessctl.commands.common import app_context, handled_errors
from accessctl.output import OutputFormat, render

app = typer.Typer(help="Reports over the synced inventory.", no_args_is_help=True)


@app.command("mfa")
def mfa(
    ctx: typer.Context,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table, json or csv.")] = OutputFormat.TABLE,
) -> None:
    """MFA coverage by provider and department, admins without MFA first."""
    from accessctl.inventory import mfa_report

    with handled_errors():
        engine = app_context(ctx).engine()
        with engine.connect() as conn:
            report = mfa_report(conn)
    if fmt is OutputFormat.JSON:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    if fmt is OutputFormat.CSV:
        render(report["by_provider"] + report["by_department"], _COVERAGE_COLUMNS_CSV, fmt)
        return
    render(
        report["admins_without_mfa"],
        ["provider", "login", "person", "mfa_state", "shared"],
        fmt,
        title=f"Privileged accounts without MFA ({len(report['admins_without_mfa'])})",
    )
    render(report["by_provider"], ["provider", *_COUNT_COLUMNS], fmt, title="MFA coverage by provider")
    render(report["by_department"], ["department", *_COUNT_COLUMNS], fmt, title="MFA coverage by department")


_COUNT_COLUMNS = ["accounts", "enrolled", "not_enrolled", "unknown", "coverage_pct"]
_COVERAGE_COLUMNS_CSV = ["provider", "department", *_COUNT_COLUMNS]
