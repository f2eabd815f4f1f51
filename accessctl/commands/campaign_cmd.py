"""`accessctl campaign`: start, list, show, remind and close review campaigns; movers' campaigns."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from accessctl import exitcodes
from accessctl.commands.common import app_context, fail, handled_errors

if TYPE_CHECKING:
    from accessctl.reviews.mailing import Mailing, MailRun
    from accessctl.settings import Settings

app = typer.Typer(
    help="Review campaigns: who can reach what, confirmed or revoked by managers.", no_args_is_help=True
)

CampaignId = Annotated[int, typer.Argument(help="The campaign's id (see `accessctl campaign list`).", min=1)]


def _now() -> datetime:
    from datetime import UTC

    return datetime.now(UTC)


@contextmanager
def _review_errors() -> Iterator[None]:
    """A campaign or item that does not exist, or a refused request: one line, exit 2."""
    from accessctl.reviews.errors import ReviewError

    try:
        with handled_errors():
            yield
    except ReviewError as exc:
        raise fail(str(exc), exitcodes.USAGE) from None


def _when(value: datetime | None, zone: str) -> str:
    if value is None:
        return ""
    from zoneinfo import ZoneInfo

    from accessctl.timestamps import utc

    return utc(value).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


@contextmanager
def _mailing(settings: Settings) -> Iterator[Mailing]:
    from accessctl.reviews.mailing import open_mailing

    with open_mailing(settings) as mailing:
        yield mailing


def _say_mail(run: MailRun) -> None:
    from collections import Counter

    sent = Counter(kind for kind, _ in run.sent)
    parts = [f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in sorted(sent.items())]
    typer.echo(f"emails sent: {', '.join(parts) if parts else 'none'}")
    for kind, to, error in run.failed:
        typer.secho(f"  ✗ {kind} to {to} failed:", fg=typer.colors.RED, err=True)
        typer.echo(f"    {error}", err=True)
    if run.failed:
        typer.echo("  (failed emails are tried again by `accessctl campaign remind ID`)", err=True)


@app.command("start")
def start(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A campaign named in [[reviews.campaigns]].")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what it would snapshot; write and send nothing.")
    ] = False,
    no_email: Annotated[
        bool, typer.Option("--no-email", help="Start it, but send the invitations later (remind).")
    ] = False,
) -> None:
    """Snapshot the scope's grants into a new campaign and email each reviewer their link."""

    from accessctl.output import Column
    from accessctl.reviews.campaigns import start_campaign
    from accessctl.reviews.mailing import send_invitations

    context = app_context(ctx)
    with _review_errors():
        settings = context.settings
        campaign = settings.reviews.campaign(name)
        if campaign is None:
            known = ", ".join(c.name for c in settings.reviews.campaigns) or "none is configured"
            raise fail(
                f"no campaign named {name!r} in [[reviews.campaigns]] (known: {known})", exitcodes.USAGE
            )
        engine = context.engine()
        now = _now()
        with engine.begin() as conn:
            result = start_campaign(conn, campaign, actor="cli", now=now, dry_run=dry_run, keep_items=False)
    zone = settings.reviews.zone_of(campaign)
    what = "would snapshot" if dry_run else f"campaign {result.campaign_id} started:"
    counts = f"{result.count} items, {len(result.tallies)} reviewers, {result.flagged} flagged"
    typer.echo(f"{name}: {what} {counts}")
    typer.echo(f"  due {_when(result.due_at, zone)} ({zone})")
    if result.skipped_certified:
        typer.echo(
            f"  {result.skipped_certified} grants certified in campaign "
            f"{result.baseline_campaign_id} left out"
        )
    rows = [
        {"reviewer": email, "items": t.items, "flagged": t.flagged, "why": t.reviewer.reason}
        for email, t in sorted(result.tallies.items())
    ]
    columns = [
        Column("reviewer", keep=True),
        Column("items", right=True, keep=True),
        Column("flagged", right=True, keep=True),
        Column("why", header="why (first item)", min_width=12),
    ]
    _table(rows, columns, empty="(no grants in scope)")
    if dry_run:
        typer.echo("dry run: nothing written, no email sent")
        return
    if no_email or not result.count:
        return
    assert result.campaign_id is not None
    with _review_errors(), _mailing(settings) as mailing:
        _say_mail(send_invitations(engine, result.campaign_id, mailing, now=now))


