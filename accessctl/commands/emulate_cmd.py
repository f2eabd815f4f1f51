"""`accessctl emulate`: run the provider emulators for a generated org until interrupted."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from accessctl import exitcodes
from accessctl.commands.common import fail


def emulate(
    people: Annotated[int, typer.Option(min=1, help="People in the generated org.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the generator: the same seed gives the same org.")] = 1,
    latency_ms: Annotated[
        float, typer.Option("--latency-ms", min=0, help="Added latency per request.")
    ] = 0.0,
    faults: Annotated[
        str | None,
        typer.Option(
            help="Fault plan, e.g. '5xx:0.05,429:0.02,timeout:0.01,reset:0.01,page:/api/v1/users:3'."
        ),
    ] = None,
    rate_limit: Annotated[
        int,
        typer.Option("--rate-limit", min=0, help="Requests per minute per endpoint family (0: unlimited)."),
    ] = 0,
    tls: Annotated[bool, typer.Option("--tls/--no-tls", help="Serve HTTPS with a generated CA.")] = True,
    strict_auth: Annotated[
        bool, typer.Option("--strict-auth", help="Demand the exact generated credentials.")
    ] = False,
    workdir: Annotated[
        Path, typer.Option(help="Where credentials, the CA, the roster and the store go.")
    ] = Path("accessctl-emulator"),
    write_config: Annotated[
        Path | None,
        typer.Option("--write-config", help="Write the config here (default: WORKDIR/accessctl.toml)."),
    ] = None,
) -> None:
    """Run local Okta/Entra/Google emulators for a generated org and write a config that points at them."""
    from accessctl.emulation import emulator_config
    from accessctl.emulation import write_config as write_toml
    from connectors.emulators.control import FaultSpecError
    from connectors.emulators.generate import generate_org
    from connectors.emulators.runner import start_emulators

    started = time.monotonic()
    org = generate_org(people, seed)
    try:
        running = start_emulators(
            org,
            workdir=workdir,
            tls=tls,
            latency_ms=latency_ms,
            faults=faults,
            strict_auth=strict_auth,
            rate_limit=rate_limit,
        )
    except FaultSpecError as exc:
        raise fail(f"--faults: {exc}", exitcodes.USAGE) from None
    config_path = write_config or workdir / "accessctl.toml"
    database_url = f"sqlite:///{(workdir / 'accessctl.db').resolve()}"
    write_toml(emulator_config(running, database_url=database_url), config_path)
    elapsed = time.monotonic() - started
    typer.echo(f"{len(org.people)} people (seed {seed}); emulators up in {elapsed:.1f}s:")
    for name, provider in running.providers.items():
        accounts = len(org.directory(name).accounts)
        typer.echo(f"  {name:<7} {provider.url}  ({accounts} accounts)")
    for name in running.missing:
        typer.echo(f"  {name:<7} (no emulator in this build)")
    typer.echo(f"HR roster: {running.roster_path}")
    typer.echo(f"config:    {config_path}")
    typer.echo(
        f"try:       accessctl --config {config_path} db upgrade && accessctl --config {config_path} sync"
    )
    typer.echo("Ctrl-C stops the emulators.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        typer.echo("stopping")
    finally:
        running.stop()
