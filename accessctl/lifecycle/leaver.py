"""The leaver and lockout plans: per account, block sign-in, revoke sessions and tokens, (leaver:
remove direct grants), verify by reading back, refresh the store.  Providers run in parallel; the
steps of one provider in order."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection, Engine

from accessctl.jobs import PlannedStep
from accessctl.lifecycle.accounts import Found, LiveAccount
from accessctl.lifecycle.admins import (
    holds_super_admin,
    last_admin_reason,
    other_active_super_admins,
    super_admin_roles,
)
from accessctl.lifecycle.people import PersonRef
from accessctl.lifecycle.plan import Plan
from accessctl.lifecycle.protected import SKIPPED
from accessctl.lifecycle.readback import grant_key
from accessctl.settings import Settings
from connectors.base import AccountStatus, GrantRecord


def _step(
    account: LiveAccount, action: str, effect: str, skipped: str | None = None, **extra: Any
) -> PlannedStep:
    return PlannedStep(account.provider, action, {**account.target, **extra}, effect, skipped=skipped)


def grant_target(account: LiveAccount, grant: GrantRecord) -> dict[str, str]:
    """A grant as a step's target and a snapshot keep it: its ``scope`` too where it has one (the
    resource set an Okta custom role is held over, without which it cannot be given back)."""
    target = {
        "kind": str(grant.entitlement_kind),
        "entitlement_id": grant.entitlement_external_id,
        "name": account.name_of(grant),
    }
    if grant.scope is not None:
        target["scope"] = grant.scope
    return target


#: groups the provider manages itself, which no one can leave (Okta's BUILT_IN group "Everyone")
BUILTIN_GROUPS = {"okta": {"everyone"}}


def builtin(account: LiveAccount, grant: GrantRecord) -> bool:
    return grant.entitlement_kind == "group" and account.name_of(grant).lower() in BUILTIN_GROUPS.get(
        account.provider, set()
    )


@contextlib.contextmanager
def reading(db: Engine | Connection) -> Iterator[Connection]:
    """A connection to read with: ``db`` itself inside a caller's transaction (an HR event's), else
    a new one."""
    if isinstance(db, Connection):
        yield db
        return
    with db.connect() as conn:
        yield conn


def refusal(engine: Engine | Connection, account: LiveAccount, leaving: Sequence[str]) -> str | None:
    """Why blocking this account (or removing its top admin role) is refused: it is the provider's
    last active super-admin.  None when others remain, or it holds no such role, or is not active."""
    if account.status is not AccountStatus.ACTIVE:
        return None
    with reading(engine) as conn:
        roles = super_admin_roles(conn, account.provider)
        if not holds_super_admin(account.grants, roles):
            return None
        others = other_active_super_admins(conn, account.provider, roles, excluding=leaving)
    return None if others else last_admin_reason(account.provider)


def _block_action(settings: Settings, provider: str) -> tuple[str, str]:
    if provider == "okta" and settings.lifecycle.okta_leaver_action == "deactivate":
        return "deactivate", "account deactivated: sign-in blocked"
    return "suspend", "sign-in blocked"


def account_steps(
    settings: Settings,
    engine: Engine | Connection,
    account: LiveAccount,
    *,
    kind: str,
    planned_at: datetime,
    include_protected: bool = False,
    leaving: Sequence[str] = (),
) -> tuple[list[PlannedStep], dict[str, Any] | None]:
    """The steps for one account, and (leaver) what the snapshot keeps of it."""
    strip = kind == "leaver"
    skip = SKIPPED if account.protected and not include_protected else None
    refused = None if skip else refusal(engine, account, leaving)
    action, effect = _block_action(settings, account.provider)
    steps = [
        _step(account, action, effect, skipped=skip or refused),
        _step(account, "revoke_sessions", "signed out", skipped=skip),
    ]
    removed: list[GrantRecord] = []
    if strip:
        privileged_only = settings.lifecycle.remove == "privileged"
        roles = set()
        if refused:
            with reading(engine) as conn:
                roles = super_admin_roles(conn, account.provider)
        for grant in sorted(account.direct, key=lambda g: (str(g.entitlement_kind), account.name_of(g))):
            if privileged_only and not account.privileged(grant):
                continue
            if builtin(account, grant):
                continue
            keeps_admin = (
                refused
                if grant.entitlement_kind == "role" and grant.entitlement_external_id in roles
                else None
            )
            target = grant_target(account, grant)
            steps.append(
                _step(
                    account,
                    "remove_grant",
                    "grant removed",
                    skip or keeps_admin,
                    **target,
                )
            )
            if not (skip or keeps_admin):
                removed.append(grant)
    if skip:
        return steps, None
    verify: dict[str, Any] = {"signed_out_since": planned_at.isoformat()}
    if not refused:
        verify["blocked"] = True
    if removed:
        verify["absent"] = [grant_key(g) for g in removed]
    steps.append(
        _step(
            account,
            "verify",
            "confirmed by API",
            **verify,
        )
    )
    steps.append(_step(account, "refresh_store", "store matches the provider"))
    snapshot = None
    if strip:
        snapshot = {
            "provider": account.provider,
            "account_id": account.account_id,
            "login": account.login,
            "status": str(account.status),
            "grants": [grant_target(account, g) for g in removed],
        }
    return steps, snapshot


def build_plan(
    settings: Settings,
    engine: Engine | Connection,
    person: PersonRef,
    found: Found,
    *,
    kind: str,
    planned_at: datetime,
    include_protected: bool = False,
) -> Plan:
    plan = Plan(kind=kind, person=person, notes=list(found.notes))
    snapshot: list[dict[str, Any]] = []
    leaving = [a.account_id for a in found.accounts]
    for account in found.accounts:
        steps, kept = account_steps(
            settings,
            engine,
            account,
            kind=kind,
            planned_at=planned_at,
            include_protected=include_protected,
            leaving=leaving,
        )
        plan.steps += steps
        if kept is not None:
            snapshot.append(kept)
    for provider, account_id, login in found.gone:
        plan.steps.append(
            PlannedStep(
                provider,
                "refresh_store",
                {"account_id": account_id, "login": login},
                "ended in the store: gone from the provider",
            )
        )
    if not found.accounts and not found.gone:
        plan.notes.append(f"{person.email} has no accounts in any configured provider: nothing to do")
    if kind == "leaver":
        plan.snapshot = snapshot
    return plan