@app.command("list")
def list_(ctx: typer.Context) -> None:
    """Every campaign, newest first, with its progress."""
    from accessctl.output import Column
    from accessctl.reviews.campaigns import list_campaigns

    context = app_context(ctx)
    with _review_errors():
        zone = context.settings.reviews.timezone
        with context.engine().connect() as conn:
            rows = list_campaigns(conn)
    fmt = lambda v: _when(v, zone)  # noqa: E731
    columns = [
        Column("id", right=True, keep=True),
        Column("name", keep=True),
        Column("status", keep=True),
        Column("started_at", "started", fmt=fmt, priority=2),
        Column("due_at", "due", fmt=fmt, keep=True),
        Column("items", right=True, priority=1),
        Column("decided", right=True, priority=1),
        Column("reviewers", right=True, priority=3),
    ]
    _table(rows, columns, title=f"Campaigns (times in {zone})", empty="(no campaigns yet)")


@app.command("show")
def show(ctx: typer.Context, campaign_id: CampaignId) -> None:
    """One campaign: progress per reviewer, and every email sent or failed."""
    from accessctl.output import Column
    from accessctl.reviews.campaigns import campaign_detail

    context = app_context(ctx)
    with _review_errors():
        zone = context.settings.reviews.timezone
        with context.engine().connect() as conn:
            detail = campaign_detail(conn, campaign_id)
    fmt = lambda v: _when(v, zone)  # noqa: E731
    typer.echo(f"Campaign {detail.id} {detail.name!r}: {detail.status}, owner {detail.owner}")
    typer.echo(f"  started {fmt(detail.started_at)}, due {fmt(detail.due_at)} ({zone})")
    if detail.closed_at:
        typer.echo(f"  closed {fmt(detail.closed_at)}")
    typer.echo(
        f"  {detail.decided} of {detail.items} items decided; "
        f"undecided at close: {detail.config.get('undecided')}"
    )
    typer.echo("")
    rows = [
        {
            "reviewer": r.email,
            "progress": f"{r.decided}/{r.items}",
            "flagged": r.flagged,
            "invited": r.invited_at,
            "reminded": r.last_reminded_at,
            "escalated": r.escalated_at,
        }
        for r in detail.reviewers
    ]
    columns = [
        Column("reviewer", keep=True),
        Column("progress", right=True, keep=True),
        Column("flagged", right=True, priority=1),
        Column("invited", fmt=fmt, priority=2),
        Column("reminded", fmt=fmt, priority=4),
        Column("escalated", fmt=fmt, priority=3),
    ]
    _table(rows, columns, title="Reviewers", empty="(no reviewers)")
    typer.echo("")
    sent = sum(1 for s in detail.sends if s["status"] == "sent")
    typer.echo(f"Emails: {sent} sent, {len(detail.failed_sends)} failed")
    if detail.failed_sends:
        columns = [
            Column("kind", keep=True),
            Column("recipient", keep=True),
            Column("attempts", "tries", right=True, keep=True),
            Column("error", min_width=10),
        ]
        _table(detail.failed_sends, columns)


@app.command("remind")
def remind(ctx: typer.Context, campaign_id: CampaignId) -> None:
    """Send what is due now: invitations, reminders and escalations.

    Invitations not yet delivered; reminders at the cadence (only to reviewers with open items);
    escalations to the managers of overdue reviewers."""
    from accessctl.reviews.campaigns import get_campaign
    from accessctl.reviews.mailing import send_due_emails

    context = app_context(ctx)
    with _review_errors():
        settings = context.settings
        engine = context.engine()
        with engine.connect() as conn:
            campaign = get_campaign(conn, campaign_id)
        if campaign.status != "open":
            raise fail(f"campaign {campaign_id} is {campaign.status}: nothing to remind", exitcodes.USAGE)
        with _mailing(settings) as mailing:
            run = send_due_emails(engine, campaign_id, mailing, now=_now())
    _say_mail(run)
    if run.failed:
        raise typer.Exit(exitcodes.FAILED)


@app.command("close")
def close(
    ctx: typer.Context,
    campaign_id: CampaignId,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print exactly what closing would do.")] = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Only queue the jobs (`accessctl worker` runs them).")
    ] = False,
) -> None:
    """Close a campaign: revokes become jobs, which run; each outcome is shown.

    The undecided policy is applied, every revoke becomes a deprovisioning job (remove the grant, read
    back), the owner's summary is sent; then the jobs run and each outcome is shown."""
    import asyncio

    from accessctl.lifecycle.connections import open_connectors
    from accessctl.reviews.close import close_campaign

    context = app_context(ctx)
    with _review_errors():
        settings = context.settings
        engine = context.engine()

        async def go() -> Any:
            async with open_connectors(settings) as connectors:
                if dry_run:
                    return await close_campaign(
                        settings,
                        engine,
                        campaign_id,
                        actor="cli",
                        connectors=connectors,
                        now=_now(),
                        dry_run=True,
                    )
                with _mailing(settings) as mailing:
                    return await close_campaign(
                        settings,
                        engine,
                        campaign_id,
                        actor="cli",
                        connectors=connectors,
                        now=_now(),
                        mailing=mailing,
                    )

        result = asyncio.run(go())
    _say_close(result, zone=settings.reviews.timezone)
    impossible = any(r.plan is None for r in result.revokes.values())
    if dry_run or not result.jobs:
        if impossible and not dry_run:
            raise typer.Exit(exitcodes.FAILED)
        return
    if result.quarantine_reason:
        typer.echo(f"quarantined: {result.quarantine_reason}")
        typer.echo("  an admin releases each job: `accessctl quarantine release ID --by NAME`")
        raise typer.Exit(exitcodes.QUARANTINED)
    if no_wait:
        typer.echo(f"{len(result.jobs)} jobs queued; `accessctl worker` runs them")
        return
    with _review_errors():
        outcomes = asyncio.run(_run_remediation(settings, engine, result))
    _say_outcomes(result, outcomes)
    if any(o.startswith("failed") for o in outcomes.values()):
        raise typer.Exit(exitcodes.JOB_FAILED)
    if impossible:
        raise typer.Exit(exitcodes.FAILED)


