"""`accessctl config`: check and show the configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from accessctl import exitcodes
from accessctl.commands.common import app_context, handled_errors, say_error

if TYPE_CHECKING:
    from accessctl.settings import Settings

app = typer.Typer(help="Check and show the configuration.", no_args_is_help=True)


@app.command("check")
def check(
    ctx: typer.Context,
    live: bool = typer.Option(
        False,
        "--live",
        help="Also ask each enabled provider, read-only, whether the credentials hold every "
        "permission sync and deprovisioning need (exit 1 naming what is missing, 5 if one cannot say).",
    ),
) -> None:
    """Validate the config file and environment; name every missing or wrong setting (exit 3 if any)."""
    from accessctl.settings import check_settings, load_settings, no_provider_problem, resolve_config_path

    context = app_context(ctx)
    problems = check_settings(context.config_path)
    if problems:
        for problem in problems:
            typer.secho(f"✗ {problem}", err=True, fg=typer.colors.RED)
        raise typer.Exit(exitcodes.CONFIG)
    nothing_to_sync = no_provider_problem(load_settings(context.config_path))
    if nothing_to_sync is not None:  # usable (db, audit, people work), but `accessctl sync` refuses
        message = f"warning: {nothing_to_sync} (`accessctl sync` refuses)"
        typer.secho(message, err=True, fg=typer.colors.YELLOW)
    path, _ = resolve_config_path(context.config_path)
    where = str(path) if path.exists() else "defaults and environment (no config file)"
    typer.secho(f"✓ configuration OK: {where}", fg=typer.colors.GREEN)
    if live:
        with handled_errors():
            settings = context.settings
        raise typer.Exit(_check_live(settings))


def _wrapped(text: str, first: str, rest: str) -> str:
    """``text`` within 80 columns, broken only at spaces (logins and ids stay whole)."""
    import textwrap

    return textwrap.fill(
        text,
        width=80,
        initial_indent=first,
        subsequent_indent=rest,
        break_on_hyphens=False,
        break_long_words=False,
    )


#: how long one provider may take to say what its credentials hold
LIVE_CHECK_DEADLINE_S = 60.0


def _check_live(settings: Settings) -> int:
    """Each enabled provider's permission report, printed; the exit code."""
    import asyncio

    from accessctl.providers import build_connector, enabled_providers
    from connectors.base import ConnectorError, PermissionReport

    with handled_errors():
        names = enabled_providers(settings)

    async def one(name: str) -> PermissionReport:
        connector: Any = build_connector(settings, name)
        try:
            async with asyncio.timeout(LIVE_CHECK_DEADLINE_S):
                return await connector.check_permissions()
        finally:
            async with asyncio.timeout(10):
                await connector.aclose()

    async def every() -> list[PermissionReport | BaseException]:
        return await asyncio.gather(*(one(n) for n in names), return_exceptions=True)

    unanswered = lacking = False
    for name, outcome in zip(names, asyncio.run(every()), strict=True):
        if isinstance(outcome, ConnectorError | TimeoutError):
            reason = str(outcome) or f"no answer within {LIVE_CHECK_DEADLINE_S:g}s"
            say_error(f"{name}: could not say what the credentials hold: {reason}")
            unanswered = True
            continue
        if isinstance(outcome, BaseException):
            raise outcome
        held = ", ".join(outcome.granted) or "nothing"
        if outcome.ok:
            line = f"✓ {name}: every permission needed is held ({outcome.acting_as})"
            typer.secho(_wrapped(line, "", "    "), fg=typer.colors.GREEN)
            continue
        line = f"✗ {name}: {outcome.acting_as} lacks:"
        typer.secho(_wrapped(line, "", "    "), fg=typer.colors.RED)
        for missing in outcome.missing:
            typer.echo(_wrapped(missing, "  - ", "    "))
        typer.echo(_wrapped(f"holds: {held}", "  ", "    "))
        lacking = True
    return exitcodes.PROVIDER if unanswered else exitcodes.FAILED if lacking else exitcodes.OK


@app.command("show")
def show(ctx: typer.Context) -> None:
    """Print the effective configuration as TOML; secrets show as \\[set] or \\[unset], never their value.

    A password in database_url is shown as ***.
    """
    import tomli_w

    from accessctl.settings import SECTIONS

    with handled_errors():
        settings = app_context(ctx).settings
    data = settings.model_dump(mode="json", exclude={"config_path"})
    for name, section_cls in SECTIONS.items():
        for secret in section_cls.SECRETS:
            data[name][secret] = "[set]" if getattr(getattr(settings, name), secret) else "[unset]"
    data["database_url"] = _masked_url(settings.database_url)
    cleaned = {
        key: ({k: v for k, v in value.items() if v is not None} if isinstance(value, dict) else value)
        for key, value in data.items()
    }
    typer.echo(tomli_w.dumps(cleaned))


def _masked_url(url: str) -> str:
    """The database URL with its password (in the URL or its query) hidden."""
    from contextlib import suppress

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    from accessctl.logs import redactor

    with suppress(ArgumentError):  # not a URL SQLAlchemy understands: the redactor still applies
        url = make_url(url).render_as_string(hide_password=True)
    return redactor()(url)
