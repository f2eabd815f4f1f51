"""`accessctl deprovision`, `lockout`, `revoke`, `restore`: thin over accessctl.lifecycle.

Each builds its plan and prints it; ``--dry-run`` stops there.  Otherwise it asks for confirmation on
a terminal (unless ``--yes``), queues exactly that plan as a job, and runs it here with the worker's
own code, showing per-provider progress, then a result table; ``--no-wait`` only queues it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from accessctl import exitcodes
from accessctl.commands.common import app_context, fail
from accessctl.output import Column, table_lines, terminal_width

if TYPE_CHECKING:
    from accessctl.jobs import JobStatus
    from accessctl.lifecycle import Plan

PersonArg = Annotated[str, typer.Argument(help="The person: an email or an employee id.", show_default=False)]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the plan; change nothing, queue nothing.")]
Reason = Annotated[str, typer.Option("--reason", help="Why (kept with the job and in the audit log).")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation on a terminal.")]
NoWait = Annotated[bool, typer.Option("--no-wait", help="Only queue the job and print its id.")]
By = Annotated[str, typer.Option("--by", help="Who asks (recorded as the job's requester and audited).")]

PLAN_COLUMNS = [
    Column("provider", keep=True, priority=0),
    Column("step", keep=True, priority=1),
    Column("target", priority=2, min_width=12),
    Column("expected_effect", "expected effect", priority=3, min_width=16),
    Column("account", wide_only=True),
]
RESULT_COLUMNS = [
    Column("provider", keep=True, priority=0),
    Column("step", keep=True, priority=1),
    Column("state", keep=True, priority=2),
    Column("result", priority=4),
    Column("answer", priority=3, min_width=16),
    Column("target", priority=5, min_width=12),
]


def _echo_lines(lines: Any) -> None:
    for line in lines:
        typer.echo(line)


def print_plan(plan: Plan) -> None:
    who = plan.person
    runnable = len(plan.runnable)
    title = f"{plan.kind} plan for {who.email} ({who.employee_id}): {runnable} steps to run"
    _echo_lines(
        table_lines(plan.rows(), PLAN_COLUMNS, width=terminal_width(), title=title, empty="(no steps)")
    )
    for note in plan.notes:
        typer.echo(f"note: {note}")


def _result_rows(status: JobStatus) -> list[dict[str, Any]]:
    from accessctl.lifecycle.plan import describe_target

    return [
        {
            "provider": s.provider,
            "step": s.action,
            "state": s.state,
            "result": s.result if s.state != "skipped" else "",
            "answer": s.last_answer or (s.result if s.state == "skipped" else ""),
            "target": describe_target(s.action, s.target),
        }
        for s in sorted(status.steps, key=lambda s: (s.provider, s.seq))
    ]


class LiveProgress:
    """Live per-provider progress: steps settled of steps planned, and the step running now."""

    def __init__(self, bars: Any) -> None:
        self.bars = bars
        self.tasks: dict[str, Any] = {}

    def __call__(self, status: JobStatus) -> None:
        by_provider: dict[str, list[Any]] = {}
        for step in status.steps:
            by_provider.setdefault(step.provider, []).append(step)
        for provider, steps in sorted(by_provider.items()):
            settled = sum(s.state in ("done", "skipped", "failed", "cancelled") for s in steps)
            running = next((s.action for s in steps if s.state in ("running", "pending")), "")
            failed = next((s.action for s in steps if s.state == "failed"), None)
            now = f"failed at {failed}" if failed else running or "done"
            if provider not in self.tasks:
                self.tasks[provider] = self.bars.add_task(provider, total=len(steps), now=now)
            self.bars.update(self.tasks[provider], completed=settled, now=now)


def _run_and_report(context: Any, job_id: int) -> int:
    import asyncio

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from accessctl.lifecycle import JobTimeout, run_job, step_executor

    engine = context.engine()
    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]{task.description:<7}"),
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TextColumn("{task.fields[now]}"),
        console=console,
        transient=not console.is_terminal,
    ) as bars:
        progress = LiveProgress(bars)

        async def go() -> JobStatus:
            async with step_executor(context.settings, engine=engine) as execute:
                return await run_job(engine, job_id, execute=execute, on_progress=progress)

        try:
            status = asyncio.run(go())
        except JobTimeout as exc:
            raise fail(
                f"{exc}: `accessctl worker` runs it; `accessctl jobs show {job_id}`", exitcodes.FAILED
            ) from None
    title = f"job {job_id}: {status.state}"
    _echo_lines(table_lines(_result_rows(status), RESULT_COLUMNS, width=terminal_width(), title=title))
    if status.state == "done":
        return exitcodes.OK
    if status.state == "failed":
        typer.echo(f"job {job_id} failed: `accessctl jobs retry {job_id}` resumes it from the failed step")
        return exitcodes.JOB_FAILED
    return exitcodes.FAILED


def _confirm(plan: Plan, yes: bool) -> None:
    if yes or not sys.stdin.isatty() or not plan.runnable:
        return
    providers = ", ".join(sorted({s.provider for s in plan.runnable}))
    question = f"Run this {plan.kind} of {plan.person.email}: {len(plan.runnable)} steps in {providers}?"
    if not typer.confirm(question, default=False):
        raise fail("not confirmed: nothing queued", exitcodes.FAILED)


def run_use_case(
    ctx: typer.Context,
    build: Callable[[Any, Any], Any],
    *,
    requested_by: str,
    reason: str,
    dry_run: bool,
    yes: bool,
    no_wait: bool,
    after_submit: Callable[[Any, Any], None] | None = None,
) -> None:
    """Plan (``build(settings, engine)`` returns a Plan), print, confirm, queue, run, report.
    ``after_submit(session, submitted)`` runs in the job's transaction."""
    import asyncio

    from sqlalchemy.orm import Session

    from accessctl.lifecycle import LifecycleError, submit

    context = app_context(ctx)
    settings = context.settings
    engine = context.engine()
    try:
        plan = asyncio.run(build(settings, engine))
    except LifecycleError as exc:
        raise fail(str(exc), exc.exit_code) from None
    print_plan(plan)
    if dry_run:
        typer.echo("dry run: nothing was queued or changed")
        return
    _confirm(plan, yes)
    with Session(engine) as session:
        submitted = submit(session, plan, settings=settings, requested_by=requested_by, reason=reason)
        if after_submit is not None:
            after_submit(session, submitted)
        session.commit()
    job_id = submitted.job_id
    if submitted.state == "quarantined":
        typer.echo(f"job {job_id} is quarantined: {submitted.quarantine_reason}")
        typer.echo(f"nothing runs until `accessctl quarantine release {job_id} --by NAME` (or reject)")
        raise typer.Exit(exitcodes.QUARANTINED)
    if no_wait or submitted.state == "done":
        typer.echo(
            f"job {job_id} queued" if submitted.state != "done" else f"job {job_id}: done, nothing to run"
        )
        return
    raise typer.Exit(_run_and_report(context, job_id))


