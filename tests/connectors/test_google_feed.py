"""The Google connector's change feed for groups and admin roles: the admin audit log (Reports API),
mapped on static activities as Google sends them, and read by the connector from its emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base import PermissionDeniedError, TransientError
from connectors.emulators.generate import generate_org
from connectors.emulators.model import SyntheticOrg
from connectors.emulators.runner import RunningEmulators, start_emulators
from connectors.google import GoogleConnector, feed
from tests.connectors.helpers import drain_changes, google_connector, run


def activity(
    name: str, kind: str, unique: str = "1", time: str = "2026-11-30T10:00:00.000Z", **params: str
) -> Any:
    return {
        "kind": "admin#reports#activity",
        "id": {"time": time, "uniqueQualifier": unique, "applicationName": "admin", "customerId": "C01"},
        "actor": {"callerType": "USER", "email": "admin@example.com", "profileId": "1"},
        "events": [
            {"type": kind, "name": name, "parameters": [{"name": k, "value": v} for k, v in params.items()]}
        ],
    }


def test_the_events_that_change_who_holds_a_group_or_a_role() -> None:
    activities = [
        activity(
            "ADD_GROUP_MEMBER", "GROUP_SETTINGS", GROUP_EMAIL="Sales@example.com", USER_EMAIL="a@example.com"
        ),
        activity("REMOVE_GROUP_MEMBER", "GROUP_SETTINGS", GROUP_EMAIL="sales@example.com", USER_EMAIL="b@x"),
        activity("UPDATE_GROUP_MEMBER", "GROUP_SETTINGS", GROUP_EMAIL="ops@example.com", USER_EMAIL="c@x"),
        activity("CREATE_GROUP", "GROUP_SETTINGS", GROUP_EMAIL="new@example.com"),
        activity("DELETE_GROUP", "GROUP_SETTINGS", GROUP_EMAIL="gone@example.com"),
        activity("CHANGE_GROUP_DESCRIPTION", "GROUP_SETTINGS", GROUP_EMAIL="quiet@example.com"),
        activity("ASSIGN_ROLE", "DELEGATED_ADMIN_SETTINGS", ROLE_NAME="_GROUPS_ADMIN_ROLE", USER_EMAIL="a@x"),
        activity(
            "UNASSIGN_ROLE", "DELEGATED_ADMIN_SETTINGS", ROLE_NAME="_HELP_DESK_ADMIN_ROLE", USER_EMAIL="b@x"
        ),
        activity("GRANT_ADMIN_PRIVILEGE", "USER_SETTINGS", USER_EMAIL="c@x"),
        activity("SUSPEND_USER", "USER_SETTINGS", USER_EMAIL="d@x"),
        activity("CREATE_ROLE", "DELEGATED_ADMIN_SETTINGS", ROLE_NAME="Custom"),
        {
            "id": {"time": "2026-11-30T10:00:00.000Z"},
            "events": [{"name": "ADD_GROUP_MEMBER"}],
        },  # no parameters
    ]
    changes = feed.changes_from_activities(activities)
    assert changes.group_emails == {"sales@example.com", "ops@example.com", "new@example.com"}
    assert changes.role_names == {"_GROUPS_ADMIN_ROLE", "_HELP_DESK_ADMIN_ROLE", "_SEED_ADMIN_ROLE"}


def test_activity_keys_tell_activities_of_the_same_millisecond_apart() -> None:
    first = activity("ADD_GROUP_MEMBER", "GROUP_SETTINGS", unique="-17", GROUP_EMAIL="g@x", USER_EMAIL="a@x")
    second = activity("ADD_GROUP_MEMBER", "GROUP_SETTINGS", unique="42", GROUP_EMAIL="g@x", USER_EMAIL="a@x")
    assert feed.activity_key(first) != feed.activity_key(second)
    assert feed.activity_key(first) == feed.activity_key(json.loads(json.dumps(first)))
    assert len(feed.activity_key(first)) == 8
    assert feed.rfc3339(feed.activity_time(first)) == "2026-11-30T10:00:00.000Z"


@pytest.fixture(scope="module")
def org() -> SyntheticOrg:
    return generate_org(120, seed=21)


@pytest.fixture
def google(tmp_path: Path, org: SyntheticOrg) -> Iterator[RunningEmulators]:
    with start_emulators(
        org, workdir=tmp_path, tls=False, strict_auth=True, providers=("google",)
    ) as running:
        yield running


def connect(running: RunningEmulators, **options: Any) -> GoogleConnector:
    return google_connector(running, **options)


def test_a_swap_names_the_group_once_and_the_overlap_does_not_repeat_it(google: RunningEmulators) -> None:
    """One member out, another in: the group's member count is unchanged, and the log names it.
    The next read overlaps the swap (the lag window) and names nothing: each activity is acted on once.
    The first pass (from None) reads no log at all."""
    state = google.providers["google"].server.app.app.state.google
    group = next(g for g in state.groups.values() if "GROUP" not in g.members.values() and len(g.members) > 2)
    leaving = next(iter(group.members))
    joining = next(uid for uid in state.users if uid not in group.members)
    control = google.providers["google"].control

    async def body(c: GoogleConnector) -> tuple[Any, Any, Any, list[str]]:
        control.trace = []
        start = await drain_changes(c, None)
        baseline_paths = [path for _, path, _, _ in control.trace]
        state.remove_member(group.id, leaving)
        state.add_member(group.id, joining)
        changes = await drain_changes(c, start.cursor)
        again = await drain_changes(c, changes.cursor)
        return start, changes, again, baseline_paths

    start, changes, again, baseline_paths = run(connect(google), body)
    control.trace = None
    assert not any("/reports/" in p for p in baseline_paths) and not start.entitlement_ids
    assert changes.entitlement_ids == {group.id} and not changes.account_ids
    assert not again.entitlement_ids
    assert len(json.loads(changes.cursor)["rk"]) == 2  # the two activities the next read overlaps


def test_role_events_name_the_roles_by_id(google: RunningEmulators) -> None:
    state = google.providers["google"].server.app.app.state.google
    roles = {name: role_id for role_id, name in state.roles.items()}
    user = next(u for u in state.users.values() if not u.body["suspended"])

    async def body(c: GoogleConnector) -> Any:
        start = await drain_changes(c, None)
        state.insert_role_assignment({"roleId": roles["_GROUPS_ADMIN_ROLE"], "assignedTo": user.id})
        return await drain_changes(c, start.cursor)

    changes = run(connect(google), body)
    assert changes.entitlement_ids == {roles["_GROUPS_ADMIN_ROLE"]}


def test_log_pages_are_read_one_call_at_a_time_and_a_refusal_is_classified(google: RunningEmulators) -> None:
    """reports_page_size 1: each activity is a page of its own (more until the last); a log the
    service account may not read is PermissionDenied, not an empty feed."""
    state = google.providers["google"].server.app.app.state.google
    plain = [g for g in state.groups.values() if "GROUP" not in g.members.values() and g.members][:3]
    control = google.providers["google"].control

    async def body(c: GoogleConnector) -> tuple[list[Any], BaseException | None]:
        start = await drain_changes(c, None)
        for group in plain:
            state.remove_member(group.id, next(iter(group.members)))
        sets, cursor = [], start.cursor
        while True:
            page = await c.changes_since(cursor)
            sets.append(page)
            cursor = page.cursor
            if not page.more:
                break
        control.set_faults("page:/admin/reports/v1/activity/users/all/applications/admin:1:403")
        refused: BaseException | None = None
        try:
            await drain_changes(c, cursor)
        except PermissionDeniedError as exc:
            refused = exc
        return sets, refused

    sets, refused = run(connect(google, page_size=500, reports_page_size=1), body)
    log_pages = [s for s in sets if s.entitlement_ids]
    assert len(log_pages) == 3 and [s.more for s in sets[-3:]] == [True, True, False]
    assert {e for s in sets for e in s.entitlement_ids} == {g.id for g in plain}
    assert refused is not None and refused.status == 403


def test_the_users_listing_asks_for_the_administrators_view(google: RunningEmulators) -> None:
    """Suspension and 2SV are administrator-only fields (not in viewType=domain_public): the
    connector asks for admin_view explicitly, in the listing and in a live lookup."""
    control = google.providers["google"].control
    email = google.secrets.google_admin_email

    async def body(c: GoogleConnector) -> Any:
        control.trace = []
        page = await c.list_accounts(None)
        await c.find_account(email=email)
        return page

    page = run(connect(google), body)
    queries = [q for _, path, q, _ in control.trace or [] if "/users" in path]
    control.trace = None
    assert len(queries) == 2 and all("viewType=admin_view" in q for q in queries), queries
    assert all(a.mfa is not None and a.mfa.state.value != "UNKNOWN" for a in page.items)


def test_a_log_page_that_failed_is_read_again_with_the_same_cursor(google: RunningEmulators) -> None:
    """The runner retries a failed call with the cursor it gave: a log page whose group lookup failed
    is read and resolved again, and names the group."""
    state = google.providers["google"].server.app.app.state.google
    group = next(g for g in state.groups.values() if "GROUP" not in g.members.values() and g.members)
    control = google.providers["google"].control

    async def body(c: GoogleConnector) -> Any:
        start = await drain_changes(c, None)
        state.remove_member(group.id, next(iter(group.members)))
        users = await c.changes_since(start.cursor)  # the one users page; the log comes next
        assert users.more
        control.set_faults(f"page:/admin/directory/v1/groups/{group.body['email']}:1:503")
        with pytest.raises(TransientError):
            await c.changes_since(users.cursor)
        control.set_faults(None)
        return await c.changes_since(users.cursor)

    page = run(connect(google), body)
    assert page.entitlement_ids == {group.id} and not page.more
