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


def write_config(config: dict[str, Any], path: Path) -> Path:
    import tomli_w

    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by `accessctl emulate`: accessctl pointed at its local provider emulators.\n"
    path.write_text(header + tomli_w.dumps(config))
    return path
