"""The revoke plan: one grant of one person, ``provider:kind:name-or-id``.  A grant held only through a
group cannot be removed from the account: the error names the group, and ``via`` removes that
membership instead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.jobs import PlannedStep
from accessctl.lifecycle.accounts import ENTITLEMENTS, Found, LiveAccount
from accessctl.lifecycle.admins import GRANTS, last_admin_reason, other_active_super_admins, super_admin_roles
from accessctl.lifecycle.errors import AmbiguousEntitlement, EntitlementNotFound, HeldThroughGroup, listing
from accessctl.lifecycle.leaver import grant_target
from accessctl.lifecycle.people import ACCOUNTS, PersonRef
from accessctl.lifecycle.plan import Plan
from accessctl.lifecycle.protected import SKIPPED
from connectors.base import AccountStatus, EntitlementKind, GrantRecord

KINDS = tuple(k.value for k in EntitlementKind)


@dataclass(frozen=True)
class EntitlementSpec:
    provider: str
    kind: str
    key: str  # a name or an external id

    def __str__(self) -> str:
        return f"{self.provider}:{self.kind}:{self.key}"


def parse_entitlement(text: str, providers: list[str]) -> EntitlementSpec:
    parts = text.split(":", 2)
    if len(parts) != 3 or not all(p.strip() for p in parts):
        raise EntitlementNotFound(
            f"{text!r} is not provider:kind:name-or-id (e.g. okta:group:aws-prod-admins)"
        )
    provider, kind, key = (p.strip() for p in parts)
    if provider.lower() not in providers:
        raise EntitlementNotFound(
            listing(f"{provider!r} is not a configured provider; configured", providers), candidates=providers
        )
    if kind.lower() not in KINDS:
        raise EntitlementNotFound(listing(f"{kind!r} is not a kind of entitlement; kinds", list(KINDS)))
    return EntitlementSpec(provider.lower(), kind.lower(), key)


def _matches(account: LiveAccount, grant: GrantRecord, kind: str, key: str) -> bool:
    return str(grant.entitlement_kind) == kind and (
        grant.entitlement_external_id == key or account.name_of(grant).lower() == key.lower()
    )


def _label(account: LiveAccount, grant: GrantRecord) -> str:
    return f"{account.provider}:{grant.entitlement_kind}:{account.name_of(grant)}"


def _group_name(account: LiveAccount, group_id: str | None) -> str:
    if not group_id or group_id == "nested group":
        return "a group the provider does not name"
    return account.names.get(("group", group_id), (group_id, False))[0]


def build_revoke_plan(
    engine: Engine,
    person: PersonRef,
    found: Found,
    spec: EntitlementSpec,
    *,
    via: str | None,
    planned_at: datetime,
) -> Plan:
    accounts = [a for a in found.accounts if a.provider == spec.provider]
    if not accounts:
        raise EntitlementNotFound(f"{person} has no {spec.provider} account")
    plan = Plan(kind="revoke", person=person, notes=list(found.notes))
    held_any = False
    for account in accounts:
        matching = [g for g in account.grants if _matches(account, g, spec.kind, spec.key)]
        if not any(not g.inherited for g in matching):  # the store knows what is held through groups
            matching += _stored_inherited(engine, account, spec)
        if not matching:
            continue
        held_any = True
        direct = [g for g in matching if not g.inherited]
        distinct = sorted({g.entitlement_external_id for g in direct})
        if len(distinct) > 1:
            candidates = [f"{spec.provider}:{spec.kind}:{ext}" for ext in distinct]
            raise AmbiguousEntitlement(
                listing(f"{spec} names {len(distinct)} entitlements {person} holds; give the id", candidates),
                candidates=candidates,
            )
        if direct:
            plan.steps += _remove_steps(engine, account, direct[0], planned_at)
            continue
        groups = [g for g in account.direct if g.entitlement_kind == EntitlementKind.GROUP]
        if via is None:
            through = sorted({_group_name(account, g.via) for g in matching})
            raise HeldThroughGroup(
                f"{person} holds {spec} only through {', '.join(through)}; it cannot be removed from the "
                "account: remove the membership that confers it with --via GROUP",
                candidates=[_label(account, g) for g in groups],
            )
        chosen = [g for g in groups if _matches(account, g, "group", via.split(":")[-1])]
        if not chosen:
            candidates = [account.name_of(g) for g in groups]
            raise EntitlementNotFound(
                listing(f"{person} is not a direct member of group {via!r}; direct groups", candidates),
                candidates=candidates,
            )
        plan.steps += _remove_steps(engine, account, chosen[0], planned_at)
    if not held_any:
        candidates = sorted(
            {_label(a, g) for a in accounts for g in a.grants if str(g.entitlement_kind) == spec.kind}
        )
        raise EntitlementNotFound(
            listing(f"{person} does not hold {spec}; they hold", candidates)
            if candidates
            else f"{person} does not hold {spec}",
            candidates=candidates,
        )
    return plan


def _stored_inherited(engine: Engine, account: LiveAccount, spec: EntitlementSpec) -> list[GrantRecord]:
    """The account's inherited grants of the entitlement as the store has them (a per-account
    listing does not always show what nested groups pass on)."""
    query = (
        sa.select(ENTITLEMENTS.c.external_id, ENTITLEMENTS.c.name, GRANTS.c.via)
        .join(GRANTS, GRANTS.c.entitlement_id == ENTITLEMENTS.c.id)
        .join(ACCOUNTS, ACCOUNTS.c.id == GRANTS.c.account_id)
        .where(
            ACCOUNTS.c.provider == account.provider,
            ACCOUNTS.c.external_id == account.account_id,
            ENTITLEMENTS.c.kind == spec.kind,
            GRANTS.c.ended_at.is_(None),
            GRANTS.c.inherited.is_(True),
        )
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        GrantRecord(account.account_id, EntitlementKind(spec.kind), ext, inherited=True, via=via)
        for ext, name, via in rows
        if ext == spec.key or (name or "").lower() == spec.key.lower()
    ]


def _remove_steps(
    engine: Engine, account: LiveAccount, grant: GrantRecord, planned_at: datetime
) -> list[PlannedStep]:
    target = {**account.target, **grant_target(account, grant)}
    # revoking an entitlement takes it whole: an Okta custom role over every resource set it is held over
    target.pop("scope", None)
    skipped = SKIPPED if account.protected else None
    if (
        skipped is None
        and grant.entitlement_kind == EntitlementKind.ROLE
        and account.status is AccountStatus.ACTIVE
    ):
        with engine.connect() as conn:
            roles = super_admin_roles(conn, account.provider)
            if grant.entitlement_external_id in roles and not other_active_super_admins(
                conn, account.provider, roles, excluding=[account.account_id]
            ):
                skipped = last_admin_reason(account.provider)
    effect = "grant removed"
    steps = [PlannedStep(account.provider, "remove_grant", target, effect, skipped=skipped)]
    if skipped is None:
        absent = [[str(grant.entitlement_kind), grant.entitlement_external_id]]
        steps.append(
            PlannedStep(
                account.provider, "verify", {**account.target, "absent": absent}, "grant gone, read back"
            )
        )
        steps.append(
            PlannedStep(account.provider, "refresh_store", account.target, "store matches the provider")
        )
    return steps
