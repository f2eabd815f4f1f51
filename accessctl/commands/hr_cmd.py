"""`accessctl hr`: the HR roster, and what HR events are waiting on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from accessctl import exitcodes
from accessctl.commands.common import app_context, fail, handled_errors
from accessctl.output import Column, OutputFormat, render

app = typer.Typer(help="The HR roster and HR events.", no_args_is_help=True)


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[
        Path | None, typer.Argument(help="Roster CSV (default: hr.roster_file from the config).")
    ] = None,
) -> None:
    """Import the HR roster (CSV); a bad row is named and nothing is written.  HR events that named
    no known person are then matched again (a termination's leaver starts)."""
    from accessctl.hr.roster import RosterError, import_roster
    from accessctl.lifecycle.hr_jobs import rematch_hr_events

    with handled_errors():
        context = app_context(ctx)
        roster = path or context.settings.hr.roster_file
        if roster is None:
            raise fail("no roster given and hr.roster_file is not set", exitcodes.USAGE)
        engine = context.engine()
        try:
            with engine.begin() as conn:
                result = import_roster(conn, roster, actor="cli")
        except RosterError as exc:
            raise fail(str(exc), exitcodes.FAILED) from None
        typer.echo(f"{result.people} people in the roster: {result.added} added, {result.changed} changed")
        matched = rematch_hr_events(context.settings, engine)
    if matched:
        typer.echo(f"{matched} unmatched HR event(s) now match a person (`accessctl hr pending` shows them)")


FormatOption = Annotated[OutputFormat, typer.Option("--format", help="table, json or csv.")]


def _when(value: object) -> str:
    return str(value or "")[:16].replace("T", " ")


def _list(ctx: typer.Context, query_name: str, columns: list[Column], fmt: OutputFormat, title: str) -> None:
    from accessctl.hr import queries

    with handled_errors():
        engine = app_context(ctx).engine()
        with engine.connect() as conn:
            rows = getattr(queries, query_name)(conn)
    if not rows and fmt is OutputFormat.TABLE:
        typer.echo(f"{title}: none")
        return
    render(rows, columns, fmt, title=title)


@app.command("pending")
def pending(ctx: typer.Context, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """Scheduled terminations (soonest first) and restores waiting for an admin."""
    columns = [
        Column("fire_at", "fires (UTC)", keep=True, fmt=_when),
        Column("what", keep=True),
        Column("employee_id", "employee", keep=True),
        Column("email", priority=1, min_width=12),
        Column("effective", "as HR gave it", priority=2, min_width=12),
        Column("source", priority=4),
        Column("event", right=True, priority=3),
    ]
    _list(ctx, "pending_terminations", columns, fmt, "Pending HR terminations")


@app.command("unmatched")
def unmatched(ctx: typer.Context, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """HR events for people the roster does not know (matched again after the next import or sync)."""
    columns = [
        Column("event", right=True, keep=True),
        Column("received_at", "received (UTC)", keep=True, fmt=_when),
        Column("source", priority=3),
        Column("type", keep=True, fmt=lambda v: str(v).removeprefix("employee.")),
        Column("employee_id", "employee", keep=True),
        Column("email", priority=1, min_width=12),
    ]
    _list(ctx, "unmatched_events", columns, fmt, "Unmatched HR events")


@app.command("movers")
def movers(ctx: typer.Context, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """People whose manager or department changed, not yet reviewed (`person.moved`)."""
    columns = [
        Column("moved_at", "moved (UTC)", keep=True, fmt=_when),
        Column("employee_id", "employee", keep=True),
        Column("email", priority=2, min_width=12),
        Column("old_manager", "old mgr", priority=1),
        Column("new_manager", "new mgr", keep=True),
        Column("old_department", "old dept", priority=3),
        Column("new_department", "new dept", priority=1),
    ]
    _list(ctx, "open_movers", columns, fmt, "Movers awaiting review")
