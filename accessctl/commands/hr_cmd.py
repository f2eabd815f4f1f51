"""`accessctl hr`: the HR roster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from accessctl import exitcodes
from accessctl.commands.common import app_context, fail, handled_errors

app = typer.Typer(help="The HR roster and HR events.", no_args_is_help=True)


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[
        Path | None, typer.Argument(help="Roster CSV (default: hr.roster_file from the config).")
    ] = None,
) -> None:
    """Import the HR roster (CSV); a bad row is named and nothing is written."""
    from accessctl.hr.roster import RosterError, import_roster

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
