"""Building the org from a synthetic :class:`Directory`: deterministic ids, users with their factors,
groups, app assignments and admin roles (to users and groups, standard and custom)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.emulators.model import Account, Directory
from connectors.emulators.okta.oauth import OktaOAuth
from connectors.emulators.okta.records import (
    FACTOR_TYPES,
    OKTA_STATUS,
    App,
    CustomRole,
    Group,
    RoleAssignment,
    User,
    iso,
    okta_id,
)


def _factor_profile(kind: str, login: str) -> dict[str, Any]:
    if kind in ("sms", "call"):
        return {"phoneNumber": "+15555550100"}
    if kind == "email":
        return {"email": login}
    if kind == "push":
        return {
            "credentialId": login,
            "deviceType": "SmartPhone_IPhone",
            "name": "iPhone",
            "platform": "IOS",
            "version": "17.1",
        }
    if kind == "webauthn":
        return {"credentialId": "dGVzdC1jcmVkZW50aWFs", "authenticatorName": "YubiKey 5"}
    return {"credentialId": login}


class OktaLoader(OktaOAuth):
    """Building the org from a synthetic :class:`Directory`: deterministic ids, users with their factors,
    groups, app assignments and admin roles (to users and groups, standard and custom)."""

    def _load(self, directory: Directory) -> None:
        accounts = {a.key: a for a in directory.accounts}
        ids = {key: okta_id("00u", key) for key in accounts}
        for account in directory.accounts:
            self._add_user(account, ids)
        for group in directory.groups:
            gid = okta_id("00g", group.key)
            stamp = group.created or datetime(2025, 1, 1, tzinfo=UTC)
            members = {ids[k]: None for k in group.member_keys if k in ids}
            self.groups[gid] = Group(
                id=gid,
                type=group.kind,
                name=group.name,
                description=group.description,
                created=stamp,
                last_updated=group.last_updated or stamp,
                last_membership_updated=group.last_updated or stamp,
                members=members,
                owners=[ids[k] for k in group.owner_keys if k in ids],
            )
            self.group_order.append(gid)
            for uid in members:
                self.user_groups.setdefault(uid, {})[gid] = None
        group_ids = {g.key: okta_id("00g", g.key) for g in directory.groups}
        for app in directory.apps:
            aid = okta_id("0oa", app.key)
            users: dict[str, str] = {ids[k]: "USER" for k in app.assigned_keys if k in ids}
            for group_key in app.assigned_group_keys:
                for uid in self.groups[group_ids[group_key]].members if group_key in group_ids else {}:
                    users.setdefault(uid, "GROUP")
            self.apps[aid] = App(
                id=aid,
                name=app.name,
                label=app.label,
                created=datetime(2024, 6, 1, tzinfo=UTC),
                users=users,
                groups=[group_ids[k] for k in app.assigned_group_keys if k in group_ids],
            )
            self.app_order.append(aid)
        assigned = datetime(2025, 3, 1, tzinfo=UTC)
        for role in directory.roles:
            custom_id = resource_set = None
            if role.custom:
                custom_id = okta_id("cr0", role.key)
                resource_set = okta_id("iam", f"{role.key}:resource-set")
                self.resource_sets[resource_set] = f"{role.name} resources"
                self.custom_roles[custom_id] = CustomRole(
                    custom_id, role.name, role.description or role.name, datetime(2025, 2, 1, tzinfo=UTC)
                )
            # custom role bindings have irb ids; standard role assignments ra1 ids
            prefix, kind = ("irb", "CUSTOM") if role.custom else ("ra1", role.name)
            for key in role.assigned_keys:
                if key in ids:
                    self.roles.setdefault(ids[key], []).append(
                        RoleAssignment(
                            okta_id(prefix, f"{role.name}:{key}"),
                            kind,
                            "USER",
                            assigned,
                            role=custom_id,
                            resource_set=resource_set,
                        )
                    )
            for key in role.assigned_group_keys:
                if key in group_ids:
                    gid = group_ids[key]
                    self.group_roles.setdefault(gid, []).append(
                        RoleAssignment(
                            okta_id(prefix, f"{role.name}:group:{key}"),
                            kind,
                            "GROUP",
                            assigned,
                            role=custom_id,
                            resource_set=resource_set,
                            group_id=gid,
                        )
                    )

    def _add_user(self, account: Account, ids: dict[str, str]) -> None:
        uid = ids[account.key]
        manager = ids.get(account.manager_key) if account.manager_key else None
        profile: dict[str, Any] = {
            "firstName": account.first_name,
            "lastName": account.last_name,
            "mobilePhone": None,
            "secondEmail": account.aliases[0] if account.aliases else None,
            "login": account.login,
            "email": account.email or account.login,
            "displayName": account.display_name,
        }
        if account.employee_id:
            profile["employeeNumber"] = account.employee_id
        if account.department:
            profile["department"] = account.department
        if account.title:
            profile["title"] = account.title
        if manager:
            profile["managerId"] = manager
        profile["userType"] = (
            "Service" if account.is_service else ("Shared" if account.is_shared else "Employee")
        )
        status = OKTA_STATUS[account.status]
        user = User(
            id=uid,
            status=status,
            created=account.created,
            activated=account.created,
            status_changed=account.last_updated if status != "ACTIVE" else account.created,
            last_login=account.last_login,
            last_updated=account.last_updated,
            password_changed=account.created,
            profile=profile,
            factors=[
                {
                    "id": okta_id(
                        {"push": "opf", "webauthn": "fwf", "sms": "mbl"}.get(kind, "uft"),
                        f"{account.key}:{kind}",
                    ),
                    "factorType": FACTOR_TYPES[kind][0],
                    "provider": FACTOR_TYPES[kind][1],
                    "vendorName": FACTOR_TYPES[kind][1],
                    "status": "ACTIVE",
                    "created": iso(account.created),
                    "lastUpdated": iso(account.created),
                    "profile": _factor_profile(kind, account.login),
                }
                for kind in account.mfa_factors
            ],
        )
        self.users[uid] = user
        self.user_index[uid] = len(self.user_order)
        self.user_order.append(uid)
        self.by_login[account.login.lower()] = uid
        self.user_groups.setdefault(uid, {})
        for number, grant in enumerate(account.oauth_grants):
            issued = (account.last_login or account.created) - timedelta(days=number)
            self.issue_oauth(uid, grant.client_id, grant.app_name, grant.scopes, max(issued, account.created))
