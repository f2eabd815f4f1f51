"""The connector interface, its value types and its error tree.

A connector returns one page per call; the sync runner (``accessctl.sync``) owns the loop, the
checkpoints and the retries.  Connectors classify every failure once, where the network call is
made, into the small error tree below; nothing above a connector sees an SDK exception.  A
connector never returns an empty result in place of an error, and an MFA state it could not read
is UNKNOWN, never NOT_ENROLLED.

Every action is idempotent and reports APPLIED or ALREADY_DONE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Generic, Literal, Protocol, TypeVar, runtime_checkable

T = TypeVar("T")


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DEPROVISIONED = "deprovisioned"


class MfaState(StrEnum):
    ENROLLED = "ENROLLED"
    NOT_ENROLLED = "NOT_ENROLLED"
    UNKNOWN = "UNKNOWN"


class EntitlementKind(StrEnum):
    GROUP = "group"
    APP = "app"
    ROLE = "role"


class ActionResult(StrEnum):
    APPLIED = "APPLIED"
    ALREADY_DONE = "ALREADY_DONE"


# ----------------------------------------------------------------------------- value types


@dataclass(slots=True)
class AccountRecord:
    """One account as the provider holds it (times are timezone-aware UTC)."""

    external_id: str
    login: str
    status: AccountStatus
    email: str | None = None
    aliases: list[str] = field(default_factory=list)
    display_name: str = ""
    employee_id: str | None = None
    manager_external_id: str | None = None
    manager_login: str | None = None
    department: str | None = None
    title: str | None = None
    created_at: datetime | None = None
    last_login_at: datetime | None = None
    #: MFA when the account listing carries it (Google's isEnrolledIn2Sv); None when it needs its own call
    mfa: MfaRecord | None = None
    #: the provider says this is not a person (Graph userType, Okta user type, Google no-login)
    non_human_hint: bool = False


@dataclass(slots=True)
class MfaRecord:
    """``methods`` are enrolled methods only (factor types, registered methods); ``enforced`` is whether
    the provider requires MFA of this account where it says so per account (Google's isEnforcedIn2Sv),
    None where it does not.  Enforced-but-not-enrolled stays NOT_ENROLLED."""

    account_external_id: str
    state: MfaState
    methods: list[str] = field(default_factory=list)
    enforced: bool | None = None


@dataclass(slots=True)
class AccountDetails:
    """What a per-account lookup found (Okta: factors and admin roles need a call per user).

    ``grants`` are the per-account grants the lookup covers (e.g. admin roles); ``complete`` is
    False when they could not be read in full: then they are not swept.  MFA and grants are read
    independently: MFA the lookup could not read is UNKNOWN whatever ``complete`` says, and MFA that
    was read is kept when the grants could not be.
    """

    account_external_id: str
    mfa: MfaRecord
    grants: list[GrantRecord] = field(default_factory=list)
    complete: bool = True
    requests: int = 1
    rate: RateInfo | None = None


@dataclass(slots=True)
class EntitlementRecord:
    external_id: str
    kind: EntitlementKind
    name: str
    description: str | None = None
    #: the provider itself marks this as privileged (admin roles always are)
    privileged: bool = False
    owner: str | None = None
    #: group-kind entitlements whose membership must be listed with list_grants
    has_members: bool = True


@dataclass(slots=True)
class GrantRecord:
    account_external_id: str
    entitlement_kind: EntitlementKind
    entitlement_external_id: str
    #: held through a nested group or a group assigned to an app, not directly
    inherited: bool = False
    #: the external id of the group it is inherited through
    via: str | None = None
    #: what the grant is bound to, where the provider binds it to part of the org: the resource set
    #: (``iam...``) of an Okta custom admin role assignment; None: the whole org, or no such binding.
    #: Giving the grant back means giving it back over the same scope.
    scope: str | None = None


@dataclass(slots=True)
class RateInfo:
    """The provider's request budget as its last response stated it (Okta's X-Rate-Limit-*)."""

    limit: int
    remaining: int
    reset_at: float  # epoch seconds


@dataclass(slots=True)
class Page(Generic[T]):
    """One page of a listing; ``next_cursor`` None means the listing is complete."""

    items: list[T]
    next_cursor: str | None = None
    requests: int = 1
    rate: RateInfo | None = None
    #: on the last page of list_grants: the groups the entitlement is held through directly (nested
    #: in the group, assigned to the app or role), whose holders its inherited grants come from;
    #: None where the connector does not say
    held_through: list[str] | None = None


@dataclass(slots=True)
class ChangeSet:
    """What changed since a cursor, from the provider's delta or event feed.

    ``accounts`` are changed accounts (full records where the feed carries them); ``account_ids``
    changed accounts whose record must be fetched; ``removed_account_ids`` accounts gone;
    ``entitlement_ids`` entitlements whose membership changed.  ``cursor`` is where to resume.
    """

    cursor: str
    accounts: list[AccountRecord] = field(default_factory=list)
    account_ids: set[str] = field(default_factory=set)
    removed_account_ids: set[str] = field(default_factory=set)
    entitlement_ids: set[str] = field(default_factory=set)
    more: bool = False
    requests: int = 1
    #: whether the runner should re-read the grants of each changed account (list_account_grants);
    #: False where membership changes arrive as entitlement_ids instead (Graph's groups delta)
    refresh_account_grants: bool = True


@dataclass(slots=True)
class LockState:
    """What a read-back through the provider's public API shows of one account after a lockout.

    ``suspended`` is whether sign-in is blocked (Okta: SUSPENDED or DEPROVISIONED; Entra:
    accountEnabled false; Google: suspended).  ``open_credentials`` name what still lets someone in
    without a password prompt: OAuth grants and tokens (``token:<client id>``), app passwords
    (``app_password:<id>``), unused backup codes (``backup_codes:<count>``).  ``sessions_readable``
    is whether the provider lets anyone read an account's sessions: where it does not (Okta,
    Google), a sign-out cannot be verified, only sent.  ``sessions_valid_from`` is where the
    provider states from when sessions and refresh tokens count (Entra's
    signInSessionsValidFromDateTime), None elsewhere.  ``grants`` are what the account still holds
    (list_account_grants).
    """

    account_external_id: str
    suspended: bool
    open_credentials: list[str] = field(default_factory=list)
    sessions_readable: bool = False
    grants: list[GrantRecord] = field(default_factory=list)
    requests: int = 1
    sessions_valid_from: datetime | None = None

    @property
    def locked(self) -> bool:
        """Suspended and nothing left that signs in on its own (grants are the plan's to judge)."""
        return self.suspended and not self.open_credentials

    @property
    def direct_grants(self) -> list[GrantRecord]:
        """The grants held by the account itself, the only ones that can be removed from it."""
        return [g for g in self.grants if not g.inherited and g.via is None]

    def sessions_revoked_since(self, sent_at: datetime) -> bool:
        """Whether the provider states sessions revoked at or after ``sent_at`` (whole seconds, as
        Graph keeps them); False where it states nothing."""
        return self.sessions_valid_from is not None and self.sessions_valid_from >= sent_at.replace(
            microsecond=0
        )


@dataclass(slots=True)
class PermissionReport:
    """What the configured credentials may do, as the provider states it (found out read-only).

    ``acting_as`` names who the credentials act as; ``granted`` what they hold (Okta admin roles,
    Graph application permissions, Google OAuth scopes); ``missing`` one line per permission sync or
    deprovisioning needs and lacks: ``"<permission>: <what needs it>"``.
    """

    provider: str
    acting_as: str
    granted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing


def missing_permissions(granted: set[str], needs: tuple[tuple[str, frozenset[str]], ...]) -> list[str]:
    """For each need (what needs it, the permissions any one of which will do), one line naming the
    least of them when the credentials hold none."""
    return [f"{' or '.join(sorted(any_of))}: {purpose}" for purpose, any_of in needs if not granted & any_of]


@dataclass(frozen=True, slots=True)
class EntitlementRef:
    kind: EntitlementKind
    external_id: str


# ----------------------------------------------------------------------------- errors


class ConnectorError(Exception):
    """A provider call failed.  ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, provider: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.status = status


class TransientError(ConnectorError):
    """Worth retrying: throttled, 5xx, timeout, connection reset.  ``retry_after`` in seconds if the
    provider said (Retry-After, X-Rate-Limit-Reset)."""

    def __init__(
        self, message: str, *, provider: str = "", status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, provider=provider, status=status)
        self.retry_after = retry_after

    @property
    def throttled(self) -> bool:
        """The provider said "slow down" (every connector classifies its throttling as status 429);
        a timeout or reset is not throttling, whatever its message says."""
        return self.status == 429


class NotFoundError(ConnectorError):
    """The object does not exist (any more)."""


class AuthError(ConnectorError):
    """Our credentials were refused (401, invalid client, bad token)."""


class PermissionDeniedError(ConnectorError):
    """Authenticated, but not allowed to do this (403 other than throttling)."""


# ----------------------------------------------------------------------------- the interface


@runtime_checkable
class Connector(Protocol):
    """What every provider connector offers.  All calls are async; one page per call."""

    provider: str
    #: where MFA state comes from: the account listing itself (Google), a bulk report listed with
    #: list_mfa (Entra userRegistrationDetails), or a lookup per account with get_account_details (Okta)
    mfa_source: Literal["listing", "bulk", "per_account"]
    #: whom an inherited grant's ``via`` group passes the entitlement on to, so the runner can derive
    #: an entitlement's inherited grants from the store when only a group it is held through changed:
    #: "holders" (everyone holding the via group, directly or through nesting: Graph's
    #: transitiveMembers), "members" (the via group's direct members: each nested group is expanded and
    #: named, as Google's listing does), or None (the provider names no via group: re-list instead)
    inherited_via: Literal["holders", "members"] | None

    async def list_accounts(self, cursor: str | None) -> Page[AccountRecord]: ...

    async def list_entitlements(self, cursor: str | None) -> Page[EntitlementRecord]: ...

    async def list_grants(self, entitlement: EntitlementRef, cursor: str | None) -> Page[GrantRecord]:
        """Who holds ``entitlement`` (direct and inherited, marked)."""
        ...

    async def list_account_grants(self, account_external_id: str) -> list[GrantRecord]:
        """Everything one account holds (used by incremental sync and before acting)."""
        ...

    async def list_mfa(self, cursor: str | None) -> Page[MfaRecord]:
        """The bulk MFA report (mfa_source "bulk" only)."""
        ...

    async def get_account_details(self, account_external_id: str, *, grants: bool = True) -> AccountDetails:
        """MFA and per-account grants of one account (mfa_source "per_account" only); a failed
        lookup gives UNKNOWN MFA and complete=False, never NOT_ENROLLED.  ``grants=False``: MFA
        only, no grants (the caller has just read the account's grants with list_account_grants)."""
        ...

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        """Changes since ``cursor`` (None: establish a cursor for 'now')."""
        ...

    async def find_account(
        self, *, email: str | None = None, external_id: str | None = None
    ) -> AccountRecord | None:
        """A live lookup (the store may be stale); None when no such account."""
        ...

    async def suspend_account(self, external_id: str) -> ActionResult: ...

    async def revoke_sessions(self, external_id: str) -> ActionResult:
        """End sessions and revoke OAuth tokens (and app passwords where the provider has them)."""
        ...

    async def remove_grant(self, grant: GrantRecord) -> ActionResult: ...

    async def restore_account(self, external_id: str) -> ActionResult: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class VerifiesLockout(Protocol):
    """A connector that can read back, through the provider's public API, what a lockout left open
    (every connector: Okta, Entra, Google).  Separate from :class:`Connector` so connectors without
    it (test doubles, future providers) still satisfy that protocol."""

    async def verify_locked(self, external_id: str) -> LockState:
        """Raises NotFoundError when the account is gone."""
        ...


@runtime_checkable
class Restores(Protocol):
    """A connector that can give back what a leaver took (the restore use case): sign-in through
    ``restore_account`` and each grant of the snapshot through ``add_grant``.  Both idempotent,
    APPLIED or ALREADY_DONE."""

    async def restore_account(self, external_id: str) -> ActionResult: ...

    async def add_grant(self, grant: GrantRecord) -> ActionResult:
        """Give ``grant`` back to its account directly; ALREADY_DONE when the account holds it."""
        ...


@runtime_checkable
class ChecksPermissions(Protocol):
    """A connector that can say, read-only, whether its credentials hold what sync and deprovisioning
    need (``accessctl config check --live``)."""

    async def check_permissions(self) -> PermissionReport: ...


@runtime_checkable
class Deactivates(Protocol):
    """A connector whose provider has a stronger block than suspension (Okta's deactivate, for
    ``lifecycle.okta_leaver_action = "deactivate"``)."""

    async def deactivate_account(self, external_id: str) -> ActionResult: ...
