"""Start the provider emulators for a synthetic org on loopback ports, with credentials and the HR roster.

Providers whose emulator is not part of this build are left out (``RunningEmulators.missing``),
never faked.
"""

from __future__ import annotations

import importlib
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.emulators.control import EmulatorControl, FaultPlan
from connectors.emulators.credentials import EmulatorSecrets, generate_secrets, google_key_json, write_secret
from connectors.emulators.model import SyntheticOrg
from connectors.emulators.roster import write_roster
from connectors.emulators.server import ServerThread, TlsMaterial, make_tls

PROVIDERS = ("okta", "entra", "google")


@dataclass
class RunningProvider:
    name: str
    url: str
    control: EmulatorControl
    server: ServerThread
    credential_files: dict[str, Path] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # plain (non-secret) connection settings
    #: credentials with too few permissions (Okta: a read-only admin's API token), for what a
    #: misconfigured install sees; never written into the config
    read_only_credential_files: dict[str, Path] = field(default_factory=dict)


@dataclass
class RunningEmulators:
    workdir: Path
    providers: dict[str, RunningProvider]
    roster_path: Path
    tls: TlsMaterial | None
    secrets: EmulatorSecrets
    missing: list[str] = field(default_factory=list)

    @property
    def urls(self) -> dict[str, str]:
        """Base URL of each running provider emulator."""
        return {name: provider.url for name, provider in self.providers.items()}

    @property
    def controls(self) -> dict[str, EmulatorControl]:
        """The control (latency, faults, rate budget, journal) of each running emulator."""
        return {name: provider.control for name, provider in self.providers.items()}

    @property
    def ca_path(self) -> Path | None:
        """The CA bundle clients must trust when the emulators serve TLS."""
        return self.tls.ca_path if self.tls is not None else None

    def stop(self) -> None:
        for provider in self.providers.values():
            provider.server.stop()

    def __enter__(self) -> RunningEmulators:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _available(name: str) -> Any | None:
    try:
        return importlib.import_module(f"connectors.emulators.{name}")
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(f"connectors.emulators.{name}"):
            return None
        raise


def start_emulators(
    org: SyntheticOrg,
    *,
    workdir: Path,
    tls: bool = True,
    latency_ms: float = 0.0,
    faults: str | None = None,
    strict_auth: bool = False,
    rate_limit: int = 0,
    rate_window_s: int = 60,
    ports: dict[str, int] | None = None,
    providers: tuple[str, ...] = PROVIDERS,
) -> RunningEmulators:
    """Start an emulator per provider; write credentials (0600) and the roster into ``workdir``."""
    FaultPlan.parse(faults)  # a bad spec fails here, before anything starts
    workdir.mkdir(parents=True, exist_ok=True)
    material = make_tls(workdir) if tls else None
    secrets_ = generate_secrets(org.domain)
    roster = write_roster(org.people, workdir / "roster.csv")
    running: dict[str, RunningProvider] = {}
    missing: list[str] = []
    try:
        for name in providers:
            module = _available(name)
            if module is None:
                missing.append(name)
                continue
            control = EmulatorControl(latency_ms=latency_ms)
            control.set_faults(faults)
            control.budget.configure(rate_limit, rate_window_s)
            server = ServerThread(port=(ports or {}).get(name, 0), tls=material)
            provider = RunningProvider(name, server.url, control, server)
            server.app = _create(
                name, module, org, control, server.url, strict_auth, secrets_, provider, workdir
            )
            server.start()
            running[name] = provider
    except BaseException:
        for provider in running.values():
            provider.server.stop()
        raise
    return RunningEmulators(workdir, running, roster, material, secrets_, missing)


def _create(
    name: str,
    module: Any,
    org: SyntheticOrg,
    control: EmulatorControl,
    url: str,
    strict_auth: bool,
    secrets_: EmulatorSecrets,
    provider: RunningProvider,
    workdir: Path,
) -> Any:
    directory = org.directory(name)
    extra: dict[str, Any] = {}
    if name == "okta":
        provider.credential_files["api_token"] = write_secret(
            workdir / "okta-api-token", secrets_.okta_api_token
        )
        # a read-only admin's token beside the org's own, for what too few permissions look like
        read_only = "00" + secrets.token_urlsafe(30)
        provider.read_only_credential_files["api_token"] = write_secret(
            workdir / "okta-read-only-api-token", read_only
        )
        provider.settings = {"org_url": url}
        credentials = module.OktaCredentials(secrets_.okta_api_token)
        extra["tokens"] = [module.OktaCredentials(read_only, module.READ_ONLY_ADMIN)]
    elif name == "entra":
        provider.credential_files["client_secret"] = write_secret(
            workdir / "entra-client-secret", secrets_.entra_client_secret
        )
        provider.settings = {
            "tenant_id": secrets_.entra_tenant_id,
            "client_id": secrets_.entra_client_id,
            "authority_host": url,
            "graph_url": url,
        }
        credentials = module.EntraCredentials(
            secrets_.entra_tenant_id, secrets_.entra_client_id, secrets_.entra_client_secret
        )
    else:
        provider.credential_files["service_account_key"] = write_secret(
            workdir / "google-service-account.json", google_key_json(secrets_, f"{url}/token")
        )
        provider.settings = {
            "customer_id": secrets_.google_customer_id,
            "admin_email": secrets_.google_admin_email,
            "api_endpoint": url,
        }
        credentials = module.GoogleCredentials(
            secrets_.google_customer_id,
            secrets_.google_service_account_email,
            secrets_.google_public_key_pem,
            secrets_.google_admin_email,
        )
    return module.create_app(
        directory, control, base_url=url, strict_auth=strict_auth, credentials=credentials, **extra
    )
