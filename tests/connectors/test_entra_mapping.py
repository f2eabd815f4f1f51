"""Graph JSON -> value types, on fixtures shaped like Microsoft Graph v1.0's documented responses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.base import AccountStatus, EntitlementKind, MfaState
from connectors.entra import mapping

USER = {
    "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
    "userPrincipalName": "AdeleV@contoso.com",
    "mail": "AdeleV@contoso.com",
    "otherMails": ["adele.vance@fabrikam.com"],
    "proxyAddresses": ["SMTP:AdeleV@contoso.com", "smtp:adele@contoso.onmicrosoft.com"],
    "displayName": "Adele Vance",
    "givenName": "Adele",
    "surname": "Vance",
    "accountEnabled": True,
    "employeeId": "E1024",
    "department": "Retail",
    "jobTitle": "Retail Manager",
    "createdDateTime": "2021-03-04T10:11:12Z",
    "userType": "Member",
    "signInActivity": {
        "lastSignInDateTime": "2024-05-01T08:00:00Z",
        "lastSignInRequestId": "c1a2",
        "lastNonInteractiveSignInDateTime": "2024-05-03T09:30:00Z",
        "lastNonInteractiveSignInRequestId": "d3b4",
    },
    "manager": {"@odata.type": "#microsoft.graph.user", "id": "5bde3e51-d13b-4db1-9948-fe4b109d11a7"},
}


def test_user_maps_to_account() -> None:
    account = mapping.account_from_user(USER)
    assert (account.external_id, account.login, account.email) == (
        "87d349ed-44d7-43e1-9a83-5f2406dee5bd",
        "AdeleV@contoso.com",
        "AdeleV@contoso.com",
    )
    assert account.status is AccountStatus.ACTIVE
    # other addresses become aliases once, without the "smtp:" prefix or the primary address again
    assert account.aliases == ["adele.vance@fabrikam.com", "adele@contoso.onmicrosoft.com"]
    assert (account.employee_id, account.manager_external_id) == (
        "E1024",
        "5bde3e51-d13b-4db1-9948-fe4b109d11a7",
    )
    assert (account.department, account.title, account.display_name) == (
        "Retail",
        "Retail Manager",
        "Adele Vance",
    )
    assert account.created_at == datetime(2021, 3, 4, 10, 11, 12, tzinfo=UTC)
    # the later of interactive and non-interactive sign-ins
    assert account.last_login_at == datetime(2024, 5, 3, 9, 30, tzinfo=UTC)


def test_a_disabled_user_is_suspended() -> None:
    assert mapping.account_from_user({**USER, "accountEnabled": False}).status is AccountStatus.SUSPENDED


def test_without_sign_in_activity_and_optional_fields() -> None:
    # signInActivity needs AuditLog.Read.All and a premium licence: without it, no last login, not an error
    bare = {"id": "u1", "userPrincipalName": "svc-build@contoso.com"}
    account = mapping.account_from_user(bare)
    assert (account.email, account.employee_id, account.manager_external_id, account.last_login_at) == (
        None,
        None,
        None,
        None,
    )
    assert (account.aliases, account.display_name, account.status) == (
        [],
        "svc-build@contoso.com",
        AccountStatus.ACTIVE,
    )
    never = {**bare, "signInActivity": {"lastSignInDateTime": None, "lastNonInteractiveSignInDateTime": None}}
    assert mapping.account_from_user(never).last_login_at is None
    assert mapping.account_from_user({**bare, "employeeId": ""}).employee_id is None


def test_required_fields_are_required() -> None:
    with pytest.raises(KeyError):
        mapping.account_from_user({"id": "u1", "mail": "x@contoso.com"})
    with pytest.raises(KeyError):
        mapping.mfa_from_registration({"isMfaRegistered": True})


def test_registration_details_give_mfa_state() -> None:
    registered = {
        "id": "86462606-fde0-4fc4-9e0c-a20eb73e54c6",
        "userPrincipalName": "AlexW@contoso.com",
        "isMfaRegistered": True,
        "isMfaCapable": True,
        "methodsRegistered": ["microsoftAuthenticatorPush", "softwareOneTimePasscode"],
        "isSystemPreferredAuthenticationMethodEnabled": False,
    }
    mfa = mapping.mfa_from_registration(registered)
    assert (mfa.state, mfa.methods, mfa.enforced) == (
        MfaState.ENROLLED,
        ["microsoftAuthenticatorPush", "softwareOneTimePasscode"],
        None,  # the report says nothing per user about enforcement (Conditional Access decides)
    )
    not_registered = {**registered, "isMfaRegistered": False, "methodsRegistered": []}
    assert mapping.mfa_from_registration(not_registered).state is MfaState.NOT_ENROLLED
    unknown = {k: v for k, v in registered.items() if k not in ("isMfaRegistered", "methodsRegistered")}
    assert mapping.mfa_from_registration(unknown).state is MfaState.UNKNOWN


def test_entitlements_and_members() -> None:
    role = mapping.entitlement_from_role(
        {"id": "62e90394-69f5-4237-9190-012177145e10", "displayName": "Global Administrator"}
    )
    assert (role.kind, role.name, role.privileged) == (EntitlementKind.ROLE, "Global Administrator", True)
    group = mapping.entitlement_from_group({"id": "g1", "displayName": None})
    assert (group.kind, group.name, group.description) == (EntitlementKind.GROUP, "g1", None)
    assert mapping.is_group({"@odata.type": "#microsoft.graph.group", "id": "g1"})
    assert not mapping.is_user({"@odata.type": "#microsoft.graph.servicePrincipal", "id": "sp"})
    inherited = mapping.grant(
        "u1", EntitlementKind.ROLE, "62e90394-69f5-4237-9190-012177145e10", via="g-admins"
    )
    assert (inherited.inherited, inherited.via) == (True, "g-admins")