def _requester(by: str | None) -> str:
    import getpass

    if by:
        return by
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def deprovision(
    ctx: typer.Context,
    person: PersonArg,
    dry_run: DryRun = False,
    reason: Reason = "",
    yes: Yes = False,
    no_wait: NoWait = False,
    by: Annotated[str | None, typer.Option("--by", help="Who asks (default: cli:<your user>).")] = None,
) -> None:
    """Leaver: block sign-in, revoke sessions and tokens, remove direct grants, verify, in every provider."""

    async def build(settings: Any, engine: Any) -> Plan:
        from accessctl.lifecycle import plan_leaver

        return await plan_leaver(settings, engine, person=person)

    run_use_case(
        ctx, build, requested_by=_requester(by), reason=reason, dry_run=dry_run, yes=yes, no_wait=no_wait
    )


def lockout(
    ctx: typer.Context,
    person: PersonArg,
    include_protected: Annotated[
        bool, typer.Option("--include-protected", help="Also lock protected accounts (break-glass).")
    ] = False,
    dry_run: DryRun = False,
    reason: Reason = "",
    yes: Yes = False,
    no_wait: NoWait = False,
    by: Annotated[str | None, typer.Option("--by", help="Who asks (default: cli:<your user>).")] = None,
) -> None:
    """Incident response: block sign-in, revoke sessions, verify, everywhere, now (grants stay)."""

    async def build(settings: Any, engine: Any) -> Plan:
        from accessctl.lifecycle import plan_leaver

        return await plan_leaver(
            settings, engine, person=person, kind="lockout", include_protected=include_protected
        )

    run_use_case(
        ctx, build, requested_by=_requester(by), reason=reason, dry_run=dry_run, yes=yes, no_wait=no_wait
    )


def revoke(
    ctx: typer.Context,
    person: PersonArg,
    entitlement: Annotated[
        str,
        typer.Argument(help="provider:kind:name-or-id, e.g. okta:group:aws-prod-admins.", show_default=False),
    ],
    via: Annotated[
        str | None, typer.Option("--via", help="Remove the membership of this group, which confers it.")
    ] = None,
    dry_run: DryRun = False,
    reason: Reason = "",
    yes: Yes = False,
    no_wait: NoWait = False,
    by: Annotated[str | None, typer.Option("--by", help="Who asks (default: cli:<your user>).")] = None,
) -> None:
    """Remove one grant of one person (one held through a group: with --via GROUP)."""

    async def build(settings: Any, engine: Any) -> Plan:
        from accessctl.lifecycle import plan_revoke
        from accessctl.lifecycle.connections import open_connectors

        async with open_connectors(settings) as connectors:
            return await plan_revoke(
                settings, engine, connectors, person=person, entitlement=entitlement, via=via
            )

    run_use_case(
        ctx, build, requested_by=_requester(by), reason=reason, dry_run=dry_run, yes=yes, no_wait=no_wait
    )


def restore(
    ctx: typer.Context,
    person: PersonArg,
    by: Annotated[str, typer.Option("--by", help="Who approved the restore (audited).", show_default=False)],
    dry_run: DryRun = False,
    reason: Reason = "",
    yes: Yes = False,
    no_wait: NoWait = False,
) -> None:
    """Rehire or mistake: re-enable the accounts and re-add the grants the last leaver removed."""

    async def build(settings: Any, engine: Any) -> Plan:
        from accessctl.lifecycle import plan_restore

        return await plan_restore(settings, engine, person=person)

    def settle_hr(session: Any, submitted: Any) -> None:
        from accessctl.hr.store import settle_admin_restores
        from accessctl.sync import clock

        settled = settle_admin_restores(
            session.connection(),
            submitted.plan.person.id,
            job_id=submitted.job_id,
            by=by,
            now=clock.now(),
        )
        if settled:
            events = ", ".join(str(e) for e in settled)
            typer.echo(
                f"HR event {events} (a rehire queued for an admin): restored by job {submitted.job_id}"
            )

    if not by.strip():
        raise fail("--by NAME: say who approved the restore", exitcodes.USAGE)
    run_use_case(
        ctx,
        build,
        requested_by=by,
        reason=reason,
        dry_run=dry_run,
        yes=yes,
        no_wait=no_wait,
        after_submit=settle_hr,
    )
