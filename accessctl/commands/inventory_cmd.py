"""`accessctl people`, `accessctl accounts`, `accessctl access`: what the store knows."""

from __future__ import annotations

from typing import Annotated

import typer

from accessctl import exitcodes
from accessctl.commands.common import app_context, fail, handled_errors
from accessctl.output import OutputFormat, render

FormatOption = Annotated[OutputFormat, typer.Option("--format", help="table, json or csv.")]


def people(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option(help="Only people with this HR status (active, terminated).")
    ] = None,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """List the people of the HR roster and how many live accounts each has."""
    from accessctl.inventory import list_people

    with handled_errors():
        engine = app_context(ctx).engine()
        with engine.connect() as conn:
            rows = list_people(conn, status=status)
    columns = ["employee_id", "name", "email", "department", "title", "manager", "type", "status", "accounts"]
    render(rows, columns, fmt, title=f"People ({len(rows)})")


def accounts(
    ctx: typer.Context,
    provider: Annotated[str | None, typer.Option(help="okta, entra or google.")] = None,
    no_mfa: Annotated[bool, typer.Option("--no-mfa", help="Only accounts without MFA enrolled.")] = False,
    mfa_unknown: Annotated[
        bool, typer.Option("--mfa-unknown", help="Only accounts whose MFA could not be read.")
    ] = False,
    inactive_days: Annotated[
        int | None,
        typer.Option("--inactive-days", min=1, max=36500, help="Only accounts unused for this many days."),
    ] = None,
    orphans: Annotated[bool, typer.Option("--orphans", help="Only accounts that match no person.")] = False,
    shared: Annotated[bool, typer.Option("--shared", help="Only shared and service accounts.")] = False,
    privileged: Annotated[
        bool, typer.Option("--privileged", help="Only accounts holding privileged access.")
    ] = False,
    conflicts: Annotated[
        bool, typer.Option("--conflicts", help="Only accounts claimed by conflicting people.")
    ] = False,
    include_ended: Annotated[
        bool, typer.Option("--include-ended", help="Include accounts that are gone.")
    ] = False,
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """List provider accounts; the filters combine (all must hold)."""
    from accessctl.inventory import ACCOUNT_COLUMNS, ACCOUNT_DETAIL_COLUMNS, AccountFilter, list_accounts

    if provider is not None and provider not in ("okta", "entra", "google"):
        raise fail(f"unknown provider {provider!r} (use okta, entra or google)", exitcodes.USAGE)
    where = AccountFilter(
        provider=provider,
        no_mfa=no_mfa,
        mfa_unknown=mfa_unknown,
        inactive_days=inactive_days,
        orphans=orphans,
        shared=shared,
        privileged=privileged,
        conflicts=conflicts,
        include_ended=include_ended,
    )
    with handled_errors():
        engine = app_context(ctx).engine()
        with engine.connect() as conn:
            rows = list_accounts(conn, where)
    columns = [*ACCOUNT_COLUMNS, "note"] if conflicts else list(ACCOUNT_COLUMNS)
    if fmt is not OutputFormat.TABLE:  # scripts get the detail the table has no room for
        columns += [c for c in ACCOUNT_DETAIL_COLUMNS if c not in columns]
    render(rows, columns, fmt, title=f"Accounts ({len(rows)})")


def access(
    ctx: typer.Context,
    person: Annotated[str, typer.Argument(help="Employee id or email of the person.")],
    fmt: FormatOption = OutputFormat.TABLE,
) -> None:
    """Everything one person can reach, across providers (privileged first)."""
    from accessctl.inventory import NotFound, person_access

    with handled_errors():
        engine = app_context(ctx).engine()
        with engine.connect() as conn:
            try:
                found, rows = person_access(conn, person)
            except NotFound as exc:
                raise fail(str(exc), exitcodes.FAILED) from None
    title = f"Access of {found.first_name} {found.last_name} ({found.employee_id}, {found.status})"
    columns = [
        "provider",
        "account",
        "account_status",
        "mfa_state",
        "kind",
        "entitlement",
        "privileged",
        "how",
        "since",
    ]
    render(rows, columns, fmt, title=title)