async def _run_remediation(settings: Settings, engine: Any, result: Any) -> dict[int, str]:
    import asyncio

    from accessctl.lifecycle import run_job, step_executor
    from accessctl.reviews.remediate import record_outcomes

    async with step_executor(settings, engine=engine) as execute:
        for job_id in sorted(set(result.jobs.values())):
            await run_job(engine, job_id, execute=execute)
    return await asyncio.to_thread(record_outcomes, engine, result.campaign_id)


def _say_close(result: Any, *, zone: str) -> None:
    import textwrap

    from accessctl.output import Column

    plan = result.plan
    revoke, keep, escalate = plan.of("revoke"), plan.of("keep"), plan.of("escalate")
    undecided = sum(1 for a in plan.actions if a.why.startswith("undecided"))
    if result.dry_run:
        typer.echo(f"Closing campaign {result.campaign_id} {result.name!r} would (dry run, nothing changed):")
    elif result.closes:
        typer.echo(f"Campaign {result.campaign_id} {result.name!r} closed:")
    else:
        typer.echo(f"Campaign {result.campaign_id} {result.name!r} escalated, still open:")
    typer.echo(f"  undecided items: {undecided}, policy {plan.policy!r}")
    typer.echo(f"  keep {len(keep)}, revoke {len(revoke)}, escalate {len(escalate)}")
    if not result.closes:
        typer.echo(f"  due date moved to {_when(result.due_at, zone)} ({zone}); decided revokes run now")
    if result.quarantine_reason:
        typer.echo(f"  the revocations wait in quarantine: {result.quarantine_reason}")
    typer.echo("")
    rows = []
    for a in revoke:
        planned = result.revokes.get(a.item_id)
        if planned is None:
            does = f"already queued: job {result.earlier_jobs.get(a.item_id)}"
        else:
            does = "not possible (below)" if planned.plan is None else planned.does
        row = _as_row(a) | {
            "does": does,
            "job": result.jobs.get(a.item_id) or result.earlier_jobs.get(a.item_id),
        }
        rows.append(row)
    columns: list[Any] = [
        Column("item_id", "item", right=True, keep=True),
        Column("provider", keep=True),
        Column("login", keep=True),
        Column("entitlement", min_width=10, priority=1),
        Column("does", min_width=14, priority=0),
        Column("why", min_width=10, priority=2),
    ]
    if not result.dry_run:
        columns.insert(1, Column("job", right=True, keep=True))
    _table(rows, columns, title="Revocations (each a job: remove the grant, read back)", empty="(none)")
    impossible = {i: r.problem for i, r in result.revokes.items() if r.plan is None}
    if impossible:
        typer.echo("")
        typer.echo("Not revoked (nothing queued for these):")
        for item_id, problem in sorted(impossible.items()):
            for line in textwrap.wrap(f"item {item_id}: {problem}", 78, subsequent_indent="    "):
                typer.echo(f"  {line}")
    if escalate:
        typer.echo("")
        columns = [
            Column("item_id", "item", right=True, keep=True),
            Column("login", keep=True),
            Column("escalate_to", "to", keep=True),
        ]
        _table(
            [_as_row(a) for a in escalate],
            columns,
            title="Escalations (reassigned to the reviewer's manager)",
        )
    if result.mail is not None:
        _say_mail(result.mail)


def _say_outcomes(result: Any, outcomes: dict[int, str]) -> None:
    from accessctl.output import Column

    by_item = {a.item_id: a for a in result.plan.of("revoke")}
    rows = [
        {"item": i, "login": by_item[i].login, "entitlement": by_item[i].entitlement, "outcome": outcomes[i]}
        for i in sorted(outcomes)
        if i in by_item
    ]
    typer.echo("")
    columns = [
        Column("item", right=True, keep=True),
        Column("login", keep=True),
        Column("entitlement", min_width=10, priority=1),
        Column("outcome", keep=True),
    ]
    _table(rows, columns, title="Outcomes (read back from the provider)")


