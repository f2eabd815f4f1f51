"""`accessctl hr`: the HR roster, and what HR events are waiting on."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from accessctl import exitcodes
from accessctl.commands.common import app_context, fail, handled_errors
from accessctl.output import Column, OutputFormat, grouped_lines, render

if TYPE_CHECKING:
    from accessctl.hr.reconcile import ReconcileReport

app = typer.Typer(
    help="The HR roster, HR sources and their events, and the nightly reconciliation.",
    no_args_is_help=True,
)


IMPORT_HELP = (
    "Import the HR roster (CSV); a bad row is named and nothing is written.\n\n"
    "HR events that named no known person are then matched again (a termination's leaver "
    "starts)."
)


@app.command("import", help=IMPORT_HELP)
def import_(
    ctx: typer.Context,
    path: Annotated[
        Path | None, typer.Argument(help="Roster CSV (default: hr.roster_file from the config).")
    ] = None,
) -> None:
    """Import the HR roster (CSV); a bad row is named and nothing is written."""
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


SOURCES_HELP = (
    "The configured HR sources: kind, secret set, last event, events stored.\n\n"
    "The secret itself is never shown. Then the refusals the running service counted since it "
    "started (read from its /metrics: refused events are never stored)."
)


@app.command("sources", help=SOURCES_HELP)
def sources(
    ctx: typer.Context,
    fmt: FormatOption = OutputFormat.TABLE,
    url: Annotated[
        str | None,
        typer.Option("--url", help="The running service, for its rejection counts (default: web.base_url)."),
    ] = None,
) -> None:
    """The configured HR sources: kind, secret set, last event, events stored."""
    from accessctl.hr.queries import source_rows

    with handled_errors():
        context = app_context(ctx)
        engine = context.engine()
        with engine.connect() as conn:
            rows = source_rows(conn, context.settings.hr)
        base = url or context.settings.web.base_url
    if fmt is not OutputFormat.TABLE:
        render(rows, SOURCE_COLUMNS, fmt)
        return
    if not rows:
        typer.echo("HR sources: none (add [hr.sources.NAME] to the config; see config.example.toml)")
    else:
        render(rows, SOURCE_COLUMNS, fmt, title="HR sources")
    typer.echo(_rejections_line(base))


SOURCE_COLUMNS = [
    Column("source", keep=True),
    Column("vendor", "kind", keep=True),
    Column("secret", keep=True),
    Column("secret_from", "from", priority=2, min_width=8),
    Column("last_event", "last event (UTC)", keep=True, fmt=_when),
    Column("accepted", "stored", right=True, keep=True),
    Column("unmatched", right=True, priority=1),
]


def _rejections_line(base: str) -> str:
    """The service's refusals by reason (they are counted, never stored), or why they are unknown."""
    import httpx

    from accessctl.hr.ops import rejection_counts

    try:
        counts = rejection_counts(base)
    except (httpx.HTTPError, ValueError) as exc:
        return f"rejected: unknown ({base}/metrics did not answer: {type(exc).__name__})"
    if not counts:
        return f"rejected: none since the service at {base} started"
    total = sum(counts.values())
    by_reason = ", ".join(f"{n} {reason}" for reason, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    return f"rejected since the service started: {total} ({by_reason})"


@app.command("events")
def events(
    ctx: typer.Context,
    person: Annotated[
        str | None, typer.Option("--person", help="Only this employee id or email.", show_default=False)
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Only events in this status: received, matched, unmatched, scheduled, applied, "
            "cancelled, superseded.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000, help="At most this many.")] = 50,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Recent HR events, newest first, with their status and the job each started."""
    from accessctl.hr.decide import Status
    from accessctl.hr.queries import recent_events

    if status is not None and status not in {s.value for s in Status}:
        known = ", ".join(s.value for s in Status)
        raise fail(f"unknown status {status!r}: one of {known}", exitcodes.USAGE)
    with handled_errors():
        engine = app_context(ctx).engine()
        with engine.connect() as conn:
            rows = recent_events(conn, person=person, status=status, limit=limit)
    for row in rows:
        row["job_text"] = "" if row["job"] is None else f"{row['job']} {row['job_state'] or ''}".strip()
    if not rows and fmt is OutputFormat.TABLE:
        typer.echo("HR events: none")
        return
    columns = [
        Column("event", right=True, keep=True),
        Column("received_at", "received (UTC)", keep=True, fmt=_when),
        Column("source", priority=4),
        Column("type", keep=True, fmt=lambda v: str(v).removeprefix("employee.")),
        Column("employee_id", "employee", keep=True),
        Column("status", keep=True),
        Column("job_text", "job", priority=1, min_width=6),
        Column("email", priority=3, min_width=12),
        Column("note", priority=5, min_width=12),
    ]
    if fmt is not OutputFormat.TABLE:
        for row in rows:
            del row["job_text"]
        columns = [c for c in columns if c.key != "job_text"] + [Column("job"), Column("job_state")]
    render(rows, columns, fmt, title="HR events (newest first)")


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


RECONCILE_HELP = (
    "A leaver for each person HR says left who still has access.\n\n"
    "Still has access: an active account, or a grant the leaver removes, in a provider (as "
    "the last sync saw it, then confirmed live). A person whose leaver job is still to run is "
    "left to it; protected accounts are skipped; the blast-radius guard may quarantine the "
    "jobs. `accessctl serve` runs this on hr.reconcile_schedule."
)


@app.command("reconcile", help=RECONCILE_HELP)
def reconcile(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say who would get a leaver and why; queue nothing.")
    ] = False,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """A leaver for each person HR says left who still has access."""
    import asyncio

    from accessctl.hr.reconcile import run_reconcile
    from accessctl.store.locks import LockBusy

    with handled_errors():
        context = app_context(ctx)
        engine = context.engine()
        try:
            report = asyncio.run(run_reconcile(context.settings, engine, dry_run=dry_run))
        except LockBusy as busy:
            raise fail(f"an HR reconciliation is already running: {busy}", exitcodes.BUSY) from None
    if fmt is not OutputFormat.TABLE:
        rows = [o.row() for o in report.outcomes]
        keys = ["employee_id", "email", "action", "job", "why", "detail"]
        if fmt is OutputFormat.JSON:  # per account, structured (CSV has the one-line "why")
            keys.append("accounts")
        render(rows, [Column(k) for k in keys], fmt)
    else:
        _echo_lines(_reconcile_lines(report))
    if report.count("error"):
        raise typer.Exit(exitcodes.PROVIDER)
    if report.count("quarantined"):
        raise typer.Exit(exitcodes.QUARANTINED)


SEND_TEST_EVENT_HELP = (
    "POST a signed example event to a running service, to check a source's setup.\n\n"
    "It is signed with the source's Standard Webhooks secret. By default it is an update for "
    'an employee no one has: stored as "unmatched", it changes no one\'s access.'
)


def _grants(names: list[str]) -> str:
    return f"{len(names)}: {', '.join(names)}" if names else "0"


RESIDUE_COLUMNS = [
    Column("provider", keep=True),
    Column("login", "account", priority=0, min_width=12),
    Column("active", keep=True, fmt=lambda v: "yes" if v else "no"),
    Column("grants", "grants it still holds", priority=1, min_width=12, fmt=_grants),
]


def _reconcile_lines(report: ReconcileReport) -> Iterator[str]:
    """Per person: who, what was done (or would be), then each account's residue."""
    title = (
        f"HR reconcile{' (dry run)' if report.dry_run else ''}: {report.checked} terminated people checked"
    )
    if not report.outcomes:
        yield f"{title}; none still has access"
    else:
        sections = []
        for o in report.outcomes:
            done = o.action + (f" (job {o.job_id})" if o.job_id is not None else "")
            heading = [f"{o.employee_id}  {o.email}: {done}"]
            if o.detail:
                heading.append(f"  {o.detail}")
            sections.append((heading, [asdict(item) for item in o.items]))
        yield from grouped_lines(sections, RESIDUE_COLUMNS, title=title)
    if report.dry_run:
        yield "dry run: nothing was queued"


def _echo_lines(lines: Iterable[str]) -> None:
    for line in lines:
        typer.echo(line)


@app.command("send-test-event", help=SEND_TEST_EVENT_HELP)
def send_test_event(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Option("--source", help="The HR source (hr.sources.NAME) whose secret signs it.")
    ],
    url: Annotated[
        str | None,
        typer.Option("--url", help="The service (default: web.base_url); /v1/hr/events is added."),
    ] = None,
    type_: Annotated[
        str,
        typer.Option("--type", help="The event type; a termination only when asked for by name."),
    ] = "employee.updated",
    employee_id: Annotated[
        str, typer.Option("--employee-id", help="Whom it is about (default: a test id no one has).")
    ] = "accessctl-test-unmatched",
    email: Annotated[
        str | None, typer.Option("--email", help="Their email (default: <employee-id>@example.invalid).")
    ] = None,
) -> None:
    """POST a signed example event to a running service, to check a source's setup."""
    from accessctl.hr.ops import SendFailed, build_test_event, post_event

    with handled_errors():
        settings = app_context(ctx).settings
        try:
            raw, headers = build_test_event(
                settings.hr, source=source, type_=type_, employee_id=employee_id, email=email
            )
        except ValueError as exc:
            raise fail(str(exc), exitcodes.USAGE) from None
        target = url or settings.web.base_url
        try:
            answer = post_event(target, raw, headers)
        except SendFailed as exc:
            raise fail(str(exc), exc.exit_code) from None
    typer.echo(answer)
