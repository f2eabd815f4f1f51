"""`accessctl people`, `accessctl accounts`, `accessctl access`: what the store knows."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Annotated, Any

import typer

from accessctl import exitcodes
from accessctl.commands.common import app_context, fail, handled_errors
from accessctl.output import Column, OutputFormat, grouped_lines, paged, render

FormatOption = Annotated[OutputFormat, typer.Option("--format", help="table, json or csv.")]
WideOption = Annotated[
    bool, typer.Option("--wide", help="Every column, at full width (the table is fitted to the terminal).")
]
LimitOption = Annotated[int | None, typer.Option("--limit", min=1, help="Show at most this many rows.")]
NoPagerOption = Annotated[
    bool,
    typer.Option("--no-pager", help="Do not page the table (on a terminal: $ACCESSCTL_PAGER, $PAGER, less)."),
]

MFA_WORDS = {"ENROLLED": "yes", "NOT_ENROLLED": "no", "UNKNOWN": "unknown"}


def mfa_word(state: Any) -> str:
    return MFA_WORDS.get(str(state), str(state or ""))


def day(value: Any) -> str:
    """The date of an ISO timestamp."""
    return str(value)[:10] if value else ""


def last_login(value: Any) -> str:
    return day(value) if value else "never"


PEOPLE_COLUMNS = [
    Column("employee_id", "employee", keep=True, priority=0),
    Column("name", priority=2, min_width=12),
    Column("email", keep=True, priority=1),
    Column("status", priority=3),
    Column("accounts", right=True, priority=4),
    Column("department", priority=5, min_width=10),
    Column("title", priority=6, min_width=12),
    Column("manager", priority=7),
    Column("type", priority=8),
    Column("termination_date", "terminated", priority=9),
]


def _limited(limit: int | None, count: int) -> list[str]:
    return [f"showing the first {limit} of {count} (--limit)"] if limit is not None and limit < count else []


def people(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option(help="Only people with this HR status (active, terminated).")
    ] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    wide: WideOption = False,
    limit: LimitOption = None,
    no_pager: NoPagerOption = False,
) -> None:
    """List the people of the HR roster and how many live accounts each has."""
    from accessctl.inventory import iter_people, people_summary

    table = fmt is OutputFormat.TABLE
    with handled_errors(), app_context(ctx).reader() as conn, paged(table and not no_pager) as out:
        summary = people_summary(conn, status=status) if table else None
        rows = iter_people(conn, status=status, limit=limit)
        render(
            rows,
            PEOPLE_COLUMNS,
            fmt,
            title=f"People ({summary.count})" if summary else None,
            notes=_limited(limit, summary.count) if summary else (),
            min_widths={"email": summary.longest} if summary else None,
            wide=wide,
            out=out,
        )


def _account_columns(*, statuses: bool, conflicts: bool) -> list[Column]:
    return [
        Column("provider", keep=True, priority=0),
        Column("login", keep=True, priority=1),
        Column("status", priority=2, wide_only=not statuses),
        Column("mfa_state", "mfa", priority=3, fmt=mfa_word),
        Column("last_login_at", "last login", priority=4, fmt=last_login),
        Column("flags", priority=5 if not conflicts else 7, min_width=10),
        Column("note", priority=5, min_width=20, wide_only=not conflicts),
        Column("person", priority=6),
        Column("display_name", "name", priority=8, min_width=12),
        Column("privileged", wide_only=True),
        Column("external_id", "external id", wide_only=True),
        Column("mfa_methods", "mfa methods", wide_only=True),
    ]


def _table_flags(rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """In the table, privileged is a flag like the others (JSON and CSV keep it a column)."""
    for row in rows:
        yield {**row, "flags": (["privileged"] if row["privileged"] else []) + list(row["flags"])}


def not_counted_note(left_out: int) -> list[str]:
    if not left_out:
        return ["active accounts only (--include-suspended for the others)"]
    return [f"active accounts only; {left_out} suspended not counted (--include-suspended)"]


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
    include_suspended: Annotated[
        bool,
        typer.Option(
            "--include-suspended",
            help="Also suspended (and deprovisioned) accounts; without it only active ones count, "
            "as in `report mfa`.",
        ),
    ] = False,
    fmt: FormatOption = OutputFormat.TABLE,
    wide: WideOption = False,
    limit: LimitOption = None,
    no_pager: NoPagerOption = False,
) -> None:
    """List provider accounts (active ones unless --include-suspended).

    The filters combine (all must hold).  JSON and CSV carry every column; the table fits the terminal
    (--wide: every column)."""
    from accessctl.inventory import AccountFilter, account_summary, iter_accounts

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
        include_suspended=include_suspended,
    )
    columns = _account_columns(statuses=include_suspended or include_ended, conflicts=conflicts)
    table = fmt is OutputFormat.TABLE
    with handled_errors(), app_context(ctx).reader() as conn, paged(table and not no_pager) as out:
        rows = iter_accounts(conn, where, limit=limit)
        if not table:  # scripts get every column
            render(rows, [c.key for c in columns], fmt, out=out)
            return
        summary = account_summary(conn, where)
        notes = [] if include_suspended else not_counted_note(summary.not_counted)
        render(
            _table_flags(rows),
            columns,
            fmt,
            title=f"Accounts ({summary.count})",
            notes=notes + _limited(limit, summary.count),
            min_widths={"login": summary.longest},
            wide=wide,
            out=out,
        )


ACCESS_COLUMNS = [
    Column("kind", keep=True, priority=0),
    Column("entitlement", priority=1, min_width=16),
    Column("privileged", priority=3),
    Column("shown_how", "how", priority=2, min_width=14),
    Column("first_seen_at", "first seen", priority=4, fmt=day),
]


def _how(row: dict[str, Any]) -> str:
    return f"via {row['via']}" if row["how"] == "inherited" else "direct"


def access(
    ctx: typer.Context,
    person: Annotated[str, typer.Argument(help="Employee id or email of the person.")],
    fmt: FormatOption = OutputFormat.TABLE,
    wide: WideOption = False,
    no_pager: NoPagerOption = False,
) -> None:
    """Everything one person can reach, by provider and account (privileged first).

    "how" is direct, or the group a grant is inherited through ("via a group" where the provider
    does not name it); "first seen" is when a sync first saw the grant, not when it was given."""
    from accessctl.inventory import NotFound, person_access

    with handled_errors(), app_context(ctx).reader() as conn:
        try:
            found, rows = person_access(conn, person)
        except NotFound as exc:
            raise fail(str(exc), exitcodes.FAILED) from None
    if fmt is not OutputFormat.TABLE:
        keys = [
            "provider",
            "account",
            "account_status",
            "mfa_state",
            "last_login_at",
            "kind",
            "entitlement",
            "privileged",
            "how",
            "via",
            "via_group_id",
            "first_seen_at",
        ]
        render(rows, keys, fmt)
        return
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        grants = groups.setdefault((row["provider"], row["account"]), [])
        if row["kind"]:
            grants.append({**row, "shown_how": _how(row)})
    sections = []
    for (provider, login), grants in groups.items():
        first = next(r for r in rows if r["provider"] == provider and r["account"] == login)
        heading = [
            f"{provider}  {login}",
            f"  {first['account_status']} · MFA {mfa_word(first['mfa_state'])} · "
            f"last login {last_login(first['last_login_at'])} · {len(grants)} grants",
        ]
        sections.append((heading, grants))
    name = f"{found['first_name']} {found['last_name']}"
    title = f"Access of {name} ({found['employee_id']}, {found['status']})"
    notes = [f"{found['email']} · {len(groups)} accounts", "first seen: when a sync first saw the grant"]
    with paged(not no_pager) as out:
        for line in grouped_lines(sections, ACCESS_COLUMNS, title=title, notes=notes, wide=wide, out=out):
            out.write(line + "\n")
