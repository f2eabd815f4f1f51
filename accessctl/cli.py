"""The `accessctl` command line.  Kept light: heavy modules are imported inside the commands."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from accessctl import __version__
from accessctl.commands import (
    audit_cmd,
    campaign_cmd,
    config_cmd,
    db_cmd,
    demo_cmd,
    emulate_cmd,
    hr_cmd,
    inventory_cmd,
    jobs_cmd,
    lifecycle_cmd,
    quarantine_cmd,
    report_cmd,
    serve_cmd,
    sync_cmd,
    token_cmd,
)
from accessctl.commands.common import AccessctlGroup
from accessctl.context import AppContext

app = typer.Typer(
    name="accessctl",
    cls=AccessctlGroup,
    help="Access review and deprovisioning for Okta, Microsoft Entra ID and Google Workspace.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(config_cmd.app, name="config")
app.add_typer(db_cmd.app, name="db")
app.add_typer(audit_cmd.app, name="audit")
app.add_typer(hr_cmd.app, name="hr")
app.add_typer(report_cmd.app, name="report")
app.add_typer(quarantine_cmd.app, name="quarantine")
app.add_typer(campaign_cmd.app, name="campaign")
app.add_typer(token_cmd.app, name="token")
app.add_typer(jobs_cmd.app, name="jobs")
app.command("sync")(sync_cmd.sync)
app.command("emulate")(emulate_cmd.emulate)
app.command("demo")(demo_cmd.demo)
app.command("people")(inventory_cmd.people)
app.command("accounts")(inventory_cmd.accounts)
app.command("access")(inventory_cmd.access)
app.command("deprovision")(lifecycle_cmd.deprovision)
app.command("lockout")(lifecycle_cmd.lockout)
app.command("revoke")(lifecycle_cmd.revoke)
app.command("restore")(lifecycle_cmd.restore)
app.command("serve")(serve_cmd.serve)
app.command("worker")(serve_cmd.worker)


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"accessctl {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="Config file (default: $ACCESSCTL_CONFIG, else ./accessctl.toml).",
            envvar="ACCESSCTL_CONFIG",
            show_envvar=False,
        ),
    ] = None,
    log_format: Annotated[
        LogFormat | None, typer.Option("--log-format", help="text or json lines (overrides log.format).")
    ] = None,
    log_level: Annotated[
        LogLevel | None,
        typer.Option(
            "--log-level", case_sensitive=False, help="Least severe level logged (overrides log.level)."
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Access review and deprovisioning for Okta, Microsoft Entra ID and Google Workspace."""
    context = AppContext(
        config_path=config,
        log_format=log_format.value if log_format else None,
        log_level=log_level.value if log_level else None,
    )
    ctx.obj = context
    ctx.call_on_close(context.close)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
