"""`accessctl emulate`: run the provider emulators for a generated org until interrupted."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from accessctl import exitcodes
from accessctl.commands.common import fail

if TYPE_CHECKING:
    from connectors.emulators.model import SyntheticOrg
    from connectors.emulators.runner import RunningEmulators


def emulate(
    people: Annotated[int, typer.Option(min=1, help="People in the generated org.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the generator: the same seed gives the same org.")] = 1,
    latency_ms: Annotated[
        float, typer.Option("--latency-ms", min=0, help="Added latency per request.")
    ] = 0.0,
    faults: Annotated[
        str | None,
        typer.Option(
            help=(
                "Fault plan, comma separated: 5xx:P, 429:P (429:P:S asks a wait of S seconds, "
                "429:P:window until the minute ends), timeout:P (held hang:S seconds, then 504), "
                "reset:P, page:PATH:N, seed:N (P: share of requests)."
            )
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
        typer.Option(
            "--write-config",
            metavar="PATH",
            help="Write the config to PATH (default: print it on stdout; the status goes to stderr).",
        ),
    ] = None,
) -> None:
    """Run local Okta/Entra/Google emulators for a generated org and give the config that points at them.

    The config (TOML) is printed, or written to --write-config PATH; the credentials it names are files
    in WORKDIR, never in the config.
    """
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
    try:
        _announce(running, org, workdir=workdir, write_config=write_config, started=started, seed=seed)
        typer.echo("Ctrl-C stops the emulators.", err=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        typer.echo("stopping", err=True)
    finally:
        running.stop()


def _announce(
    running: RunningEmulators,
    org: SyntheticOrg,
    *,
    workdir: Path,
    write_config: Path | None,
    started: float,
    seed: int,
) -> None:
    """Print the config (or write it) on stdout, and what runs where on stderr."""
    from accessctl.emulation import emulator_config, render_config
    from accessctl.emulation import write_config as write_toml

    database_url = f"sqlite:///{(workdir / 'accessctl.db').resolve()}"
    config = emulator_config(running, database_url=database_url)
    if write_config is None:
        typer.echo(render_config(config))  # stdout: only the config, so `> emu.toml` keeps it
    else:
        try:
            write_toml(config, write_config)
        except OSError as exc:
            message = f"--write-config: cannot write {write_config}: {exc.strerror}"
            raise fail(message, exitcodes.USAGE) from None

    def status(line: str) -> None:
        typer.echo(line, err=True)

    elapsed = time.monotonic() - started
    status(f"{len(org.people)} people (seed {seed}); emulators up in {elapsed:.1f}s:")
    for name, provider in running.providers.items():
        accounts = len(org.directory(name).accounts)
        status(f"  {name:<7} {provider.url}  ({accounts} accounts)")
    for name in running.missing:
        status(f"  {name:<7} (no emulator in this build)")
    status(f"HR roster:   {running.roster_path}")
    status(f"credentials: files in {workdir}")
    if write_config is None:
        status("config:      printed above (or pass --write-config PATH)")
        target = "CONFIG"
    else:
        status(f"config:      {write_config}")
        target = str(write_config)
    status(f"try:         accessctl --config {target} db upgrade && accessctl --config {target} sync")
