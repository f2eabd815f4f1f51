"""Typed settings: one TOML file, every key overridable by ``ACCESSCTL_<SECTION>_<KEY>``.

Where the file comes from: ``--config PATH``, else ``$ACCESSCTL_CONFIG``, else ``./accessctl.toml``.
Secrets (API tokens, client secrets, service-account keys, webhook secrets, the SMTP password) are
never written in the file: each comes from its environment variable or from a file the config names
(``<secret>_file``, relative to the config file), and is held as ``SecretStr``.

A list setting's variable holds a JSON list or a comma-separated one.  Problems name where the bad
value came from: the file, or the ``ACCESSCTL_*`` variable that overrides it.
"""

from __future__ import annotations

import copy
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

ENV_PREFIX = "ACCESSCTL_"
DEFAULT_CONFIG_NAME = "accessctl.toml"

#: A file path setting; "" (as written in config.example.toml) means unset.
OptionalPath = Annotated[Path | None, BeforeValidator(lambda value: None if value == "" else value)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: secret fields; each may instead come from the file named by ``<secret>_file``
    SECRETS: ClassVar[tuple[str, ...]] = ()


class LogSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class ProviderSettings(Section):
    enabled: bool = False
    ca_bundle: OptionalPath = Field(
        None, description="PEM file of extra CAs to trust (corporate proxy, emulator)"
    )
    timeout_s: float = Field(30.0, gt=0, le=3600)
    max_concurrency: int = Field(8, ge=1, le=64)


class OktaSettings(ProviderSettings):
    SECRETS = ("api_token",)
    org_url: str = ""
    api_token: SecretStr | None = None
    api_token_file: OptionalPath = None
    page_size: int = Field(200, ge=1, le=200)


class EntraSettings(ProviderSettings):
    SECRETS = ("client_secret",)
    tenant_id: str = ""
    client_id: str = ""
    client_secret: SecretStr | None = None
    client_secret_file: OptionalPath = None
    authority_host: str = "https://login.microsoftonline.com"
    graph_url: str = "https://graph.microsoft.com"
    page_size: int = Field(999, ge=1, le=999)


class GoogleSettings(ProviderSettings):
    SECRETS = ("service_account_key",)
    customer_id: str = "my_customer"
    admin_email: str = ""
    service_account_key: SecretStr | None = None
    service_account_key_file: OptionalPath = None
    api_endpoint: str = "https://admin.googleapis.com"
    page_size: int = Field(500, ge=1, le=500)
    reports_lag_minutes: float = Field(60.0, ge=0)
    reports_page_size: int = Field(1000, ge=1, le=1000)


class SyncSettings(Section):
    shared_account_patterns: list[str] = [
        "it-admin@*",
        "helpdesk@*",
        "admin@*",
        "shared-*",
        "svc-*",
        "*-bot",
        "*-bot@*",
        "build-*",
    ]
    privileged_groups: list[str] = ["*admin*", "*Admin*", "Domain Admins"]
    privileged_apps: list[str] = ["AWS*", "aws*", "GitHub*", "github*", "GCP*", "Google Cloud*"]
    inactive_days: int = Field(90, ge=1, le=36500)
    max_attempts: int = Field(6, ge=1, le=20)
    backoff_base_s: float = Field(0.5, gt=0, le=3600)
    backoff_max_s: float = Field(30.0, gt=0, le=3600)
    max_wait_s: float = Field(120.0, gt=0, le=24 * 3600)
    full_pass_every_hours: float = Field(24.0, ge=0, le=24 * 366)


class HrSourceSettings(Section):
    """One HR system allowed to post events (``[hr.sources.NAME]``).  Its Standard Webhooks secrets
    (``whsec_...``) come from the variable ``secret_env`` names or from ``secret_file``: one secret,
    or two separated by white space while the key is being rotated."""

    #: "standard": the canonical event at /v1/hr/events; "bamboohr", "hibob", "gusto": that vendor's
    #: own webhooks at /v1/hr/bamboohr, /v1/hr/hibob, /v1/hr/gusto
    vendor: Literal["standard", "bamboohr", "hibob", "gusto"] = "standard"
    secret_env: str = ""
    secret_file: OptionalPath = None
    #: the secrets loaded from secret_env / secret_file (never from the config file itself)
    secrets: list[SecretStr] = Field(default_factory=list, exclude=True)
    #: a vendor's API, to read back the employee record its webhook names (BambooHR: the API key
    #: from the variable api_key_env; HiBob: service user api_user, its token from api_key_env;
    #: Gusto: the Bearer access token from api_key_env)
    api_url: str = ""
    company_domain: str = ""
    api_key_env: str = ""
    api_user: str = ""
    #: HiBob's companyId or Gusto's company uuid: deliveries for another company are refused
    company_id: str = ""
    #: the time zone of the vendor's bare termination dates (an IANA name)
    timezone: str = "UTC"


class HrScimSettings(Section):
    """SCIM 2.0 inbound provisioning at ``/scim/v2/`` (``[hr.scim]``): an HR system or IdP pushes
    Users with a bearer token of scope ``hr``; creates, moves and terminations become HR events."""

    enabled: bool = False
    #: the most Users one list or search answer carries (a client asks for fewer with ``count``)
    max_results: int = Field(200, ge=1, le=10000)


class HrSettings(Section):
    SECRETS = ("webhook_secret",)
    webhook_secret: SecretStr | None = None
    webhook_secret_file: OptionalPath = None
    roster_file: OptionalPath = None
    #: the HR systems that may post to /v1/hr/events, by name
    sources: dict[str, HrSourceSettings] = {}
    #: a rehire after the leaver ran: "restore" starts a restore job; "review" queues it for an admin
    rehire: Literal["restore", "review"] = "restore"
    #: how often `accessctl serve` fires the future-dated terminations that are due
    fire_due_every_s: float = Field(30.0, gt=0, le=3600)
    #: SCIM 2.0 inbound provisioning (off unless enabled)
    scim: HrScimSettings = HrScimSettings()
    #: when `accessctl serve` runs the HR reconciliation (terminated people who still have access
    #: get a leaver): a five-field cron expression, or "manual" (only `accessctl hr reconcile`)
    reconcile_schedule: str = "0 2 * * *"
    #: the time zone of reconcile_schedule (an IANA name)
    reconcile_timezone: str = "UTC"

    @field_validator("reconcile_schedule")
    @classmethod
    def _reconcile_schedule(cls, value: str) -> str:
        value = " ".join(value.split())
        if value == "manual":
            return value
        from accessctl.reviews.schedule import cron_problem

        problem = cron_problem(value)
        if problem:
            raise ValueError(problem.replace("neither 'quarterly', 'manual' nor", "neither 'manual' nor"))
        return value

    @field_validator("reconcile_timezone")
    @classmethod
    def _reconcile_zone(cls, value: str) -> str:
        problem = _zone_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class SmtpSettings(Section):
    SECRETS = ("password",)
    host: str = "localhost"
    port: int = Field(25, ge=1, le=65535)
    username: str = ""
    password: SecretStr | None = None
    password_file: OptionalPath = None
    starttls: bool = False
    #: implicit TLS from the first byte (port 465), instead of STARTTLS
    tls: bool = False
    ca_bundle: OptionalPath = Field(None, description="PEM file of extra CAs to trust (a local relay)")
    from_address: str = "accessctl@localhost"
    timeout_s: float = Field(30.0, gt=0, le=600)
    #: tries per message (a refused or dropped send is tried again, then recorded as failed)
    max_attempts: int = Field(3, ge=1, le=10)
    retry_delay_s: float = Field(2.0, ge=0, le=600)

    @model_validator(mode="after")
    def _one_tls_mode(self) -> SmtpSettings:
        if self.starttls and self.tls:
            raise ValueError(
                "starttls and tls are exclusive: STARTTLS upgrades a plain connection, tls starts encrypted"
            )
        if "@" not in self.from_address:
            raise ValueError(f"from_address {self.from_address!r} is not an email address")
        return self


class WebSettings(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    base_url: str = "http://127.0.0.1:8080"
    #: steps a service or worker process runs at once (`serve --workers N`; 0: the API alone)
    workers: int = Field(4, ge=0, le=256)
    #: on SIGTERM, how long in-flight steps and requests get to finish before their leases are released
    shutdown_grace_s: float = Field(10.0, ge=0, le=3600)
    #: how long a worker's claim on a step lasts unrenewed (a killed worker's steps run again after it)
    lease_s: float = Field(60.0, ge=1, le=3600)
    #: the longest one step's provider call may take before it counts as a failed attempt
    step_timeout_s: float = Field(120.0, gt=0, le=3600)


class GuardSettings(Section):
    """The blast-radius guard: leaver jobs beyond either limit wait in quarantine for a person."""

    max_per_hour: int = Field(10, ge=1, description="leaver jobs per rolling hour before quarantine")
    max_share: float = Field(0.02, gt=0, le=1, description="share of active people per rolling hour")
    two_person: bool = Field(False, description="the releaser must differ from the requester")
    max_campaign_revokes: int = Field(
        50, ge=1, description="revocations one review campaign close queues before they wait in quarantine"
    )


#: the providers a campaign's scope may name
_SCOPE_PROVIDERS = ("okta", "entra", "google")


def _zone_problem(name: str) -> str | None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {name!r} (an IANA name such as Europe/Paris or UTC)"
    return None


class CampaignScope(BaseModel):
    """Which grants a campaign reviews; every filter given must match (none given: all grants)."""

    model_config = ConfigDict(extra="forbid")

    privileged_only: bool = False
    providers: list[str] = []
    #: shell-style patterns on the entitlement's name (``AWS*``, ``*admin*``)
    entitlements: list[str] = []
    kinds: list[Literal["group", "app", "role"]] = []
    #: shell-style patterns on the account's login
    accounts: list[str] = []
    #: the person's department (HR, else the account's), exactly
    departments: list[str] = []
    include_inherited: bool = True
    include_shared: bool = True

    @field_validator("providers")
    @classmethod
    def _known_providers(cls, value: list[str]) -> list[str]:
        unknown = [p for p in value if p not in _SCOPE_PROVIDERS]
        if unknown:
            raise ValueError(f"unknown provider {unknown[0]!r} (one of {', '.join(_SCOPE_PROVIDERS)})")
        return value


class CampaignSettings(BaseModel):
    """One ``[[reviews.campaigns]]`` entry."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    #: ``quarterly`` (09:00 on the first working day of Jan, Apr, Jul, Oct), a five-field cron
    #: expression (``0 9 1 * *``), or ``manual`` (started only by ``accessctl campaign start``)
    schedule: str = "quarterly"
    #: the schedule's time zone; "" = reviews.timezone
    timezone: str = ""
    #: the time of day of a ``quarterly`` run, HH:MM
    run_at: str = "09:00"
    scope: CampaignScope = CampaignScope()
    duration_days: int = Field(14, ge=1, le=365)
    #: a reminder to reviewers with open items every N days; 0 = none
    reminder_every_days: int = Field(3, ge=0, le=365)
    #: a reviewer still open N days after the due date is escalated to their manager
    escalate_after_days: int = Field(2, ge=0, le=365)
    #: what closing does with undecided items: keep them, revoke them, or escalate to the manager
    undecided: Literal["keep", "revoke", "escalate"] = "keep"
    #: only grants new or changed since the last certified campaign of this name
    delta_only: bool = False
    #: the campaign's owner (receives the summary at close); an email address
    owner: str = Field(min_length=3)
    #: who reviews when no manager (or entitlement owner) is known; "" = the owner
    fallback_reviewer: str = ""
    #: "no sign-in for N days" recommendation
    inactive_days: int = Field(90, ge=1, le=36500)
    #: "held by few peers": at most this share of the person's department holds it ...
    peer_share_percent: float = Field(10.0, gt=0, le=100)
    #: ... in a department of at least this many people
    peer_min_department: int = Field(5, ge=2)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if value != value.strip() or any(ch in value for ch in "\n\t"):
            raise ValueError(f"campaign name {value!r} has leading/trailing spaces or control characters")
        return value

    @field_validator("owner", "fallback_reviewer")
    @classmethod
    def _email(cls, value: str) -> str:
        if value and ("@" not in value or " " in value):
            raise ValueError(f"{value!r} is not an email address")
        return value.lower()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        problem = _zone_problem(value) if value else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("run_at")
    @classmethod
    def _time_of_day(cls, value: str) -> str:
        from datetime import time

        try:
            time.fromisoformat(value)
        except ValueError:
            raise ValueError(f"run_at {value!r} is not a time of day HH:MM") from None
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        value = " ".join(value.split())
        if value in ("quarterly", "manual"):
            return value
        from accessctl.reviews.schedule import cron_problem

        problem = cron_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class MoverCampaignSettings(BaseModel):
    """``[reviews.mover_campaign]``: the one-person campaign of a mover's privileged access, for their
    new manager (``accessctl.reviews.movers``; run by the review tick in serve)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    #: receives the summary at close, and reviews when the new manager is unknown; "" = the owner of
    #: the first [[reviews.campaigns]] entry
    owner: str = ""
    duration_days: int = Field(14, ge=1, le=365)
    reminder_every_days: int = Field(3, ge=0, le=365)
    escalate_after_days: int = Field(2, ge=0, le=365)
    undecided: Literal["keep", "revoke", "escalate"] = "keep"

    @field_validator("owner")
    @classmethod
    def _email(cls, value: str) -> str:
        if value and ("@" not in value or " " in value):
            raise ValueError(f"{value!r} is not an email address")
        return value.lower()


class ReviewsSettings(Section):
    #: the time zone of campaign schedules (a campaign may name its own)
    timezone: str = "UTC"
    #: days that are not working days: MM-DD every year, or YYYY-MM-DD once (weekends never are)
    holidays: list[str] = ["01-01"]
    #: a folder of Jinja2 templates overriding the built-in emails (same file names); "" = built-in
    templates_dir: OptionalPath = None
    campaigns: list[CampaignSettings] = []
    mover_campaign: MoverCampaignSettings = MoverCampaignSettings()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        problem = _zone_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: list[str]) -> list[str]:
        from datetime import date

        for day in value:
            try:
                date.fromisoformat(day if len(day) == 10 else f"2000-{day}")
            except ValueError:
                raise ValueError(f"holiday {day!r} is not MM-DD or YYYY-MM-DD") from None
        return value

    @field_validator("campaigns")
    @classmethod
    def _unique_names(cls, value: list[CampaignSettings]) -> list[CampaignSettings]:
        seen: set[str] = set()
        for campaign in value:
            if campaign.name in seen:
                raise ValueError(f"two campaigns are named {campaign.name!r}")
            seen.add(campaign.name)
        return value

    def campaign(self, name: str) -> CampaignSettings | None:
        return next((c for c in self.campaigns if c.name == name), None)

    def zone_of(self, campaign: CampaignSettings) -> str:
        return campaign.timezone or self.timezone


class LifecycleSettings(Section):
    okta_leaver_action: Literal["suspend", "deactivate"] = "suspend"
    remove: Literal["all", "privileged"] = "all"
    protected: list[str] = ["break-glass@*", "breakglass*"]
    guard: GuardSettings = GuardSettings()


SECTIONS: dict[str, type[Section]] = {
    "log": LogSettings,
    "okta": OktaSettings,
    "entra": EntraSettings,
    "google": GoogleSettings,
    "sync": SyncSettings,
    "hr": HrSettings,
    "smtp": SmtpSettings,
    "web": WebSettings,
    "lifecycle": LifecycleSettings,
    "reviews": ReviewsSettings,
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the configuration: where, which key, and why."""

    source: str  # the config file, or "environment ACCESSCTL_..." naming the variable
    key: str  # dotted key, e.g. "okta.api_token"
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.key}: {self.reason}"


class ConfigError(Exception):
    """The configuration cannot be used; ``problems`` names each reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class Settings(BaseSettings):
    """All settings.  Build with :func:`load_settings`, never at import time."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
        case_sensitive=False,
    )

    database_url: str = "sqlite:///accessctl.db"
    log: LogSettings = LogSettings()
    okta: OktaSettings = OktaSettings()
    entra: EntraSettings = EntraSettings()
    google: GoogleSettings = GoogleSettings()
    sync: SyncSettings = SyncSettings()
    hr: HrSettings = HrSettings()
    smtp: SmtpSettings = SmtpSettings()
    web: WebSettings = WebSettings()
    lifecycle: LifecycleSettings = LifecycleSettings()
    reviews: ReviewsSettings = ReviewsSettings()

    #: where the settings came from (None when no file was found and defaults apply)
    config_path: Path | None = Field(None, exclude=True)
    #: what an enabled provider lacks, found when loading; commands that use that provider refuse
    missing: list[Problem] = Field(default_factory=list, exclude=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Only what :func:`_load` hands over: it merges the TOML file and the environment (which wins)
        # itself, so it can say which of the two a wrong value came from.
        return (init_settings,)

    def secret_values(self) -> list[str]:
        """Every secret value loaded, for log redaction."""
        values = []
        for name in SECTIONS:
            section = getattr(self, name)
            for secret in section.SECRETS:
                value = getattr(section, secret)
                if value is not None and value.get_secret_value():
                    values.append(value.get_secret_value())
        for source in self.hr.sources.values():
            values += [s.get_secret_value() for s in source.secrets]
            if source.api_key_env and os.environ.get(source.api_key_env):
                values.append(os.environ[source.api_key_env])
        return values


def env_name(section: str | None, key: str) -> str:
    return f"{ENV_PREFIX}{section.upper()}_{key.upper()}" if section else f"{ENV_PREFIX}{key.upper()}"


def resolve_config_path(explicit: Path | None) -> tuple[Path, bool]:
    """The config file to read, and whether it was asked for (an asked-for file must exist)."""
    env = os.environ
    if explicit is not None:
        return explicit, True
    if env.get("ACCESSCTL_CONFIG"):
        return Path(env["ACCESSCTL_CONFIG"]), True
    return Path(DEFAULT_CONFIG_NAME), False


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(str(path), "(file)", f"not valid TOML: {exc}")]) from None
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start]
        reason = f"not UTF-8 text (byte {byte:#04x} at offset {exc.start}); TOML files are UTF-8"
        raise ConfigError([Problem(str(path), "(file)", reason)]) from None
    except OSError as exc:
        raise ConfigError([Problem(str(path), "(file)", f"cannot read: {exc.strerror}")]) from None


def _inline_secret_problems(raw: dict[str, Any], path: Path) -> list[Problem]:
    problems = []
    for name, section_cls in SECTIONS.items():
        section = raw.get(name)
        if not isinstance(section, dict):
            continue
        for secret in section_cls.SECRETS:
            if secret in section:
                problems.append(
                    Problem(
                        str(path),
                        f"{name}.{secret}",
                        f"secrets may not be written in the config file; set {env_name(name, secret)} "
                        f"or name a file in {name}.{secret}_file",
                    )
                )
    return problems


_MISSING = object()

#: what a list setting looks like in an environment variable
LIST_FORMS = 'a JSON list like ["a*", "b*"] or a comma-separated list like a*,b*'


@dataclass(frozen=True, slots=True)
class _Undecodable:
    """An environment value that had to be JSON and is not; validation then names it with its key."""

    error: str


def _is_str_list(field: FieldInfo | None) -> bool:
    return field is not None and get_origin(field.annotation) is list and get_args(field.annotation) == (str,)


class _EnvSource(EnvSettingsSource):
    """``ACCESSCTL_*`` variables.  A list setting may be a JSON list or comma-separated; a value that is
    not valid JSON is left for validation to report against its key (pydantic-settings would raise an
    error naming only the section)."""

    def decode_complex_value(self, field_name: str, field: FieldInfo | None, value: Any) -> Any:
        if isinstance(value, str) and _is_str_list(field) and not value.lstrip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        try:
            return super().decode_complex_value(field_name, field, value)  # type: ignore[arg-type]
        except ValueError as exc:
            return _Undecodable(str(exc))


def _environment_values() -> tuple[dict[str, Any], list[Problem]]:
    try:
        return _EnvSource(Settings)(), []
    except SettingsError as exc:
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        return {}, [Problem("environment", "(environment)", f"{exc}{cause}")]


def _env_var_for(loc: tuple[str, ...], env_values: dict[str, Any]) -> str | None:
    """The ``ACCESSCTL_*`` variable the value at ``loc`` came from, or None when it came from the file."""
    if not loc or loc[0] not in env_values:
        return None
    if loc[0] in SECTIONS and len(loc) >= 2 and isinstance(env_values[loc[0]], dict):
        if loc[1] not in env_values[loc[0]]:
            return None
        specific = env_name(loc[0], loc[1])
        if specific in {key.upper() for key in os.environ}:
            return specific
    return env_name(None, loc[0])


def _source_of(loc: tuple[str, ...], env_values: dict[str, Any], file_source: str) -> str:
    env_var = _env_var_for(loc, env_values)
    return f"environment {env_var}" if env_var else file_source


def _is_list_setting(loc: tuple[str, ...]) -> bool:
    if len(loc) < 2 or loc[0] not in SECTIONS:
        return False
    return _is_str_list(SECTIONS[loc[0]].model_fields.get(loc[1]))


def _validation_problems(
    exc: ValidationError, file_source: str, env_values: dict[str, Any]
) -> tuple[list[Problem], list[tuple[str, ...]]]:
    problems = []
    locs = []
    for error in exc.errors():
        loc = tuple(str(part) for part in error["loc"])
        env_var = _env_var_for(loc, env_values)
        reason = error["msg"]
        if isinstance(error.get("input"), _Undecodable):
            reason = f"not valid JSON ({error['input'].error})"
        if error["type"] == "extra_forbidden":
            reason = "unknown setting (see config.example.toml for the known ones)"
        if env_var and _is_list_setting(loc):
            reason += f"; expected {LIST_FORMS}"
        source = f"environment {env_var}" if env_var else file_source
        problems.append(Problem(source, ".".join(loc) or "(file)", reason))
        locs.append(loc)
    return problems, locs


def _prune(values: dict[str, Any], loc: tuple[str, ...]) -> bool:
    """Drop the setting a problem was found in, so the rest can still be checked."""
    if not loc:
        return False
    section = values.get(loc[0])
    if loc[0] in SECTIONS and len(loc) >= 2 and isinstance(section, dict):
        return section.pop(loc[1], _MISSING) is not _MISSING
    return values.pop(loc[0], _MISSING) is not _MISSING


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


#: where the value of a (section, key) came from: the config file or an ACCESSCTL_* variable
SourceOf = Callable[[str, str], str]


def _load_secret_files(settings: Settings, base_dir: Path, source_of: SourceOf) -> list[Problem]:
    problems = []
    for name in SECTIONS:
        section = getattr(settings, name)
        for secret in section.SECRETS:
            file_field = f"{secret}_file"
            file_value: Path | None = getattr(section, file_field)
            if getattr(section, secret) is not None or not file_value or str(file_value) == "":
                continue
            path = file_value if file_value.is_absolute() else base_dir / file_value
            try:
                content = path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                problems.append(
                    Problem(
                        source_of(name, file_field), f"{name}.{file_field}", f"cannot read {path}: {reason}"
                    )
                )
                continue
            if not content:
                problems.append(
                    Problem(source_of(name, file_field), f"{name}.{file_field}", f"{path} is empty")
                )
                continue
            setattr(section, secret, SecretStr(content))
            setattr(section, file_field, path)
    return problems


def _load_hr_source_secrets(settings: Settings, base_dir: Path, source_of: SourceOf) -> list[Problem]:
    """Each ``[hr.sources.NAME]``'s secrets, from the variable it names or its file (one or two)."""
    problems = []
    for name, source in settings.hr.sources.items():
        key = f"hr.sources.{name}"
        where = source_of("hr", "sources")
        if source.secret_env:
            text = os.environ.get(source.secret_env, "")
            origin = f"environment variable {source.secret_env}"
        elif source.secret_file is not None:
            path = source.secret_file if source.secret_file.is_absolute() else base_dir / source.secret_file
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                problems.append(Problem(where, f"{key}.secret_file", f"cannot read {path}: {reason}"))
                continue
            origin = str(path)
        else:
            problems.append(Problem(where, key, "no secret: set secret_env or secret_file"))
            continue
        secrets = text.split()
        if not 1 <= len(secrets) <= 2:
            reason = f"{origin} must hold one secret, or two while rotating (it holds {len(secrets)})"
            problems.append(Problem(where, key, reason))
            continue
        from accessctl.hr.signature import SecretError, WebhookSecret

        try:
            for secret in secrets if source.vendor == "standard" else ():
                WebhookSecret.parse(secret)
        except SecretError as exc:
            problems.append(Problem(where, key, f"{origin}: {exc}"))
            continue
        source.secrets = [SecretStr(secret) for secret in secrets]
    return problems


def _relative_paths(settings: Settings, base_dir: Path) -> None:
    for name in SECTIONS:
        section = getattr(settings, name)
        for field_name in ("ca_bundle", "roster_file", "templates_dir"):
            value = getattr(section, field_name, None)
            if isinstance(value, Path) and str(value) and not value.is_absolute():
                setattr(section, field_name, base_dir / value)


def _required_problems(settings: Settings, source_of: SourceOf) -> list[Problem]:
    """What an enabled provider cannot work without."""
    problems = []
    required = {
        "okta": ("org_url", "api_token"),
        "entra": ("tenant_id", "client_id", "client_secret"),
        "google": ("admin_email", "service_account_key"),
    }
    for name, keys in required.items():
        section = getattr(settings, name)
        if not section.enabled:
            continue
        for key in keys:
            if getattr(section, key) in (None, ""):
                if key in section.SECRETS:
                    reason = f"missing: set {env_name(name, key)} or {name}.{key}_file"
                else:
                    reason = f"missing: {name} is enabled and needs it (or set {env_name(name, key)})"
                problems.append(Problem(source_of(name, "enabled"), f"{name}.{key}", reason))
        if name == "okta" and settings.okta.org_url and not settings.okta.org_url.startswith("https://"):
            reason = "must start with https:// (the Okta SDK refuses any other URL)"
            problems.append(Problem(source_of(name, "org_url"), "okta.org_url", reason))
        if section.ca_bundle is not None and str(section.ca_bundle):
            reason = ca_bundle_problem(section.ca_bundle)
            if reason:
                problems.append(Problem(source_of(name, "ca_bundle"), f"{name}.ca_bundle", reason))
    return problems


def ca_bundle_problem(path: Path) -> str | None:
    """Why ``path`` cannot serve as a bundle of CA certificates (the connectors load it into an SSL
    context just so), or None."""
    import ssl

    if not path.exists():
        return f"no such file: {path}"
    if not path.is_file():
        return f"{path} is not a file"
    try:
        ssl.create_default_context(cafile=str(path))
    except ssl.SSLError as exc:
        return f"{path} holds no PEM certificate ({exc.reason or exc})"
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}"
    except UnicodeDecodeError:
        return f"{path} holds no PEM certificate (not text)"
    return None


def _database_url_problems(settings: Settings, source_of_url: str) -> list[Problem]:
    from accessctl.store.engine import url_problem

    reason = url_problem(settings.database_url)
    return [Problem(source_of_url, "database_url", reason)] if reason else []


def load_settings(config_path: Path | None = None, *, strict: bool = False) -> Settings:
    """Read the config file (if any) and the environment into :class:`Settings`.

    Raises :class:`ConfigError` naming every problem.  With ``strict``, what an enabled provider
    lacks (a missing secret, say) is an error too; otherwise it is left for :func:`check_settings`
    and for the commands that use that provider.
    """
    settings = _load(config_path)
    if strict and settings.missing:
        raise ConfigError(settings.missing)
    return settings


def check_settings(config_path: Path | None = None) -> list[Problem]:
    """Every problem with the configuration (an empty list when it is usable), the place of a SQLite
    store included (checked without creating anything)."""
    from accessctl.store.engine import sqlite_location_problem

    try:
        settings = _load(config_path)
    except ConfigError as exc:
        return exc.problems
    problems = list(settings.missing)
    reason = sqlite_location_problem(settings.database_url)
    if reason:
        source = str(settings.config_path) if settings.config_path else "defaults + environment"
        problems.append(Problem(source, "database_url", reason))
    return problems


#: the providers accessctl syncs, in the order it names them
PROVIDERS = ("okta", "entra", "google")


def no_provider_problem(settings: Settings) -> Problem | None:
    """That no provider is enabled (so a sync has nothing to do), with how to enable one; else None."""
    if any(getattr(settings, name).enabled for name in PROVIDERS):
        return None
    if settings.config_path is not None:
        source = str(settings.config_path)
    else:
        source = f"no config file (./{DEFAULT_CONFIG_NAME}, --config or $ACCESSCTL_CONFIG)"
    return Problem(
        source,
        "(providers)",
        "no provider is enabled: set enabled = true under [okta], [entra] or [google] (see "
        "config.example.toml) or ACCESSCTL_OKTA_ENABLED=true; `accessctl emulate --write-config "
        "accessctl.toml` writes a config for local emulators",
    )


def require_a_provider(settings: Settings) -> None:
    """Raise ConfigError when no provider is enabled: a sync of nothing is not a success."""
    problem = no_provider_problem(settings)
    if problem is not None:
        raise ConfigError([problem])


def _load(config_path: Path | None) -> Settings:
    """The settings, with what enabled providers lack in ``missing``; raises ConfigError naming every
    other problem (and those) when there is any other."""
    path, asked = resolve_config_path(config_path)
    raw: dict[str, Any] = {}
    source = str(path)
    if path.exists():
        raw = _read_toml(path)
    elif asked:
        raise ConfigError([Problem(source, "(file)", "config file not found")])
    else:
        source = "defaults + environment"
    problems = _inline_secret_problems(raw, path)
    for problem in problems:  # refused, and not used: the rest is still checked
        section, secret = problem.key.split(".")
        raw[section] = {k: v for k, v in raw[section].items() if k != secret}
    env_values, env_problems = _environment_values()
    problems += env_problems
    values = copy.deepcopy(_merge(raw, env_values))  # pruned below; env_values stays whole
    settings: Settings | None = None
    # Each round drops the settings found wrong, so every problem is named, not just the first kind.
    for _ in range(10):
        try:
            settings = Settings(**values)
            break
        except ValidationError as exc:
            found, locs = _validation_problems(exc, source, env_values)
            problems += [p for p in found if p not in problems]
            if not [loc for loc in locs if _prune(values, loc)]:
                break
    if settings is None:
        raise ConfigError(problems)
    settings.config_path = path if path.exists() else None
    base_dir = path.parent if path.exists() else Path.cwd()

    def source_of(section: str, key: str) -> str:
        return _source_of((section, key), env_values, source)

    _relative_paths(settings, base_dir)
    problems += _load_hr_source_secrets(settings, base_dir, source_of)
    problems += _database_url_problems(settings, _source_of(("database_url",), env_values, source))
    problems += _load_secret_files(settings, base_dir, source_of)
    missing = _required_problems(settings, source_of)
    if problems:
        raise ConfigError(problems + missing)
    settings.missing = missing
    return settings
