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
    """MFA coverage by provider and department, admins without MFA first.

    JSON: an object with admins_without_mfa, by_provider and by_department.  CSV: one row per
    admin without MFA, then per provider, then per department; the `section` column says which.
    """
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
        # one CSV, the same three parts as the table, in the same order; `section` says which part a row is
        rows = [
            *({"section": "admin_without_mfa", **row} for row in report["admins_without_mfa"]),
            *({"section": "provider", **row} for row in report["by_provider"]),
            *({"section": "department", **row} for row in report["by_department"]),
        ]
        render(rows, _CSV_COLUMNS, fmt)
        return
    render(
        report["admins_without_mfa"],
        _ADMIN_COLUMNS,
        fmt,
        title=f"Privileged accounts without MFA ({len(report['admins_without_mfa'])})",
    )
    render(report["by_provider"], ["provider", *_COUNT_COLUMNS], fmt, title="MFA coverage by provider")
    for row in report["by_provider"]:  # a line, not a column: the table fills 80 columns already
        if row["enforced"] is not None:
            typer.echo(
                f"{row['provider']}: MFA enforced by the provider for {row['enforced']} of {row['accounts']}"
            )
    render(report["by_department"], ["department", *_COUNT_COLUMNS], fmt, title="MFA coverage by department")


_COUNT_COLUMNS = ["accounts", "enrolled", "not_enrolled", "unknown", "coverage_pct"]
_ADMIN_COLUMNS = ["provider", "login", "person", "mfa_state", "shared"]
_CSV_COLUMNS = ["section", *_ADMIN_COLUMNS, "department", *_COUNT_COLUMNS, "enforced"]
