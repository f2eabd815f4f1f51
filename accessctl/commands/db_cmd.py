"""`accessctl db`: create, upgrade and inspect the store."""

from __future__ import annotations

import typer

from accessctl.commands.common import app_context, handled_errors

app = typer.Typer(help="Create, upgrade and inspect the store.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Create the schema or upgrade it to this version's; a no-op when it is current."""
    from accessctl.store.migrate import upgrade as run_upgrade

    with handled_errors():
        engine = app_context(ctx).engine(check_schema=False)
        before, after = run_upgrade(engine)
    if before == after:
        typer.echo(f"database already at revision {after}; nothing to do")
    else:
        typer.echo(f"database upgraded from {before or 'empty'} to revision {after}")


@app.command("current")
def current(ctx: typer.Context) -> None:
    """Print the schema revision of the database and of this version of accessctl."""
    from accessctl.store.migrate import current_revision, head_revision

    with handled_errors():
        engine = app_context(ctx).engine(check_schema=False)
        typer.echo(f"database: {current_revision(engine) or 'empty'}\naccessctl: {head_revision()}")
