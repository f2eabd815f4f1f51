"""`accessctl demo`: the end-to-end story against local provider emulators."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from accessctl import exitcodes


def demo(
    people: Annotated[int, typer.Option(min=10, max=100_000, help="People in the generated company.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the generated company.")] = 42,
    workdir: Annotated[Path, typer.Option(help="Where the demo's config, store and credentials go.")] = Path(
        "accessctl-demo"
    ),
) -> None:
    """Run the whole story locally: emulated providers, sync, risky access, a leaver by signed HR
    webhook to the running service, audit verification."""
    from rich.console import Console

    from accessctl.commands.common import fail
    from accessctl.demo import run_demo, workdir_problem

    problem = workdir_problem(workdir)
    if problem:
        raise fail(problem, exitcodes.USAGE)
    raise typer.Exit(run_demo(workdir=workdir, people=people, seed=seed, console=Console()))
