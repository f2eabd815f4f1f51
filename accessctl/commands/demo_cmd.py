"""`accessctl demo`: the end-to-end story against local provider emulators."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def demo(
    people: Annotated[int, typer.Option(min=10, help="People in the generated company.")] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the generated company.")] = 42,
    workdir: Annotated[Path, typer.Option(help="Where the demo's config, store and credentials go.")] = Path(
        "accessctl-demo"
    ),
) -> None:
    """Run the whole story locally: emulated providers, sync, risky access, audit verification."""
    from rich.console import Console

    from accessctl.demo import run_demo

    raise typer.Exit(run_demo(workdir=workdir, people=people, seed=seed, console=Console()))
