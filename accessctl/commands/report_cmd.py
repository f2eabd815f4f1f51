"""`accessctl report`: reports over the synced inventory."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from accessctl.commands.common import app_context, handled_errors
from accessctl.commands.inventory_cmd import mfa_word, not_counted_note
from accessctl.output import Column, OutputFormat, paged, render

app = typer.Typer(help="Reports over the synced inventory.", no_args_is_help=True)


@app.command("mfa")
def mfa(
    ctx: typer.Context,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table, json or csv.")] = OutputFormat.TABLE,
    include_suspended: Annotated[
        bool,
        typer.Option(
            "--include-suspended",
            help="Also count suspended (and deprovisioned) accounts; without it only active ones, "
            "as `accounts` does.",
        ),
    ] = False,
    wide: Annotated[bool, typer.Option("--wide", help="Every column, at full width.")] = False,
    no_pager: Annotated[bool, typer.Option("--no-pager", help="Do not page the report.")] = False,
) -> None:
    """MFA coverage by provider and department, privileged accounts without MFA first.

    Active accounts only unless --include-suspended: the same accounts `accounts --privileged
    --no-mfa` lists (it shows the not enrolled; this report adds those whose MFA is unknown).
    JSON: an object with admins_without_mfa, by_provider, by_department and scope (the statuses
    counted and how many accounts that left out).  CSV: one row per admin without MFA, then per
    provider, then per department; the `section` column says which.
    """
    from accessctl.inventory import mfa_report

    with handled_errors(), app_context(ctx).reader() as conn:
        report = mfa_report(conn, include_suspended=include_suspended)
    with paged(fmt is OutputFormat.TABLE and not no_pager) as out:
        if fmt is OutputFormat.JSON:
            json.dump(report, out, indent=2)
            out.write("\n")
            return
        if fmt is OutputFormat.CSV:
            # one CSV, the same three parts as the table, in the same order; `section` says which
            rows = [
                *({"section": "admin_without_mfa", **row} for row in report["admins_without_mfa"]),
                *({"section": "provider", **row} for row in report["by_provider"]),
                *({"section": "department", **row} for row in report["by_department"]),
            ]
            render(rows, _CSV_COLUMNS, fmt, out=out)
            return
        left_out = report["scope"]["not_counted"]
        admins = report["admins_without_mfa"]
        not_enrolled = sum(1 for a in admins if a["mfa_state"] == "NOT_ENROLLED")
        admin_columns = [
            Column("provider", keep=True, priority=0),
            Column("login", keep=True, priority=1),
            Column("mfa_state", "mfa", priority=2, fmt=mfa_word),
            Column("status", priority=3, wide_only=not include_suspended),
            Column("person", priority=4),
            Column("shared", priority=5),
        ]
        sections: list[tuple[str, list[str], list[dict[str, Any]], list[Column]]] = [
            (
                f"Privileged accounts without MFA ({len(admins)})",
                [
                    f"{not_enrolled} not enrolled (as `accounts --privileged --no-mfa`), "
                    f"{len(admins) - not_enrolled} unknown",
                    *([] if include_suspended else not_counted_note(left_out["admins_without_mfa"])),
                ],
                admins,
                admin_columns,
            ),
            (
                "MFA coverage by provider",
                [
                    *([] if include_suspended else not_counted_note(left_out["accounts"])),
                    *(  # a line, not a column: the table fills 80 columns already
                        f"{row['provider']}: MFA enforced by the provider for {row['enforced']} of "
                        f"{row['accounts']}"
                        for row in report["by_provider"]
                        if row["enforced"] is not None
                    ),
                ],
                report["by_provider"],
                [Column("provider", keep=True), *_COUNT_TABLE],
            ),
            (
                "MFA coverage by department",
                [],
                report["by_department"],
                [Column("department", priority=9, min_width=12), *_COUNT_TABLE],
            ),
        ]
        for i, (title, notes, rows, columns) in enumerate(sections):
            if i:
                out.write("\n")
            render(rows, columns, fmt, title=title, notes=notes, wide=wide, out=out)


def _percent(value: Any) -> str:
    return "" if value is None else f"{value:.1f}%"


_COUNT_COLUMNS = ["accounts", "enrolled", "not_enrolled", "unknown", "coverage_pct"]
_COUNT_TABLE = [
    Column("accounts", right=True, keep=True),
    Column("enrolled", right=True, keep=True),
    Column("not_enrolled", "not enrolled", right=True, keep=True),
    Column("unknown", right=True, keep=True),
    Column("coverage_pct", "coverage", right=True, keep=True, fmt=_percent),
]
_ADMIN_COLUMNS = ["provider", "login", "person", "status", "mfa_state", "shared"]
_CSV_COLUMNS = ["section", *_ADMIN_COLUMNS, "department", *_COUNT_COLUMNS, "enforced"]
