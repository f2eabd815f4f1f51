"""`accessctl jobs list|show|retry|cancel`: the durable jobs and what each step did."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Annotated, Any

import typer

from accessctl import exitcodes
from accessctl.commands.common import app_context, fail, handled_errors
from accessctl.output import Column, OutputFormat, render, table_lines, terminal_width

app = typer.Typer(help="Durable jobs: list, show per-step progress, retry, cancel.", no_args_is_help=True)

FormatOption = Annotated[OutputFormat, typer.Option("--format", help="table, json or csv.")]
JobIdArgument = Annotated[
    int, typer.Argument(min=1, metavar="ID", help="The job's id (`accessctl jobs list`).")
]
STATES = ("pending", "running", "done", "failed", "cancelled", "quarantined")


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d %H:%M}" if value else ""


def _target(value: Any) -> str:
    if isinstance(value, Mapping):
        return " ".join(f"{k}={v}" for k, v in value.items())
    return str(value or "")


JOB_COLUMNS = [
    Column("id", keep=True, priority=0, right=True),
    Column("kind", priority=2),
    Column("state", keep=True, priority=1),
    Column("progress", priority=3, right=True),
    Column("person", priority=4, min_width=12),
    Column("created_at", "created (UTC)", priority=5, fmt=_when),
    Column("requested_by", "requested by", priority=6, min_width=10),
    Column("reason", priority=7, min_width=10),
    Column("finished_at", "finished", wide_only=True, fmt=_when),
]

STEP_COLUMNS = [
    Column("provider", keep=True, priority=0),
    Column("seq", "#", priority=1, right=True),
    Column("action", keep=True, priority=2),
    Column("state", keep=True, priority=3),
    Column("tries", priority=4, right=True),
    Column("answer", priority=5, min_width=16),
    Column("target", priority=6, min_width=12, fmt=_target),
]


@app.command("list")
def list_(
    ctx: typer.Context,
    state: Annotated[
        str | None, typer.Option("--state", help=f"Only jobs in this state: {', '.join(STATES)}.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=10000, help="At most this many, newest first.")
    ] = 50,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Jobs, newest first: kind, state, steps done of all, the person, who asked."""
    from accessctl.jobs import list_jobs

    if state is not None and state not in STATES:
        raise fail(f"--state {state!r}: one of {', '.join(STATES)}", exitcodes.USAGE)
    with handled_errors():
        engine = app_context(ctx).engine()
        with engine.connect() as conn:
            jobs = list_jobs(conn, state=state, limit=limit)
    rows = [
        {**asdict(j), "progress": "not planned yet" if j.state == "planning" else f"{j.steps_done}/{j.steps}"}
        for j in jobs
    ]
    title = f"Jobs ({len(rows)}{', ' + state if state else ''}; newest first)"
    render(rows, JOB_COLUMNS, fmt, title=title)


def _status(ctx: typer.Context, job_id: int) -> tuple[Any, str | None]:
    from accessctl.jobs import get_job
    from accessctl.jobs.listing import person_email

    with handled_errors():
        engine = app_context(ctx).engine()
        with engine.connect() as conn:
            status = get_job(conn, job_id)
            email = person_email(conn, status.person_id) if status is not None else None
    if status is None:
        raise fail(f"no job {job_id} (`accessctl jobs list` shows them)", exitcodes.NOT_FOUND)
    return status, email


@app.command("show")
def show(ctx: typer.Context, job_id: JobIdArgument, fmt: FormatOption = OutputFormat.TABLE) -> None:
    """One job and each step: provider, action, target, state, attempts, the provider's last answer."""
    status, email = _status(ctx, job_id)
    steps = [
        {
            **asdict(step),
            "tries": f"{step.attempts}/{step.max_attempts}",
            "answer": step.last_answer or step.result or "",
        }
        for step in status.steps
    ]
    if fmt is OutputFormat.JSON:
        import json

        typer.echo(json.dumps({**asdict(status), "person": email}, indent=2, default=str))
        return
    if fmt is OutputFormat.CSV:
        render(steps, STEP_COLUMNS, fmt)
        return
    done = sum(1 for s in status.steps if s.state in ("done", "skipped"))
    lines = [
        f"Job {status.id}: {status.kind}{' (dry run)' if status.dry_run else ''}, {status.state}, "
        f"{done}/{len(status.steps)} steps done",
        f"  person: {email or (f'#{status.person_id}' if status.person_id else '-')}",
        f"  requested by {status.requested_by} at {_when(status.created_at)} UTC",
    ]
    if status.reason:
        lines.append(f"  reason: {status.reason}")
    if status.finished_at:
        lines.append(f"  finished at {_when(status.finished_at)} UTC")
    if status.state == "failed":
        lines.append(f"  `accessctl jobs retry {status.id}` resumes it from its failed steps")
    lines.append("")
    empty = "(no steps yet: a worker plans them first)" if status.state == "planning" else "(no steps)"
    lines += table_lines(steps, STEP_COLUMNS, width=terminal_width(), empty=empty)
    failed = [s for s in status.steps if s.state == "failed" and s.last_answer]
    if failed:
        lines.append("")
        import textwrap

        width = terminal_width() or 80
        for step in failed:
            said = f"{step.provider} #{step.seq} {step.action} failed: {step.last_answer}"
            lines += textwrap.wrap(said, width=width, subsequent_indent="  ")
    typer.echo("\n".join(lines))


@app.command("retry")
def retry(ctx: typer.Context, job_id: JobIdArgument) -> None:
    """Resume a failed job from its failed steps (their attempts start again)."""
    from accessctl.commands.actor import cli_actor
    from accessctl.jobs import JobNotFound, JobStateError, retry_job
    from accessctl.sync import clock

    with handled_errors():
        engine = app_context(ctx).engine()
        try:
            count = retry_job(engine, job_id, by=cli_actor(), now=clock.now())
        except JobNotFound:
            raise fail(f"no job {job_id} (`accessctl jobs list` shows them)", exitcodes.NOT_FOUND) from None
        except JobStateError as exc:
            raise fail(str(exc), exitcodes.FAILED) from None
    typer.echo(f"job {job_id}: {count} failed step(s) pending again; a worker (`accessctl serve`) runs them")


@app.command("cancel")
def cancel(
    ctx: typer.Context,
    job_id: JobIdArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit log).")] = "",
) -> None:
    """Cancel a job that has not finished: its pending steps never run (a running one finishes)."""
    from accessctl.commands.actor import cli_actor
    from accessctl.jobs import JobNotFound, JobStateError, cancel_job
    from accessctl.sync import clock

    with handled_errors():
        engine = app_context(ctx).engine()
        try:
            count = cancel_job(engine, job_id, by=cli_actor(), reason=reason, now=clock.now())
        except JobNotFound:
            raise fail(f"no job {job_id} (`accessctl jobs list` shows them)", exitcodes.NOT_FOUND) from None
        except JobStateError as exc:
            raise fail(str(exc), exitcodes.FAILED) from None
    typer.echo(f"job {job_id} cancelled; {count} pending step(s) will not run")
