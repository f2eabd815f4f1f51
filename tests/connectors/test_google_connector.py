"""The Google connector against its emulator over HTTPS: listing, 2SV, nested groups, actions, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base import (
    AccountStatus,
    ActionResult,
    AuthError,
    ConnectorError,
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
from connectors.google.connector import READ_PAGE_WHOLE_ABOVE
from tests.connectors.helpers import drain, drain_changes, run


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
    # someone with OAuth grants and backup codes: revoke_sessions has something to take away
    person = next(
        a for a in org.google.accounts if a.status == "active" and a.oauth_grants and a.backup_codes
    )
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
        start = await drain_changes(c, None)
        state.patch_user(uid, {"suspended": True})
        state.remove_member(group, uid)
        changes = await drain_changes(c, start.cursor)
        again = await drain_changes(c, changes.cursor)
        return changes, again, await c.find_account(external_id=uid)

    changes, again, looked_up = run(connect(google), body)
    # one changed user: named, for the runner to read whole (the listing carried ids and etags only)
    assert changes.account_ids == {uid} and not changes.accounts
    assert looked_up is not None and looked_up.status is AccountStatus.SUSPENDED
    assert changes.entitlement_ids == {group}
    assert not again.accounts and not again.account_ids and not again.entitlement_ids


def test_changes_listing_reads_ids_and_etags_and_a_much_changed_page_whole(google, org: SyntheticOrg) -> None:
    """The diff listing asks for a partial response (``fields``); a page where more than
    READ_PAGE_WHOLE_ABOVE users changed is read again whole in one request instead of user by user."""
    state = google.providers["google"].server.app.app.state.google
    listed = sorted(state.users.values(), key=lambda u: u.body["primaryEmail"])
    first_page = [u.id for u in listed if not u.body["suspended"]][:40]
    control = google.providers["google"].control

    async def body(c: GoogleConnector) -> Any:
        start = await drain_changes(c, None)
        for uid in first_page[: READ_PAGE_WHOLE_ABOVE + 5]:
            state.patch_user(uid, {"suspended": True})
        control.trace = []
        return await c.changes_since(start.cursor)

    page = run(connect(google, page_size=50), body)
    queries = [q for _, path, q, _ in control.trace or [] if path.endswith("/users")]
    control.trace = None
    assert len(queries) == 2, queries
    assert "fields=nextPageToken%2Cusers%28id%2Cetag%29" in queries[0] and "fields" not in queries[1]
    assert page.requests == 2 and not page.account_ids
    assert sorted(a.external_id for a in page.accounts) == sorted(first_page[: READ_PAGE_WHOLE_ABOVE + 5])
    assert all(a.status is AccountStatus.SUSPENDED for a in page.accounts)


def test_changes_cursor_is_a_handle_between_pages_and_whole_on_the_last(google, org: SyntheticOrg) -> None:
    """Writing every user's digest out with every page would cost the org's size per page: between
    pages the cursor is a handle on the diff in memory, spent once read; the last one is complete."""

    async def body(c: GoogleConnector) -> tuple[list[str], str, Any]:
        first = await c.changes_since(None)
        handles = [first.cursor]
        change_set = first
        while change_set.more:
            change_set = await c.changes_since(change_set.cursor)
            handles.append(change_set.cursor)
        with pytest.raises(ConnectorError, match="another connector"):
            await c.changes_since(handles[0])  # spent
        return handles, change_set.cursor, await drain_changes(c, change_set.cursor)

    handles, last, again = run(connect(google, page_size=50), body)
    assert len(handles) > 3 and all(len(h) < 40 for h in handles[:-1])
    assert len(json.loads(last)["pu"]) == len(org.google.accounts)  # the baseline, whole
    assert again.accounts == [] and not again.entitlement_ids  # nothing changed since it

    async def elsewhere(c: GoogleConnector) -> None:
        await c.changes_since(handles[1])

    with pytest.raises(ConnectorError, match="another connector"):
        run(connect(google, page_size=50), elsewhere)


def test_a_baseline_pass_spends_one_request_a_page_and_reports_nothing(google, org: SyntheticOrg) -> None:
    """A pass without a baseline (from None) only records the listing: no page of it is read whole
    (more than READ_PAGE_WHOLE_ABOVE users on a page), and none reports a change."""
    control = google.providers["google"].control

    async def body(c: GoogleConnector) -> list[Any]:
        control.trace = []
        change_set = await c.changes_since(None)
        sets = [change_set]
        while change_set.more:
            change_set = await c.changes_since(change_set.cursor)
            sets.append(change_set)
        return sets

    sets = run(connect(google, page_size=50), body)
    listings = [path for _, path, _, _ in control.trace or [] if path.endswith(("/users", "/groups"))]
    control.trace = None
    assert len(sets) >= len(org.google.accounts) // 50 + 1
    assert all(s.requests == 1 for s in sets) and len(listings) == len(sets), listings
    assert not any(s.accounts or s.account_ids or s.entitlement_ids for s in sets)


def test_changes_since_pages_one_call_at_a_time_and_confirms_removals(google, org: SyntheticOrg) -> None:
    state = google.providers["google"].server.app.app.state.google
    by_email = sorted(state.by_email.items())
    changed_uid = by_email[120][1]
    deleted_uid = by_email[10][1]  # deleted before the pass
    shifting_uid = by_email[20][1]  # deleted after the pass's first page: the users after it shift up one

    def delete(uid: str) -> None:
        with state.lock:
            user = state.users.pop(uid)
            state.by_email.pop(user.body["primaryEmail"].lower())

    group = next(g for g in state.groups.values() if "GROUP" not in g.members.values() and g.members)
    member = next(iter(group.members))

    async def body(c: GoogleConnector) -> tuple[list[Any], int, Any]:
        start = await drain_changes(c, None)
        state.patch_user(changed_uid, {"suspended": True})
        state.remove_member(group.id, member)
        delete(deleted_uid)
        sets, failures, cursor, shifted = [], 0, start.cursor, False
        while True:
            if len(sets) == 1 and not shifted:
                shifted = True
                delete(shifting_uid)
                google.providers["google"].control.set_faults("page:/admin/directory/v1/users:1:503")
            try:
                change_set = await c.changes_since(cursor)
            except TransientError:
                failures += 1  # the runner retries this one call, with the same cursor
                continue
            sets.append(change_set)
            cursor = change_set.cursor
            if not change_set.more:
                break
        lookups = {uid: await c.find_account(external_id=uid) for uid in sets[-1].account_ids}
        return sets, failures, lookups

    sets, failures, lookups = run(connect(google, page_size=50), body)
    users, groups = len(org.google.accounts), len(org.google.groups)
    assert failures == 1 and len(sets) >= users // 50 + 1 and all(s.requests == 1 for s in sets[:-1])
    assert sets[-1].requests == 2  # the admin log's page, and the lookup of the group it names
    assert [uid for s in sets[:-1] for uid in s.account_ids] == [changed_uid]  # on its own page
    assert {e for s in sets for e in s.entitlement_ids} == {group.id}
    assert not any(s.accounts or s.removed_account_ids for s in sets)
    # the deleted user, and the one the shifted listing skipped, are named on the last page; the
    # live lookup tells them apart
    assert len(lookups) == 2 and lookups[deleted_uid] is None
    assert all(record is not None for uid, record in lookups.items() if uid != deleted_uid)
    # short digests, not etags: a cursor of a few dozen bytes per user and group
    assert len(sets[-1].cursor) < 40 * (users + groups)


def test_a_role_assigned_to_a_group_is_held_by_its_members(google, org: SyntheticOrg) -> None:
    """The generated domain assigns _HELP_DESK_ADMIN_ROLE to three users and to helpdesk-admins."""
    state = google.providers["google"].server.app.app.state.google  # the emulator's own view
    role = next(r for r in org.google.roles if r.name == "_HELP_DESK_ADMIN_ROLE")
    assert role.assigned_group_keys == ["helpdesk-admins"]
    role_id = next(rid for rid, name in state.roles.items() if name == role.name)
    group = state.group(f"helpdesk-admins@{org.domain}")
    logins = {a.key: a.login.lower() for a in org.google.accounts}
    direct = {state.by_email[logins[k]] for k in role.assigned_keys}
    members = {m for m, kind in group.members.items() if kind == "USER"}
    member = sorted(members - direct)[0]
    holder = sorted(direct)[0]

    async def body(c: GoogleConnector) -> Any:
        grants = await drain(c.list_grants, EntitlementRef(EntitlementKind.ROLE, role_id))
        account = await c.list_account_grants(member)
        removals = [
            await c.remove_grant(GrantRecord(member, EntitlementKind.ROLE, role_id)),
            await c.remove_grant(GrantRecord(holder, EntitlementKind.ROLE, role_id)),
            await c.remove_grant(GrantRecord(holder, EntitlementKind.ROLE, role_id)),
        ]
        return grants, account, removals, await c.list_account_grants(member)

    grants, account, removals, after = run(connect(google), body)
    assert {g.account_external_id for g in grants if not g.inherited} == direct
    assert {g.account_external_id for g in grants if g.inherited} == members
    assert all(g.via == group.id for g in grants if g.inherited)
    assert group.id not in {g.account_external_id for g in grants}
    through = (role_id, True, group.id)
    assert through in {(g.entitlement_external_id, g.inherited, g.via) for g in account}
    # the member holds it through the group only: nothing of its own to remove; the direct holder's goes
    applied, done = ActionResult.APPLIED, ActionResult.ALREADY_DONE
    assert removals == [done, applied, done]
    assert through in {(g.entitlement_external_id, g.inherited, g.via) for g in after}
    remaining = state.role_assignments.values()
    assert not any(a["assignedTo"] == holder and a["roleId"] == role_id for a in remaining)


def test_a_programming_error_surfaces_as_itself(google) -> None:
    with pytest.raises(TypeError):  # an argument the Directory API does not have: our bug, not Google's
        run(connect(google), lambda c: c.client.call(lambda s: s.users().list(customer="x", noSuchArg=1)))

    def broken(service: Any) -> Any:
        raise KeyError("our own bug")

    with pytest.raises(KeyError):
        run(connect(google), lambda c: c.client.call(broken))
    with pytest.raises(AuthError):  # JSON, but not a service account key
        run(connect(google, key='{"type": "service_account"}'), lambda c: c.list_accounts(None))


def test_transport_failures_are_classified() -> None:
    import http.client
    import ssl

    import httplib2

    from connectors.base import ConnectorError
    from connectors.google.client import classify, sdk_errors

    for transient in (
        TimeoutError("timed out"),
        ConnectionResetError(104, "Connection reset by peer"),
        http.client.IncompleteRead(b"{", 4096),
        httplib2.ServerNotFoundError("Unable to find the server at admin.googleapis.com"),
        ssl.SSLError("handshake failed"),
    ):
        assert isinstance(transient, sdk_errors())
        assert isinstance(classify(transient), TransientError), transient
    untrusted = classify(ssl.SSLCertVerificationError("certificate verify failed"))
    assert type(untrusted) is ConnectorError  # a CA or interception problem: retrying will not help
    assert not isinstance(KeyError("x"), sdk_errors()) and not isinstance(TypeError("x"), sdk_errors())
