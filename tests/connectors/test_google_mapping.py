"""Directory API JSON -> value types, on fixtures shaped like the Admin SDK's documented resources."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.base import AccountStatus, EntitlementKind, MfaState
from connectors.google import mapping

USER = {
    "kind": "admin#directory#user",
    "id": "114287401930823447190",
    "etag": '"Zd8a5y5WV0VNK1Tl8Fh3wOVdA7I/8JH5J6l0z6pDq1Nn3mJzSYPRHZc"',
    "primaryEmail": "liz@example.com",
    "name": {"givenName": "Elizabeth", "familyName": "Smith", "fullName": "Elizabeth Smith"},
    "isAdmin": False,
    "isDelegatedAdmin": False,
    "lastLoginTime": "2024-04-02T17:04:11.000Z",
    "creationTime": "2019-01-10T09:00:00.000Z",
    "agreedToTerms": True,
    "suspended": False,
    "archived": False,
    "emails": [{"address": "liz@example.com", "primary": True}, {"address": "liz@example.org"}],
    "aliases": ["elizabeth@example.com"],
    "externalIds": [{"value": "E-3113", "type": "organization"}, {"value": "x9", "type": "custom"}],
    "relations": [{"value": "boss@example.com", "type": "manager"}],
    "organizations": [
        {"title": "Old title", "department": "Old dept"},
        {"title": "Engineer", "department": "Engineering", "primary": True},
    ],
    "isEnrolledIn2Sv": True,
    "isEnforcedIn2Sv": False,
    "customerId": "C03az79cb",
}


def test_user_maps_to_account() -> None:
    account = mapping.account_from_user(USER)
    assert (account.external_id, account.login, account.email, account.status) == (
        "114287401930823447190",
        "liz@example.com",
        "liz@example.com",
        AccountStatus.ACTIVE,
    )
    assert account.aliases == ["elizabeth@example.com", "liz@example.org"]
    assert (account.employee_id, account.manager_login, account.manager_external_id) == (
        "E-3113",
        "boss@example.com",
        None,
    )
    assert (account.department, account.title, account.display_name) == (
        "Engineering",
        "Engineer",
        "Elizabeth Smith",
    )
    assert account.last_login_at == datetime(2024, 4, 2, 17, 4, 11, tzinfo=UTC)
    assert account.created_at == datetime(2019, 1, 10, 9, 0, tzinfo=UTC)


def test_suspended_and_archived_users_are_suspended() -> None:
    assert mapping.account_from_user({**USER, "suspended": True}).status is AccountStatus.SUSPENDED
    assert mapping.account_from_user({**USER, "archived": True}).status is AccountStatus.SUSPENDED


def test_never_signed_in_and_missing_optional_fields() -> None:
    never = mapping.account_from_user({**USER, "lastLoginTime": "1970-01-01T00:00:00.000Z"})
    assert never.last_login_at is None  # Google's epoch means "never"
    bare = {"id": "1", "primaryEmail": "svc@example.com"}
    account = mapping.account_from_user(bare)
    assert (account.employee_id, account.manager_login, account.department, account.last_login_at) == (
        None,
        None,
        None,
        None,
    )
    assert (account.aliases, account.created_at) == ([], None)
    assert account.mfa is not None and account.mfa.state is MfaState.UNKNOWN  # 2SV not in the answer


def test_required_fields_are_required() -> None:
    with pytest.raises(KeyError):
        mapping.account_from_user({"id": "1"})


def test_2sv_states() -> None:
    enrolled = mapping.mfa_from_user(USER)
    assert (enrolled.state, enrolled.methods, enrolled.enforced) == (MfaState.ENROLLED, ["2sv"], False)
    enforced = mapping.mfa_from_user({**USER, "isEnforcedIn2Sv": True})
    assert (enforced.state, enforced.methods, enforced.enforced) == (MfaState.ENROLLED, ["2sv"], True)
    # enforced but not enrolled: the user has no second factor yet, and enforcement is not a method
    pending = mapping.mfa_from_user({**USER, "isEnrolledIn2Sv": False, "isEnforcedIn2Sv": True})
    assert (pending.state, pending.methods, pending.enforced) == (MfaState.NOT_ENROLLED, [], True)
    unknown = mapping.mfa_from_user({"id": "1", "primaryEmail": "x@example.com"})
    assert (unknown.state, unknown.enforced) == (MfaState.UNKNOWN, None)


def test_role_assignments_to_users_and_groups() -> None:
    to_user = {
        "roleAssignmentId": "1",
        "roleId": 9144745340903424,
        "assignedTo": "114287401930823447190",
        "assigneeType": "user",
        "scopeType": "CUSTOMER",
    }
    to_group = {**to_user, "assignedTo": "03rdcrjn2kq8lus", "assigneeType": "group"}
    direct = mapping.grant_from_role_assignment("114287401930823447190", to_user)
    assert (direct.entitlement_kind, direct.entitlement_external_id, direct.inherited) == (
        EntitlementKind.ROLE,
        "9144745340903424",
        False,
    )
    assert not mapping.is_group_assignment(to_user) and mapping.is_group_assignment(to_group)
    through = mapping.grant_from_role_assignment("114287401930823447190", to_group)
    assert (through.inherited, through.via) == (True, "03rdcrjn2kq8lus")
    role = mapping.entitlement_from_role({"roleId": "9144745340903424", "roleName": "_SEED_ADMIN_ROLE"})
    assert (role.external_id, role.privileged) == ("9144745340903424", True)
