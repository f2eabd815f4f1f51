"""Pointing accessctl at the local provider emulators: the config `accessctl emulate` writes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connectors.emulators.runner import RunningEmulators


def emulator_config(running: RunningEmulators, *, database_url: str) -> dict[str, Any]:
    """A complete config: every enabled provider, its credentials as files, the CA, the roster."""
    config: dict[str, Any] = {"database_url": database_url}
    for name, provider in running.providers.items():
        section: dict[str, Any] = {"enabled": True, **provider.settings}
        for secret, path in provider.credential_files.items():
            section[f"{secret}_file"] = str(path.resolve())
        if running.tls is not None:
            section["ca_bundle"] = str(running.tls.ca_path.resolve())
        config[name] = section
    config["hr"] = {"roster_file": str(running.roster_path.resolve())}
    return config


HEADER = (
    "# Written by `accessctl emulate`: accessctl pointed at its local provider emulators.\n"
    "# The credentials are files beside it (named by the *_file settings), never in this file.\n"
)


def render_config(config: dict[str, Any]) -> str:
    """The config as TOML, with a header saying what it is."""
    import tomli_w

    return HEADER + tomli_w.dumps(config)


def write_config(config: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_config(config))
    return path
