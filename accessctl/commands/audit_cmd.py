"""`accessctl audit`: verify the hash chain, list and export events."""

from __future__ import annotations

import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from accessctl import exitcodes
from accessctl.commands.common import app_context, fail, handled_errors
from accessctl.output import OutputFormat

app = typer.Typer(help="Verify, list and export the audit log.", no_args_is_help=True)


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


SinceOption = Annotated[
    datetime | None,
    typer.Option(help="Only events at or after this time (UTC unless an offset is given)."),
]


@app.command("verify")
def verify(ctx: typer.Context) -> None:
    """Check the hash chain; exit 1 naming the first event that was edited, deleted or reordered."""
    from sqlalchemy.orm import Session

    from accessctl.audit import verify as verify_chain

    with handled_errors():
        engine = app_context(ctx).engine()
        with Session(engine) as session:
            result = verify_chain(session)
    if result.ok:
        typer.secho(f"✓ audit log intact: {result.checked} events verified", fg=typer.colors.GREEN)
        return
    typer.secho(
        f"✗ audit log broken at event {result.bad_seq}: {result.reason}", err=True, fg=typer.colors.RED
    )
    typer.echo(f"  {result.checked} events before it verified", err=True)
    raise typer.Exit(exitcodes.FAILED)


@app.command("export")
def export(
    ctx: typer.Context,
    fmt: Annotated[ExportFormat, typer.Option("--format", help="jsonl or csv.")] = ExportFormat.JSONL,
    since: SinceOption = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", dir_okay=False, help="File to write (default stdout); its folder must exist."
        ),
    ] = None,
) -> None:
    """Export events for SIEM ingestion, oldest first."""
    from sqlalchemy.orm import Session

    from accessctl.audit import export as export_events

    if output is not None and not output.parent.is_dir():
        raise fail(f"--output: {output}: the folder {output.parent} does not exist", exitcodes.USAGE)
    with handled_errors():
        engine = app_context(ctx).engine()
        with Session(engine) as session:
            if output is None:
                count = export_events(session, sys.stdout, fmt=fmt.value, since=since)
            else:
                try:
                    handle = output.open("w", encoding="utf-8", newline="")
                except OSError as exc:
                    raise fail(f"--output: cannot write {output}: {exc.strerror}", exitcodes.USAGE) from None
                with handle:
                    count = export_events(session, handle, fmt=fmt.value, since=since)
    if output is not None:
        typer.echo(f"{count} events written to {output}", err=True)


@app.command("list")
def list_events(
    ctx: typer.Context,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table, json or csv.")] = OutputFormat.TABLE,
    since: SinceOption = None,
    limit: Annotated[
        int, typer.Option(help="Show at most this many of the newest events.", min=1, max=1_000_000)
    ] = 50,
) -> None:
    """List the newest audit events."""
    from collections import deque

    from sqlalchemy.orm import Session

    from accessctl.audit import iter_events
    from accessctl.output import Column, render

    with handled_errors():
        engine = app_context(ctx).engine()
        with Session(engine) as session:
            rows = list(deque(iter_events(session, since=since), maxlen=limit))
    columns = [  # at the terminal's width: time, action and outcome first, the target as room allows
        Column("seq", right=True, keep=True),
        Column("occurred_at", "time (UTC)", keep=True, fmt=lambda v: str(v or "")[:19].replace("T", " ")),
        Column("actor", priority=4, min_width=10),
        Column("action", keep=True),
        Column("target_type", "target type", priority=6),
        Column("target_id", "target", priority=3, min_width=12),
        Column("provider", priority=5),
        Column("outcome", priority=2),
    ]
    render(rows, columns, fmt, title="Audit events")
