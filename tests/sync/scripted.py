"""A scripted in-memory connector for unit tests of the sync runner (the runner's own logic:
paging, checkpoints, resume, sweeps).  Provider fidelity is tested against the emulators."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from connectors.base import (
    AccountDetails,
    AccountRecord,
    AccountStatus,
    ActionResult,
    ChangeSet,
    EntitlementKind,
    EntitlementRecord,
    EntitlementRef,
    GrantRecord,
    MfaRecord,
    MfaState,
    Page,
    RateInfo,
    TransientError,
)


@dataclass
class ScriptedConnector:
    provider: str = "okta"
    mfa_source: str = "per_account"
    inherited_via: str | None = None
    accounts: dict[str, AccountRecord] = field(default_factory=dict)
    groups: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)  # group -> [(account, inherited)]
    factors: dict[str, list[str]] = field(default_factory=dict)
    page_size: int = 2
    fail: dict[str, int] = field(default_factory=dict)  # operation -> failures left
    fail_after_pages: dict[str, int] = field(default_factory=dict)  # operation -> pages before failing
    rate_limit: int = 0  # when set, pages report a budget of this many per 1-second window
    #: operation -> what its next call raises (once): a bug (KeyError), KeyboardInterrupt, ...
    crash: dict[str, BaseException] = field(default_factory=dict)
    #: operation -> calls that pass before every later call hangs (until cancelled)
    hang_after: dict[str, int] = field(default_factory=dict)
    #: the change feed (ids of changed accounts, oldest first); None: the provider has none
    feed: list[str] | None = None
    #: accounts the bulk MFA report (mfa_source "bulk") leaves out
    mfa_unreported: set[str] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    _window: tuple[int, int] = (0, 0)

    async def _call(self, operation: str) -> None:
        """Record the call; hang or crash when scripted to, then fail like _maybe_fail."""
        if operation in self.hang_after:
            if self.hang_after[operation] == 0:
                self.calls.append(f"{operation}:hung")
                await asyncio.Event().wait()
            self.hang_after[operation] -= 1
        if operation in self.crash:
            self.calls.append(operation)
            raise self.crash.pop(operation)
        self._maybe_fail(operation)

    def _maybe_fail(self, operation: str) -> None:
        self.calls.append(operation)
        pages_left = self.fail_after_pages.get(operation)
        if pages_left is not None:
            if pages_left == 0:
                raise TransientError(f"{operation}: injected 503", status=503)
            self.fail_after_pages[operation] = pages_left - 1
        if self.fail.get(operation, 0) > 0:
            self.fail[operation] -= 1
            raise TransientError(f"{operation}: injected 503", status=503)

    def _rate(self) -> RateInfo | None:
        if not self.rate_limit:
            return None
        now = time.time()
        window = int(now)
        start, used = self._window
        if start != window:
            start, used = window, 0
        used += 1
        self._window = (start, used)
        if used > self.rate_limit:
            raise TransientError("over budget", status=429, retry_after=start + 1 - now)
        return RateInfo(self.rate_limit, self.rate_limit - used, start + 1)

    def _page(self, items: list, cursor: str | None) -> Page:
        start = int(cursor or 0)
        end = start + self.page_size
        return Page(items[start:end], str(end) if end < len(items) else None, rate=self._rate())

    async def list_accounts(self, cursor: str | None) -> Page[AccountRecord]:
        await self._call("accounts")
        return self._page(sorted(self.accounts.values(), key=lambda a: a.external_id), cursor)

    async def list_entitlements(self, cursor: str | None) -> Page[EntitlementRecord]:
        await self._call("entitlements")
        items = [EntitlementRecord(g, EntitlementKind.GROUP, g) for g in sorted(self.groups)]
        items.append(EntitlementRecord("SUPER_ADMIN", EntitlementKind.ROLE, "Super admin", has_members=False))
        return self._page(items, cursor)

    async def list_grants(self, entitlement: EntitlementRef, cursor: str | None) -> Page[GrantRecord]:
        await self._call("grants")
        members = [
            GrantRecord(
                account,
                EntitlementKind.GROUP,
                entitlement.external_id,
                inherited,
                "parent" if inherited else None,
            )
            for account, inherited in self.groups[entitlement.external_id]
        ]
        return self._page(members, cursor)

    async def list_account_grants(self, account_external_id: str) -> list[GrantRecord]:
        """Everything the account holds: its groups and, as the lookups say, its admin role."""
        roles = [GrantRecord(account_external_id, EntitlementKind.ROLE, "SUPER_ADMIN")]
        return [
            GrantRecord(account_external_id, EntitlementKind.GROUP, group, inherited)
            for group, members in self.groups.items()
            for account, inherited in members
            if account == account_external_id
        ] + (roles if "admin" in account_external_id else [])

    def _mfa(self, account_external_id: str) -> MfaRecord:
        factors = self.factors.get(account_external_id, [])
        state = MfaState.ENROLLED if factors else MfaState.NOT_ENROLLED
        return MfaRecord(account_external_id, state, factors)

    async def list_mfa(self, cursor: str | None) -> Page[MfaRecord]:
        if self.mfa_source != "bulk":
            raise NotImplementedError
        await self._call("mfa")
        reported = sorted(a for a in self.accounts if a not in self.mfa_unreported)
        return self._page([self._mfa(a) for a in reported], cursor)

    async def get_account_details(self, account_external_id: str, *, grants: bool = True) -> AccountDetails:
        await self._call("details")
        held = (
            [GrantRecord(account_external_id, EntitlementKind.ROLE, "SUPER_ADMIN")]
            if grants and "admin" in account_external_id
            else []
        )
        return AccountDetails(account_external_id, self._mfa(account_external_id), held)

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        if self.feed is None:
            raise NotImplementedError
        await self._call("changes")
        start = len(self.feed) if cursor is None else int(cursor)
        changed = set(self.feed[start:])
        gone = {a for a in changed if a not in self.accounts}
        return ChangeSet(str(len(self.feed)), account_ids=changed - gone, removed_account_ids=gone)

    async def find_account(
        self, *, email: str | None = None, external_id: str | None = None
    ) -> AccountRecord | None:
        return self.accounts.get(external_id or "")

    async def suspend_account(self, external_id: str) -> ActionResult:
        raise NotImplementedError

    async def revoke_sessions(self, external_id: str) -> ActionResult:
        raise NotImplementedError

    async def remove_grant(self, grant: GrantRecord) -> ActionResult:
        raise NotImplementedError

    async def restore_account(self, external_id: str) -> ActionResult:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass


def account(external_id: str, status: AccountStatus = AccountStatus.ACTIVE) -> AccountRecord:
    return AccountRecord(external_id=external_id, login=f"{external_id}@example.com", status=status)
