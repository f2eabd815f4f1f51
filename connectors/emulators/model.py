"""The synthetic organisation that every emulator serves.

One generator (``connectors.emulators.generate``) fills these types; each provider emulator
loads its :class:`Directory` into its own in-memory state.  Keys are stable, deterministic
strings per provider (e.g. Okta ``00u...`` ids are derived from them by the emulator).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

AccountStatus = Literal["active", "suspended", "deprovisioned"]
EmploymentType = Literal["employee", "contractor"]
HrStatus = Literal["active", "terminated"]
# MFA factor kinds; each emulator maps them onto its provider's names
# (Okta factorType/provider, Graph methodsRegistered, Google isEnrolledIn2Sv).
MfaFactor = Literal["push", "totp", "sms", "webauthn", "email", "call"]


@dataclass(slots=True)
class HrPerson:
    """One row of the HR roster (the source of truth for who works here)."""

    employee_id: str
    first_name: str
    last_name: str
    email: str  # primary corporate email, lower case
    department: str
    title: str
    manager_employee_id: str | None
    employment_type: EmploymentType
    status: HrStatus
    hire_date: date
    termination_date: date | None = None
    location: str = "Remote"


@dataclass(slots=True)
class OAuthGrant:
    """A third-party app the account has granted OAuth access (Google tokens.list, Okta grants)."""

    client_id: str
    app_name: str
    scopes: list[str]
    native_app: bool = False
    anonymous: bool = False


@dataclass(slots=True)
class AppPassword:
    """An application-specific password (Google asps.list)."""

    code_id: int
    name: str
    created: datetime
    last_used: datetime | None = None


@dataclass(slots=True)
class Account:
    """One account in one provider.  ``person_employee_id`` is None for orphans and shared accounts.

    ``login`` is the provider's primary login/UPN/primaryEmail; ``aliases`` are other addresses
    (proxyAddresses, Google aliases, Okta secondEmail).  ``employee_id`` is what the provider
    itself holds (may be missing even when a person exists).
    """

    key: str
    login: str
    first_name: str
    last_name: str
    status: AccountStatus
    created: datetime
    last_updated: datetime
    last_login: datetime | None
    person_employee_id: str | None = None
    employee_id: str | None = None
    email: str | None = None
    aliases: list[str] = field(default_factory=list)
    department: str | None = None
    title: str | None = None
    manager_key: str | None = None  # key of the manager's account in the same provider
    mfa_factors: list[MfaFactor] = field(default_factory=list)
    is_shared: bool = False  # shared mailbox / it-admin@ style
    is_service: bool = False  # build-bot style non-human account
    user_type: str = "Member"  # Graph userType: Member / Guest
    # what revocation takes away (filled for Google accounts; other providers may adopt them)
    oauth_grants: list[OAuthGrant] = field(default_factory=list)
    app_passwords: list[AppPassword] = field(default_factory=list)
    backup_codes: list[str] = field(default_factory=list)  # unused 2SV backup codes, 8 digits each

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(slots=True)
class Group:
    """A group; ``member_keys`` are direct account members, ``child_group_keys`` nested groups
    (only Entra and Google nest; Okta groups are flat)."""

    key: str
    name: str
    description: str = ""
    privileged: bool = False
    member_keys: list[str] = field(default_factory=list)
    child_group_keys: list[str] = field(default_factory=list)
    owner_keys: list[str] = field(default_factory=list)
    email: str | None = None  # Google groups have one
    kind: str = "OKTA_GROUP"  # Okta: OKTA_GROUP / APP_GROUP / BUILT_IN ("Everyone")
    role_assignable: bool = False  # Entra isAssignableToRole (privileged groups are as well)
    created: datetime | None = None
    last_updated: datetime | None = None


@dataclass(slots=True)
class App:
    """An application; ``assigned_keys`` are accounts assigned directly,
    ``assigned_group_keys`` groups assigned to the app."""

    key: str
    name: str  # Okta app name (e.g. "salesforce"), Graph servicePrincipal displayName
    label: str
    privileged: bool = False
    assigned_keys: list[str] = field(default_factory=list)
    assigned_group_keys: list[str] = field(default_factory=list)
    app_role_id: str | None = None  # Graph appRoleId used for assignments


@dataclass(slots=True)
class Role:
    """An admin role (Okta admin role type or custom role, Entra directory role, Google admin role).

    ``assigned_keys`` hold it directly; every (transitive) member of an ``assigned_group_keys``
    group holds it through that group (Okta group role assignments, Entra role-assignable groups,
    Google assigneeType "group").  ``custom`` marks an Okta custom role (``/api/v1/iam/roles``),
    whose ``name`` is its label; standard Okta roles are named by type (SUPER_ADMIN ...).
    """

    key: str
    name: str  # e.g. SUPER_ADMIN, "Global Administrator", "_SEED_ADMIN_ROLE", "Access Reviewer"
    assigned_keys: list[str] = field(default_factory=list)
    assigned_group_keys: list[str] = field(default_factory=list)
    custom: bool = False
    description: str = ""


@dataclass(slots=True)
class Directory:
    """What one provider holds."""

    provider: Literal["okta", "entra", "google"]
    domain: str
    accounts: list[Account] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    apps: list[App] = field(default_factory=list)
    roles: list[Role] = field(default_factory=list)


@dataclass(slots=True)
class SyntheticOrg:
    seed: int
    domain: str
    people: list[HrPerson]
    okta: Directory
    entra: Directory
    google: Directory

    def directory(self, provider: str) -> Directory:
        return {"okta": self.okta, "entra": self.entra, "google": self.google}[provider]
