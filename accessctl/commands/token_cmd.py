"""`accessctl token create|list|revoke`: the service API's bearer tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from accessctl import exitcodes
from accessctl.commands.common import app_context, fail, handled_errors
from accessctl.output import Column, OutputFormat, render

app = typer.Typer(help="Bearer tokens of the service's API (`accessctl serve`).", no_args_is_help=True)

SCOPES = ("admin", "read", "hr")


def _when(value: object) -> str:
    return f"{value:%Y-%m-%d %H:%M}Z" if value else ""


TOKEN_COLUMNS = [
    Column("name", keep=True, priority=0),
    Column("scope", priority=1),
    Column("state", priority=2),
    Column("created_at", "created", priority=3, fmt=_when),
    Column("last_used_at", "last used", priority=4, fmt=lambda v: _when(v) or "never"),
    Column("created_by", "by", priority=5, min_width=10),
    Column("revoked_at", "revoked", wide_only=True, fmt=_when),
]


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="What the token is for (unique), e.g. workday-intake.")],
    scope: Annotated[str, typer.Option("--scope", help="admin, read or hr.")],
) -> None:
    """Make a token and print it, once: only its hash is kept."""
    from accessctl.commands.actor import cli_actor
    from accessctl.sync import clock
    from accessctl.tokens import Scope, TokenError, create_token

    if scope not in SCOPES:
        raise fail(f"--scope {scope!r}: one of {', '.join(SCOPES)}", exitcodes.USAGE)
    with handled_errors():
        engine = app_context(ctx).engine()
        try:
            info, token = create_token(engine, name=name, scope=Scope(scope), by=cli_actor(), now=clock.now())
        except TokenError as exc:
            raise fail(str(exc), exitcodes.USAGE) from None
    typer.echo(token)
    typer.echo(
        f"token {info.name!r} (scope {info.scope}) made; it is shown this once: keep it in a secret store",
        err=True,
    )


@app.command("list")
def list_(
    ctx: typer.Context,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table, json or csv.")] = OutputFormat.TABLE,
) -> None:
    """The tokens: name, scope, state, when made and last used (never their secrets)."""
    from dataclasses import asdict

    from accessctl.tokens import list_tokens

    with handled_errors():
        engine = app_context(ctx).engine()
        with engine.connect() as conn:
            tokens = list_tokens(conn)
    rows = [{**asdict(t), "state": t.state} for t in tokens]
    for row in rows:
        row.pop("key_id")
    render(rows, TOKEN_COLUMNS, fmt, title=f"API tokens ({len(rows)})")


@app.command("revoke")
def revoke(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The token's name.")]) -> None:
    """Revoke a token: the API refuses it from now on."""
    from accessctl.commands.actor import cli_actor
    from accessctl.sync import clock
    from accessctl.tokens import TokenError, revoke_token

    with handled_errors():
        engine = app_context(ctx).engine()
        try:
            revoke_token(engine, name=name, by=cli_actor(), now=clock.now())
        except TokenError as exc:
            raise fail(str(exc), exitcodes.FAILED) from None
    typer.echo(f"token {name!r} revoked")
