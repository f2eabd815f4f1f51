"""`accessctl quarantine list|release|reject`: the jobs the blast-radius guard holds."""

from __future__ import annotations

from typing import Annotated

import typer

from accessctl.commands.common import app_context, fail
from accessctl.output import Column, table_lines, terminal_width

app = typer.Typer(
    help="Jobs the blast-radius guard holds: list, release or reject them.", no_args_is_help=True
)

JobId = Annotated[
    int, typer.Argument(help="The job's id (see `accessctl quarantine list`).", show_default=False)
]
By = Annotated[str, typer.Option("--by", help="Who decides (audited).", show_default=False)]

COLUMNS = [
    Column("id", keep=True, right=True, priority=0),
    Column("kind", priority=2),
    Column("person", keep=True, priority=1),
    Column("requested_by", "requested by", priority=3),
    Column("created", priority=4),
    Column("reason", priority=5, min_width=12),
]


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """The quarantined jobs, oldest first."""
    from accessctl.lifecycle import list_quarantined

    jobs = list_quarantined(app_context(ctx).engine())
    rows = [
        {
            "id": j.id,
            "kind": j.kind,
            "person": j.person or "",
            "requested_by": j.requested_by,
            "created": str(j.created_at)[:16],
            "reason": j.reason,
        }
        for j in jobs
    ]
    title = f"quarantined jobs ({len(rows)})"
    for line in table_lines(rows, COLUMNS, width=terminal_width(), title=title):
        typer.echo(line)


@app.command()
def release(ctx: typer.Context, job_id: JobId, by: By) -> None:
    """Let a quarantined job run (with guard.two_person, someone other than its requester)."""
    from accessctl.lifecycle import LifecycleError
    from accessctl.lifecycle import release as release_job

    context = app_context(ctx)
    try:
        state = release_job(context.settings, context.engine(), job_id, by=by)
    except LifecycleError as exc:
        raise fail(str(exc), exc.exit_code) from None
    typer.echo(f"job {job_id} released by {by}: {state}; a worker (or `accessctl worker`) runs it")


@app.command()
def reject(
    ctx: typer.Context,
    job_id: JobId,
    by: By,
    reason: Annotated[str, typer.Option("--reason", help="Why (audited).")] = "",
) -> None:
    """Cancel a quarantined job: none of its steps run."""
    from accessctl.lifecycle import LifecycleError
    from accessctl.lifecycle import reject as reject_job

    try:
        cancelled = reject_job(app_context(ctx).engine(), job_id, by=by, reason=reason)
    except LifecycleError as exc:
        raise fail(str(exc), exc.exit_code) from None
    typer.echo(f"job {job_id} rejected by {by}: {cancelled} steps will not run")
