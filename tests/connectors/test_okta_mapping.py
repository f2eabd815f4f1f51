"""Okta JSON -> value types, on fixtures shaped like Okta's real responses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.base import AccountStatus, EntitlementKind, MfaState
from connectors.okta import mapping

USER = {
    "id": "00ub0oNGTSWTBKOLGLNR",
    "status": "LOCKED_OUT",
    "created": "2013-07-02T21:36:25.344Z",
    "activated": None,
    "statusChanged": None,
    "lastLogin": "2013-07-02T21:36:25.344Z",
    "lastUpdated": "2013-07-02T21:36:25.344Z",
    "passwordChanged": "2013-07-02T21:36:25.344Z",
    "type": {"id": "otyfnjfba4ye7pgjB0g4"},
    "profile": {
        "login": "isaac.brock@example.com",
        "firstName": "Isaac",
        "lastName": "Brock",
        "nickName": "issac",
        "displayName": "Isaac Brock",
        "email": "isaac.brock@example.com",
        "secondEmail": "isaac@example.org",
        "employeeNumber": "187",
        "department": "Engineering",
        "title": "Director",
        "managerId": "00ub0oNGTSWTBKOMGLNR",
        "mobilePhone": "555-415-1337",
    },
    "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
    "_links": {"self": {"href": "https://{yourOktaDomain}/api/v1/users/00ub0oNGTSWTBKOLGLNR"}},
}


def test_user_maps_to_account() -> None:
    account = mapping.account_from_user(USER)
    assert account.external_id == "00ub0oNGTSWTBKOLGLNR"
    assert account.status is AccountStatus.ACTIVE  # locked out is still an account that can sign in again
    assert (account.login, account.email, account.aliases) == (
        "isaac.brock@example.com",
        "isaac.brock@example.com",
        ["isaac@example.org"],
    )
    assert (account.employee_id, account.manager_external_id, account.department) == (
        "187",
        "00ub0oNGTSWTBKOMGLNR",
        "Engineering",
    )
    assert account.last_login_at == datetime(2013, 7, 2, 21, 36, 25, 344000, tzinfo=UTC)


def test_missing_optional_fields_are_none() -> None:
    bare = {"id": "00u1", "status": "DEPROVISIONED", "profile": {"login": "x@example.com"}}
    account = mapping.account_from_user(bare)
    assert account.status is AccountStatus.DEPROVISIONED
    assert (account.email, account.employee_id, account.last_login_at, account.aliases) == (
        None,
        None,
        None,
        [],
    )


def test_factors_give_mfa_state() -> None:
    factors = [
        {"id": "opf1", "factorType": "push", "provider": "OKTA", "status": "ACTIVE"},
        {"id": "mbl1", "factorType": "sms", "provider": "OKTA", "status": "PENDING_ACTIVATION"},
        {"id": "fwf1", "factorType": "webauthn", "provider": "FIDO", "status": "ACTIVE"},
    ]
    mfa = mapping.mfa_from_factors("00u1", factors)
    assert (mfa.state, mfa.methods) == (MfaState.ENROLLED, ["push", "webauthn"])
    pending_only = mapping.mfa_from_factors("00u1", factors[1:2])
    assert pending_only.state is MfaState.NOT_ENROLLED


def test_grants_and_roles() -> None:
    assert mapping.grant_from_app_user("0oa1", {"id": "00u1", "scope": "GROUP"}).inherited
    assert not mapping.grant_from_app_user("0oa1", {"id": "00u1", "scope": "USER"}).inherited
    role = mapping.grant_from_role("00u1", {"id": "ra1", "type": "SUPER_ADMIN", "assignmentType": "USER"})
    assert (role.entitlement_kind, role.entitlement_external_id, role.inherited) == (
        EntitlementKind.ROLE,
        "SUPER_ADMIN",
        False,
    )
    assert all(r.privileged and not r.has_members for r in mapping.role_entitlements())


def test_link_header_and_rate_headers() -> None:
    link = (
        '<https://x.okta.com/api/v1/users?limit=200>; rel="self", '
        '<https://x.okta.com/api/v1/users?after=00ubfjQEMYBLRUWIEDKK&limit=200>; rel="next"'
    )
    assert mapping.next_link(link) == "https://x.okta.com/api/v1/users?after=00ubfjQEMYBLRUWIEDKK&limit=200"
    assert mapping.next_link('<https://x.okta.com/api/v1/users?limit=200>; rel="self"') is None
    headers = {
        "X-Rate-Limit-Limit": "600",
        "X-Rate-Limit-Remaining": "598",
        "X-Rate-Limit-Reset": "1609459260",
        "Date": "Fri, 01 Jan 2021 00:00:00 GMT",  # the server's clock: 60 s before the reset
    }
    rate = mapping.rate_from_headers(headers, now=1000.0)
    assert (rate.limit, rate.remaining, rate.reset_at) == (600, 598, 1060.0)  # reset on our clock


def test_system_log_events_name_what_changed() -> None:
    events = [
        {
            "eventType": "group.user_membership.add",
            "outcome": {"result": "SUCCESS"},
            "target": [{"id": "00u1", "type": "User"}, {"id": "00g1", "type": "UserGroup"}],
        },
        {
            "eventType": "user.lifecycle.suspend",
            "outcome": {"result": "SUCCESS"},
            "target": [{"id": "00u2", "type": "User"}],
        },
        {
            "eventType": "user.lifecycle.suspend",
            "outcome": {"result": "FAILURE"},
            "target": [{"id": "00u3", "type": "User"}],
        },
        {
            "eventType": "policy.evaluate_sign_on",
            "outcome": {"result": "SUCCESS"},
            "target": [{"id": "00u4", "type": "User"}],
        },
    ]
    assert mapping.changes_from_events(events) == ({"00u1", "00u2"}, {"00g1"})


def test_custom_role_assignments_map_to_their_custom_role() -> None:
    by_field = {"id": "irb1", "label": "UserCreator", "type": "CUSTOM", "role": "cr0Yq6IJxGIr0ouum0g3"}
    by_link = {
        "id": "irb2",
        "label": "UserCreator",
        "type": "CUSTOM",
        "assignmentType": "GROUP",
        "_links": {"role": {"href": "https://x.okta.com/api/v1/iam/roles/cr0Yq6IJxGIr0ouum0g3"}},
    }
    direct = mapping.grant_from_role("00u1", by_field)
    through_group = mapping.grant_from_role("00u1", by_link)
    assert direct.entitlement_external_id == through_group.entitlement_external_id == "cr0Yq6IJxGIr0ouum0g3"
    assert (direct.inherited, through_group.inherited) == (False, True)
    label_only = mapping.grant_from_role("00u1", {"id": "irb3", "label": "Auditors", "type": "CUSTOM"})
    assert label_only.entitlement_external_id == "Auditors"
    assert (direct.scope, through_group.scope, label_only.scope) == (None, None, None)
    role = mapping.entitlement_from_custom_role({"id": "cr0Yq6IJxGIr0ouum0g3", "label": "UserCreator"})
    assert (role.kind, role.name, role.privileged, role.description) == (
        EntitlementKind.ROLE,
        "UserCreator",
        True,
        None,
    )


def test_a_custom_role_assignment_keeps_its_resource_set_and_is_given_back_over_it() -> None:
    """The resource set of a CUSTOM assignment, from its ``resource-set`` field or its
    ``_links.resource-set`` link (the Roles API reference's "custom role assigned to the user
    directly"), is the grant's scope; assignRoleToUser's body names it again.  A standard role
    has none."""
    base = "https://x.okta.com/api/v1/iam"
    by_field = {
        "id": "irb1qe6PGuMc7Oh8N0g4",
        "label": "UserCreator",
        "type": "CUSTOM",
        "assignmentType": "USER",
        "role": "cr0Yq6IJxGIr0ouum0g3",
        "resource-set": "iamoJDFKaJxGIr0oamd9g",
    }
    by_link = {
        "id": "irb1qe6PGuMc7Oh8N0g5",
        "label": "UserCreator",
        "type": "CUSTOM",
        "assignmentType": "USER",
        "_links": {
            "role": {"href": f"{base}/roles/cr0Yq6IJxGIr0ouum0g3"},
            "resource-set": {"href": f"{base}/resource-sets/iamoJDFKaJxGIr0oamd0q"},
        },
    }
    standard = {"id": "ra1", "label": "Super Administrator", "type": "SUPER_ADMIN", "assignmentType": "USER"}
    assert [mapping.grant_from_role("00u1", r).scope for r in (by_field, by_link, standard)] == [
        "iamoJDFKaJxGIr0oamd9g",
        "iamoJDFKaJxGIr0oamd0q",
        None,
    ]
    assert mapping.role_body("cr0Yq6IJxGIr0ouum0g3", "iamoJDFKaJxGIr0oamd9g") == {
        "type": "CUSTOM",
        "role": "cr0Yq6IJxGIr0ouum0g3",
        "resource-set": "iamoJDFKaJxGIr0oamd9g",
    }
    assert mapping.role_body("SUPER_ADMIN", None) == {"type": "SUPER_ADMIN"}
    with pytest.raises(ValueError, match="resource set"):
        mapping.role_body("cr0Yq6IJxGIr0ouum0g3", None)
