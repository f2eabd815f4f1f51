"""Helpers shared by the command modules: the context object and error-to-exit-code handling.

Every error reaches the user as one line starting with ``error:`` and a documented exit code (see
:mod:`accessctl.exitcodes`).  An error that is not a bug (bad arguments, configuration, schema, store,
provider, a file that cannot be read or written) never shows a traceback; an unexpected exception is a
bug: one line says so and names the crash report holding its traceback (exit 70).  The root command
(:class:`AccessctlGroup`) does this for every command, once.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer
from typer.core import TyperGroup

from accessctl import exitcodes
from accessctl.context import AppContext


def app_context(ctx: typer.Context) -> AppContext:
    return ctx.ensure_object(AppContext)


def say_error(message: str) -> None:
    """One ``error:`` line on stderr (redacted, newlines folded)."""
    from accessctl.logs import redactor

    line = " ".join(redactor()(message).split())
    typer.secho(f"error: {line}", err=True, fg=typer.colors.RED)


def fail(message: str, code: int) -> typer.Exit:
    say_error(message)
    return typer.Exit(code)


def expected_error(exc: BaseException) -> tuple[list[str], int] | None:
    """What to tell the user about ``exc`` and the exit code, when it is an error a user can meet
    without a bug in accessctl; None when it is a bug."""
    from accessctl.settings import ConfigError
    from accessctl.store.engine import store_failure
    from accessctl.store.migrate import SchemaMismatchError
    from connectors.base import ConnectorError

    if isinstance(exc, ConfigError):
        return [str(problem) for problem in exc.problems], exitcodes.CONFIG
    if isinstance(exc, SchemaMismatchError):  # behind: run db upgrade; ahead: a newer accessctl wrote it
        return [str(exc)], exitcodes.SCHEMA
    reason = store_failure(exc)
    if reason is not None:
        return [f"cannot use the database: {reason}"], exitcodes.STORE
    if isinstance(exc, ConnectorError):
        return [f"a provider could not be reached or refused: {exc}"], exitcodes.PROVIDER
    if isinstance(exc, OSError):  # a file or the network, outside accessctl's control
        where = f"{exc.filename}: " if exc.filename else ""
        return [f"{where}{exc.strerror or exc}"], exitcodes.FAILED
    return None


@contextmanager
def handled_errors() -> Iterator[None]:
    """Turn the errors every command can meet into a clear message and a stable exit code (the root
    command does so too; this keeps a command's own output from going on after such an error)."""
    try:
        yield
    except Exception as exc:  # classified here; what is not an expected error propagates as it was
        known = expected_error(exc)
        if known is None:
            raise
        lines, code = known
        for line in lines:
            say_error(line)
        raise typer.Exit(code) from None


def report_bug(exc: BaseException, argv: Sequence[str]) -> int:
    """Say in one line that ``exc`` is a bug in accessctl and where its traceback was written."""
    from accessctl.crash import write_crash_report

    first = (str(exc).strip().splitlines() or [""])[0]
    what = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    path = write_crash_report(exc, argv)
    where = (
        f"the full traceback is in {path}; please attach it to a bug report"
        if path is not None
        else "no crash report could be written"
    )
    say_error(f"internal error (a bug in accessctl): {what}; {where}")
    if path is None:  # nowhere to keep it: the traceback is the only trace of the bug
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    return exitcodes.BUG


class AccessctlGroup(TyperGroup):
    """The root command: every error, whichever command meets it, reaches the user as one line and an
    exit code.  Click's usage errors (exit 2) too, with a pointer to ``--help``."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        _flags_show_no_value(self, self.context_settings.get("help_option_names", ["--help"]))
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.Abort:
            say_error("aborted")
            sys.exit(exitcodes.FAILED)
        except typer.TyperException as exc:  # Click's own errors: usage (exit 2), an unreadable file
            sys.exit(_click_error(exc))
        except Exception as exc:  # every command's: expected ones in one line, the rest are bugs
            known = expected_error(exc)
            if known is None:
                sys.exit(report_bug(exc, argv))
            lines, code = known
            for line in lines:
                say_error(line)
            sys.exit(code)
        sys.exit(result if isinstance(result, int) else exitcodes.OK)


def _click_error(exc: typer.TyperException) -> int:
    if type(exc).__name__ == "NoArgsIsHelpError":  # `accessctl` or a group alone: Typer showed its help
        return exc.exit_code
    message = exc.format_message()
    ctx = getattr(exc, "ctx", None)
    if ctx is not None and ctx.command.get_help_option(ctx) is not None:
        message += f" (see '{ctx.command_path} {ctx.help_option_names[0]}')"
    say_error(message)
    return exc.exit_code


def _flags_show_no_value(command: Any, help_option_names: list[str]) -> None:
    """Typer's help shows ``<bool>`` after a flag as if it took a value: give every boolean flag of
    the tree (``--help`` included) an empty metavar, which the help shows instead."""
    ctx = command.context_class(command, help_option_names=help_option_names)
    help_option = command.get_help_option(ctx)
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if getattr(param, "is_bool_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _flags_show_no_value(sub, help_option_names)
