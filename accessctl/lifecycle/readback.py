"""Reading an account back through the provider's public API after a step, and judging it.

A ``verify`` step's target says what must hold: ``blocked`` (True: sign-in blocked; False: enabled;
absent: not checked), ``signed_out_since`` (an ISO time the provider's sessions-valid-from must be
at or after, where the provider shows one), ``absent`` and ``present`` (:func:`grant_key`s among
the account's direct grants: ``[kind, entitlement id]``, with the grant's scope third where it has
one, since an Okta custom role given back over another resource set is not the snapshot's).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connectors.base import AccountStatus, Connector, ConnectorError, GrantRecord, NotFoundError


class VerificationFailed(ConnectorError):
    """A read-back shows the step's effect did not hold (the step fails with what was seen)."""


@dataclass
class ReadBack:
    suspended: bool
    open_credentials: list[str] = field(default_factory=list)
    sessions_valid_from: datetime | None = None
    grants: list[GrantRecord] = field(default_factory=list)

    @property
    def direct(self) -> set[tuple[str, str]]:
        return {(str(g.entitlement_kind), g.entitlement_external_id) for g in self.grants if not g.inherited}

    def holds(self, key: list[str] | tuple[str, ...]) -> bool:
        """Whether the account holds ``key`` (:func:`grant_key`) directly: ``[kind, id]`` in any
        scope, ``[kind, id, scope]`` in that one (an Okta custom role over that resource set)."""
        if len(key) == 2:
            return tuple(key) in self.direct
        kind, entitlement, scope = key
        return any(
            str(g.entitlement_kind) == kind and g.entitlement_external_id == entitlement and g.scope == scope
            for g in self.grants
            if not g.inherited
        )


async def read_back(connector: Connector, account_id: str) -> ReadBack:
    """What the provider shows of the account now (raises NotFoundError when it is gone)."""
    verify_locked = getattr(connector, "verify_locked", None)
    if verify_locked is not None:
        state = await verify_locked(account_id)
        return ReadBack(
            suspended=state.suspended,
            open_credentials=list(state.open_credentials),
            sessions_valid_from=getattr(state, "sessions_valid_from", None),
            grants=list(state.grants),
        )
    record = await connector.find_account(external_id=account_id)
    if record is None:
        raise NotFoundError(f"account {account_id} not found", provider=connector.provider, status=404)
    grants = await connector.list_account_grants(account_id)
    return ReadBack(record.status is not AccountStatus.ACTIVE, [], None, grants)


def problems(seen: ReadBack, target: dict[str, Any]) -> list[str]:
    """What does not hold of ``target``'s expectations (empty: verified)."""
    found: list[str] = []
    blocked = target.get("blocked")
    if blocked is True and not seen.suspended:
        found.append("sign-in is not blocked")
    if blocked is False and seen.suspended:
        found.append("the account is still blocked")
    if blocked is True and seen.open_credentials:
        found.append("still open: " + ", ".join(seen.open_credentials))
    since = target.get("signed_out_since")
    if since and seen.sessions_valid_from is not None:
        cutoff = datetime.fromisoformat(since).replace(microsecond=0)
        if seen.sessions_valid_from < cutoff:
            found.append(f"sessions valid from {seen.sessions_valid_from.isoformat()}, before {since}")
    left = [":".join(key) for key in target.get("absent", []) if seen.holds(key)]
    if left:
        found.append("still held: " + ", ".join(left))
    missing = [":".join(key) for key in target.get("present", []) if not seen.holds(key)]
    if missing:
        found.append("not held: " + ", ".join(missing))
    return found


def describe(seen: ReadBack, target: dict[str, Any] | None = None) -> str:
    """What the read-back showed, in the step's own terms (short: it ends up in an 80-column line)."""
    target = target or {}
    parts = ["blocked" if seen.suspended else "enabled"]
    if seen.sessions_valid_from is not None:
        parts.append(f"signed out {seen.sessions_valid_from:%H:%M}")
    opened = len(seen.open_credentials)
    parts.append(f"{opened} credential{'' if opened == 1 else 's'} open" if opened else "no credentials open")
    direct = seen.direct
    absent = target.get("absent", [])
    if absent:
        held = sum(1 for key in absent if seen.holds(key))
        parts.append(f"{held} of {len(absent)} grants still held" if held else f"{len(absent)} grants gone")
    present = target.get("present", [])
    if present:
        back = sum(1 for key in present if seen.holds(key))
        parts.append(f"{back} of {len(present)} grants back")
    if not absent and not present:
        parts.append(f"{len(direct)} direct grant{'' if len(direct) == 1 else 's'}")
    return ", ".join(parts)


def grant_key(grant: GrantRecord | dict[str, Any]) -> list[str]:
    """A grant as a verify step's ``absent`` / ``present`` list names it: ``[kind, entitlement id]``,
    and its scope third where it has one."""
    if isinstance(grant, GrantRecord):
        key = [str(grant.entitlement_kind), grant.entitlement_external_id]
        scope = grant.scope
    else:
        key = [str(grant["kind"]), str(grant["entitlement_id"])]
        scope = grant.get("scope")
    return key if scope is None else [*key, scope]