def _as_row(action: Any) -> dict[str, Any]:
    return {name: getattr(action, name) for name in action.__slots__}


def _table(
    rows: list[dict[str, Any]], columns: list[Any], *, title: str | None = None, empty: str = "(none)"
) -> None:
    """A table fitted to the terminal (80 columns when not one)."""
    from accessctl.output import table_lines, terminal_width

    for line in table_lines(rows, columns, width=terminal_width(), title=title, empty=empty):
        typer.echo(line)


@app.command("reassign")
def reassign(
    ctx: typer.Context,
    item_id: Annotated[
        int, typer.Argument(help="The review item's id (see `campaign close ID --dry-run`).", min=1)
    ],
    to: Annotated[str, typer.Option("--to", help="The new reviewer's email address.")],
) -> None:
    """Hand a review item to another reviewer (recorded on the item and audited)."""
    import sqlalchemy as sa

    from accessctl.reviews.campaigns import ITEMS
    from accessctl.reviews.decide import reassign as reassign_item
    from accessctl.reviews.errors import ItemNotFound

    context = app_context(ctx)
    with _review_errors(), context.engine().begin() as conn:
        current = conn.execute(sa.select(ITEMS.c.reviewer_email).where(ITEMS.c.id == item_id)).scalar()
        if current is None:
            raise ItemNotFound(f"no review item {item_id}")
        reassign_item(conn, item_id=item_id, reviewer_email=current, to_email=to, now=_now(), actor="cli")
    typer.echo(f"review item {item_id}: reassigned from {current} to {to.strip().lower()}")


@app.command("movers")
def movers(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the campaigns it would start; write and send nothing.")
    ] = False,
) -> None:
    """Review each mover's privileged access by their new manager (one-person campaigns).

    Movers come from HR's person.moved and from manager changes seen since the last look; each new
    manager is emailed.  `accessctl serve` does this on every review tick."""
    from accessctl.output import Column
    from accessctl.reviews.movers import run_movers

    context = app_context(ctx)
    with _review_errors():
        settings = context.settings
        engine = context.engine()
        if dry_run:
            run = run_movers(settings, engine, now=_now(), actor="cli", dry_run=True)
        else:
            with _mailing(settings) as mailing:
                run = run_movers(settings, engine, now=_now(), actor="cli", mailing=mailing)
    if run.detected:
        typer.echo(f"manager changes seen: {len(run.detected)}")
    rows = [
        {
            "person": c.email,
            "from": "+".join(c.sources),
            "reviewer": c.reviewer.email if c.reviewer else "",
            "items": c.items,
            "campaign": c.campaign_id or ("(dry run)" if c.items else c.skipped or ""),
        }
        for c in run.campaigns
    ]
    columns = [
        Column("person", keep=True),
        Column("from", priority=2),
        Column("reviewer", keep=True),
        Column("items", right=True, keep=True),
        Column("campaign", min_width=10),
    ]
    _table(rows, columns, title="Movers", empty="(no movers to review)")
    if dry_run:
        typer.echo("dry run: nothing written, no email sent")
        return
    if run.mail is not None:
        _say_mail(run.mail)
        if run.mail.failed:
            raise typer.Exit(exitcodes.FAILED)


@app.command("report")
def report(
    ctx: typer.Context,
    campaign_id: CampaignId,
    fmt: Annotated[
        str, typer.Option("--format", help="json, csv (one row per item) or html (printable).")
    ] = "json",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the pack to this file (default: stdout).")
    ] = None,
) -> None:
    """The evidence pack for auditors (its SHA-256 goes to stderr).

    Scope, every item with reviewer, decision, justification, who and when, remediation job, outcome
    and verification time, coverage, reviewers, the audit event at close."""
    from accessctl.reviews.evidence import FORMATS, build_pack, render, sha256

    if fmt not in FORMATS:
        raise fail(f"--format {fmt!r}: one of {', '.join(FORMATS)}", exitcodes.USAGE)
    context = app_context(ctx)
    with _review_errors():
        engine = context.engine()
        from accessctl.reviews.remediate import record_outcomes

        record_outcomes(engine, campaign_id)  # jobs that finished since
        with engine.connect() as conn:
            data = render(build_pack(conn, campaign_id), fmt)
    if output is None:
        typer.echo(data.decode(), nl=False)
    else:
        try:
            output.write_bytes(data)
        except OSError as exc:
            raise fail(f"cannot write {output}: {exc.strerror or exc}", exitcodes.FAILED) from None
    typer.echo(f"sha256 {sha256(data)}", err=True)
