"""The Google connector against its emulator over HTTPS: listing, 2SV, nested groups, actions, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base import (
    AccountStatus,
    ActionResult,
    AuthError,
    EntitlementKind,
    EntitlementRef,
    GrantRecord,
    MfaState,
    TransientError,
)
from connectors.emulators.generate import generate_org
from connectors.emulators.model import SyntheticOrg
from connectors.emulators.runner import RunningEmulators, start_emulators
from connectors.google import GoogleConfig, GoogleConnector
from tests.connectors.helpers import drain, run


@pytest.fixture(scope="module")
def org() -> SyntheticOrg:
    return generate_org(220, seed=8)


@pytest.fixture
def google(tmp_path: Path, org: SyntheticOrg) -> Iterator[RunningEmulators]:
    running = start_emulators(org, workdir=tmp_path, tls=True, strict_auth=True, providers=("google",))
    yield running
    running.stop()


def connect(running: RunningEmulators, *, key: str | None = None, page_size: int = 500) -> GoogleConnector:
    provider = running.providers["google"]
    return GoogleConnector(
        GoogleConfig(
            service_account_key_json=key or provider.credential_files["service_account_key"].read_text(),
            admin_email=running.secrets.google_admin_email,
            customer_id=running.secrets.google_customer_id,
            api_endpoint=provider.url,
            ca_bundle=str(running.tls.ca_path),
            page_size=page_size,
        )
    )


def test_accounts_with_2sv_from_the_listing(google, org: SyntheticOrg) -> None:
    accounts = run(connect(google, page_size=100), lambda c: drain(c.list_accounts))
    assert len(accounts) == len({a.external_id for a in accounts}) == len(org.google.accounts)
    by_login = {a.login: a for a in accounts}
    for source in org.google.accounts:
        account = by_login[source.login]
        assert account.status == (
            AccountStatus.ACTIVE if source.status == "active" else AccountStatus.SUSPENDED
        )
        assert account.mfa.state == (MfaState.ENROLLED if source.mfa_factors else MfaState.NOT_ENROLLED)
        assert account.employee_id == source.employee_id
    with_alias = next(a for a in org.google.accounts if a.aliases)
    assert with_alias.aliases[0] in by_login[with_alias.login].aliases


def test_nested_groups_and_roles(google, org: SyntheticOrg) -> None:
    async def body(c: GoogleConnector) -> dict[str, list[GrantRecord]]:
        entitlements = await drain(c.list_entitlements)
        return {
            f"{e.kind}:{e.name}": await drain(c.list_grants, EntitlementRef(e.kind, e.external_id))
            for e in entitlements
            if e.kind is EntitlementKind.ROLE or e.name in ("all-staff", "dept-sales")
        }

    grants = run(connect(google), body)
    people = {k for g in org.google.groups if g.key.startswith("dept-") for k in g.member_keys}
    assert len(grants["group:all-staff"]) == len(people)
    assert all(g.inherited and g.via for g in grants["group:all-staff"])
    assert grants["group:dept-sales"] and not any(g.inherited for g in grants["group:dept-sales"])
    super_admins = next(r for r in org.google.roles if r.name == "_SEED_ADMIN_ROLE").assigned_keys
    assert len(grants["role:_SEED_ADMIN_ROLE"]) == len(super_admins)


def test_actions_are_idempotent_and_visible(google, org: SyntheticOrg) -> None:
    provider = google.providers["google"]
    state = provider.server.app.app.state.google  # the emulator's own view, for ground truth
    person = next(a for a in org.google.accounts if a.status == "active" and a.person_employee_id)
    uid = state.by_email[person.login.lower()]
    group = next(g for g in state.groups.values() if uid in g.members).id

    async def body(c: GoogleConnector) -> list[ActionResult]:
        grant = GrantRecord(uid, EntitlementKind.GROUP, group)
        return [
            await c.suspend_account(uid),
            await c.suspend_account(uid),
            await c.revoke_sessions(uid),
            await c.remove_grant(grant),
            await c.remove_grant(grant),
            await c.restore_account(uid),
            await c.restore_account(uid),
        ]

    applied, done = ActionResult.APPLIED, ActionResult.ALREADY_DONE
    assert run(connect(google), body) == [applied, done, applied, applied, done, applied, done]
    user = state.users[uid]
    assert user.signed_out_at and user.codes_invalidated_at and user.tokens == [] and user.asps == []
    assert uid not in state.groups[group].members
    paths = [e.path.rsplit("/", 1)[-1] for e in provider.control.journal]
    assert paths.count("signOut") == 1 and paths.count("invalidate") == 1


def test_errors_are_classified(google) -> None:
    key = google.providers["google"].credential_files["service_account_key"].read_text()
    broken = key.replace(
        google.secrets.google_service_account_email, "someone-else@example.iam.gserviceaccount.com"
    )
    with pytest.raises(AuthError):
        run(connect(google, key=broken), lambda c: c.list_accounts(None))
    assert run(connect(google), lambda c: c.find_account(email="nobody@example.com")) is None
    control = google.providers["google"].control
    control.budget.configure(1, 60)
    with pytest.raises(TransientError) as throttled:
        run(connect(google, page_size=50), lambda c: drain(c.list_accounts))
    assert throttled.value.throttled
    control.budget.configure(0, 60)
    control.set_faults("5xx:1")
    with pytest.raises(TransientError) as failed:
        run(connect(google), lambda c: c.list_accounts(None))
    assert failed.value.status == 503


def test_changes_since_diffs_the_listing(google, org: SyntheticOrg) -> None:
    state = google.providers["google"].server.app.app.state.google
    person = next(a for a in org.google.accounts if a.status == "active" and a.person_employee_id)
    uid = state.by_email[person.login.lower()]
    group = next(
        g for g in state.groups.values() if uid in g.members and "GROUP" not in g.members.values()
    ).id

    async def body(c: GoogleConnector) -> Any:
        start = await c.changes_since(None)
        state.patch_user(uid, {"suspended": True})
        state.remove_member(group, uid)
        changes = await c.changes_since(start.cursor)
        again = await c.changes_since(changes.cursor)
        return changes, again

    changes, again = run(connect(google), body)
    assert [a.external_id for a in changes.accounts] == [uid] and changes.accounts[
        0
    ].status is AccountStatus.SUSPENDED
    assert changes.entitlement_ids == {group}
    assert not again.accounts and not again.entitlement_ids
