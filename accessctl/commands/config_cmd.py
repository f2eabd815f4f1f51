"""`accessctl config`: check and show the configuration."""

from __future__ import annotations

import typer

from accessctl import exitcodes
from accessctl.commands.common import app_context, handled_errors

app = typer.Typer(help="Check and show the configuration.", no_args_is_help=True)


@app.command("check")
def check(ctx: typer.Context) -> None:
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
