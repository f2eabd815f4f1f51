"""Helpers shared by the command modules: the context object and error-to-exit-code handling."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from accessctl import exitcodes
from accessctl.context import AppContext


def app_context(ctx: typer.Context) -> AppContext:
    return ctx.ensure_object(AppContext)


def fail(message: str, code: int) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(code)


@contextmanager
def handled_errors() -> Iterator[None]:
    """Turn the errors every command can meet into a clear message and a stable exit code."""
    from sqlalchemy.exc import OperationalError

    from accessctl.logs import redactor
    from accessctl.settings import ConfigError
    from accessctl.store.migrate import SchemaMismatchError

    try:
        yield
    except ConfigError as exc:
        for problem in exc.problems:
            typer.secho(f"config error: {problem}", err=True, fg=typer.colors.RED)
        raise typer.Exit(exitcodes.CONFIG) from None
    except SchemaMismatchError as exc:  # behind: run db upgrade; ahead: a newer accessctl wrote it
        raise fail(str(exc), exitcodes.SCHEMA) from None
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise fail(f"cannot use the database: {redactor()(reason)}", exitcodes.STORE) from None
