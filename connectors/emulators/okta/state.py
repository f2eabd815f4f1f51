"""What the emulated Okta org holds, built from a synthetic :class:`Directory`, and its mutations.

Every mutation goes through a method here, which updates ``lastUpdated``, drops the cached JSON
and appends the System Log event Okta would write, so incremental sync sees exactly what it would
see in production.
"""

from __future__ import annotations

import random
from typing import Any

from connectors.emulators.model import Directory
from connectors.emulators.okta.loading import OktaLoader
from connectors.emulators.okta.records import (
    FACTOR_TYPES,
    OKTA_STATUS,
    ROLE_LABELS,
    USER_TYPE_ID,
    App,
    CustomRole,
    Group,
    OktaApiError,
    RoleAssignment,
    User,
    iso,
    not_found,
    now,
    okta_id,
)
from connectors.emulators.okta.rendering import OktaRendering
from connectors.emulators.okta.syslog import SystemLog

__all__ = [
    "FACTOR_TYPES",
    "OKTA_STATUS",
    "ROLE_LABELS",
    "USER_TYPE_ID",
    "App",
    "CustomRole",
    "Group",
    "OktaApiError",
    "OktaState",
    "RoleAssignment",
    "User",
    "iso",
    "not_found",
    "now",
    "okta_id",
]


class OktaState(OktaLoader, OktaRendering, SystemLog):
    """The org's users, groups, apps, admin roles and System Log, with Okta's rules for changing them."""

    def __init__(self, directory: Directory, base_url: str) -> None:
        super().__init__(base_url)
        self._load(directory)

    # -- mutations -----------------------------------------------------------------------

    def _touch(self, user: User, status: str | None = None) -> None:
        stamp = now()
        if status is not None and status != user.status:
            user.status = status
            user.status_changed = stamp
        user.last_updated = stamp
        user._json = None

    #: action -> (the statuses it may start from, the status it ends in, the System Log event)
    LIFECYCLE = {
        "suspend": ({"ACTIVE"}, "SUSPENDED", "user.lifecycle.suspend"),
        "unsuspend": ({"SUSPENDED"}, "ACTIVE", "user.lifecycle.unsuspend"),
        "deactivate": (
            {"STAGED", "PROVISIONED", "ACTIVE", "RECOVERY", "PASSWORD_EXPIRED", "LOCKED_OUT", "SUSPENDED"},
            "DEPROVISIONED",
            "user.lifecycle.deactivate",
        ),
        "activate": ({"STAGED", "DEPROVISIONED"}, "ACTIVE", "user.lifecycle.activate"),
        "reactivate": ({"PROVISIONED"}, "PROVISIONED", "user.lifecycle.reactivate"),
        "unlock": ({"LOCKED_OUT"}, "ACTIVE", "user.account.unlock"),
    }
    #: how Okta names a status in "Cannot suspend a user that is not active"
    NEEDED = {
        "suspend": "not active",
        "unsuspend": "not suspended",
        "deactivate": "deprovisioned",
        "activate": "active",
        "reactivate": "not provisioned",
        "unlock": "not locked out",
    }

    def lifecycle(self, key: str, action: str) -> User:
        """Okta's user state machine: an action from a status it does not start from is a 400
        E0000001 naming why.  Deactivating ends the user's sessions and revokes its OAuth tokens
        (consent grants stay, as they do in Okta until revoked)."""
        with self.lock:
            user = self.user(key)
            if action not in self.LIFECYCLE:
                raise OktaApiError(404, "E0000022", "The endpoint does not support the provided HTTP method")
            sources, target, event = self.LIFECYCLE[action]
            if user.status not in sources:
                raise OktaApiError(
                    400,
                    "E0000001",
                    f"Api validation failed: {action}",
                    [f"Cannot {action} a user that is {self.NEEDED[action]}"],
                )
            if action == "deactivate":
                user.sessions_cleared_at = user.oauth_tokens_revoked_at = now()
                self.drop_refresh_tokens(user.id)
            self._touch(user, target)
            self.log(event, f"{action.capitalize()} Okta user", [self.user_target(user)])
            return user

    def update_profile(self, key: str, changes: dict[str, Any]) -> User:
        with self.lock:
            user = self.user(key)
            if "login" in changes and changes["login"] != user.profile["login"]:
                self.by_login.pop(user.profile["login"].lower(), None)
                self.by_login[str(changes["login"]).lower()] = user.id
            user.profile.update(changes)
            self._touch(user)
            self.log("user.account.update_profile", "Update user profile for Okta", [self.user_target(user)])
            return user

    def clear_sessions(self, key: str, oauth_tokens: bool) -> None:
        """End every session; with ``oauth_tokens`` also revoke every access and refresh token
        (consent grants are not tokens: they stay)."""
        with self.lock:
            user = self.user(key)
            user.sessions_cleared_at = now()
            if oauth_tokens:
                user.oauth_tokens_revoked_at = user.sessions_cleared_at
                self.drop_refresh_tokens(user.id)
            self.log("user.session.clear", "Clear user session", [self.user_target(user)])

    def revoke_consents(self, key: str, *, client_id: str | None = None, grant_id: str | None = None) -> None:
        """Revoke the user's consent grants: all, one client's or one (404 when that one is gone)."""
        with self.lock:
            user = self.user(key)
            if grant_id is not None:
                self.consent(user.id, grant_id)
            if client_id is not None:
                self.oauth_client(client_id)
            user.grants_revoked_at = now()
            if self.drop_consents(user.id, client_id=client_id, grant_id=grant_id):
                self.log(
                    "app.oauth2.as.consent.revoke", "Revoke user consent grant", [self.user_target(user)]
                )

    def revoke_refresh_tokens(self, key: str, client_id: str, token_id: str | None = None) -> None:
        """Revoke the refresh tokens one client holds for the user: all, or one (404 when gone)."""
        with self.lock:
            user = self.user(key)
            self.oauth_client(client_id)
            if token_id is not None:
                self.refresh_token(user.id, client_id, token_id)
            if self.drop_refresh_tokens(user.id, client_id=client_id, token_id=token_id):
                self.log("app.oauth2.token.revoke", "Revoke refresh token", [self.user_target(user)])

    def add_member(self, gid: str, key: str) -> None:
        with self.lock:
            group, user = self.group(gid), self.user(key)
            if group.type != "OKTA_GROUP":
                raise OktaApiError(
                    400, "E0000003", "The request body was not well-formed.", ["Cannot modify this group"]
                )
            if user.id in group.members:
                return
            group.members[user.id] = None
            self.user_groups.setdefault(user.id, {})[gid] = None
            self._membership_changed(group)
            self.log(
                "group.user_membership.add",
                "Add user to group membership",
                [self.user_target(user), self.group_target(group)],
            )

    def remove_member(self, gid: str, key: str) -> None:
        with self.lock:
            group, user = self.group(gid), self.user(key)
            if group.type != "OKTA_GROUP":
                raise OktaApiError(
                    400, "E0000003", "The request body was not well-formed.", ["Cannot modify this group"]
                )
            if user.id not in group.members:
                return
            del group.members[user.id]
            self.user_groups.get(user.id, {}).pop(gid, None)
            self._membership_changed(group)
            self.log(
                "group.user_membership.remove",
                "Remove user from group membership",
                [self.user_target(user), self.group_target(group)],
            )

    def _membership_changed(self, group: Group) -> None:
        group.last_membership_updated = now()
        group._json = None

    def unassign_app(self, aid: str, key: str) -> None:
        with self.lock:
            app, user = self.app(aid), self.user(key)
            if user.id not in app.users:
                raise not_found(user.id, "AppUser")
            del app.users[user.id]
            self.log(
                "application.user_membership.remove",
                "Remove user from application membership",
                [
                    self.user_target(user),
                    {"id": app.id, "type": "AppInstance", "alternateId": app.label, "displayName": app.label},
                ],
            )

    def assign_app(self, aid: str, key: str) -> bool:
        """Assign the user to the app directly (scope USER); False when it already was, directly.
        One held through a group becomes direct, as Okta's assignment does."""
        with self.lock:
            app, user = self.app(aid), self.user(key)
            if app.users.get(user.id) == "USER":
                return False
            app.users[user.id] = "USER"
            self.log(
                "application.user_membership.add",
                "Add user to application membership",
                [
                    self.user_target(user),
                    {"id": app.id, "type": "AppInstance", "alternateId": app.label, "displayName": app.label},
                ],
            )
            return True

    #: what a CUSTOM assignment must name, and Okta's cause when it does not
    CUSTOM_REQUIRED = {
        "role": "Custom role id or name required for a CUSTOM assignment",
        "resource-set": "Resource set id required for a CUSTOM assignment",
    }

    def assign_role(self, key: str, body: dict[str, Any]) -> RoleAssignment:
        """``POST /users/{id}/roles``: a standard role by ``type``, a custom one by ``type`` CUSTOM,
        ``role`` (id or label) and ``resource-set`` (id), both required (Okta's
        CustomRoleAssignmentSchema): one missing is a 400 E0000001, one unknown a 404 E0000007,
        and nothing is assigned.  One the user already holds directly (a custom role: over the same
        resource set) is a 409 E0000090."""
        with self.lock:
            user = self.user(key)
            kind = body.get("type")
            custom_id = resource_set = None
            if kind == "CUSTOM":
                for name, cause in self.CUSTOM_REQUIRED.items():
                    if not body.get(name):
                        raise OktaApiError(400, "E0000001", f"Api validation failed: {name}", [cause])
                custom_id = self.custom_role(str(body["role"])).id
                resource_set = self.resource_set(str(body["resource-set"]))
            elif kind not in ROLE_LABELS:
                raise OktaApiError(
                    400,
                    "E0000001",
                    "Api validation failed: type",
                    [f"type: '{kind}' is not a valid role type"],
                )
            held = self.roles.setdefault(user.id, [])
            if any(r.type == kind and r.role == custom_id and r.resource_set == resource_set for r in held):
                raise OktaApiError(409, "E0000090", "Duplicate role assignment exception.")
            prefix = "irb" if custom_id else "ra1"
            role = RoleAssignment(
                okta_id(prefix, f"{custom_id or kind}:{resource_set}:{user.id}:{now().isoformat()}"),
                str(kind),
                "USER",
                now(),
                role=custom_id,
                resource_set=resource_set,
            )
            held.append(role)
            self.log("user.account.privilege.grant", "User privilege granted", [self.user_target(user)])
            return role

    def unassign_role(self, key: str, role_id: str) -> None:
        """Only the user's own assignments: one its listing shows through a group (assignmentType
        GROUP) belongs to the group, so for the user it is not found."""
        with self.lock:
            user = self.user(key)
            roles = self.roles.get(user.id, [])
            match = [r for r in roles if r.id == role_id]
            if not match:
                raise not_found(role_id, "Role")
            roles.remove(match[0])
            self.log("user.account.privilege.revoke", "User privilege revoked", [self.user_target(user)])

    def unassign_group_role(self, gid: str, role_id: str) -> None:
        with self.lock:
            group = self.group(gid)
            roles = self.group_roles.get(group.id, [])
            match = [r for r in roles if r.id == role_id]
            if not match:
                raise not_found(role_id, "Role")
            roles.remove(match[0])
            self.log("group.privilege.revoke", "Group privilege revoked", [self.group_target(group)])

    def delete_user(self, key: str) -> bool:
        """Okta deletes a DEPROVISIONED user and deactivates any other; True when deleted."""
        with self.lock:
            user = self.user(key)
            if user.status != "DEPROVISIONED":
                self.lifecycle(user.id, "deactivate")
                return False
            for gid in list(self.user_groups.get(user.id, {})):
                self.groups[gid].members.pop(user.id, None)
            for app in self.apps.values():
                app.users.pop(user.id, None)
            del self.users[user.id]
            self.by_login.pop(user.profile["login"].lower(), None)
            self.user_groups.pop(user.id, None)
            self.roles.pop(user.id, None)
            self.consents.pop(user.id, None)
            self.refresh_tokens.pop(user.id, None)
            self.log("user.lifecycle.delete.completed", "Delete Okta user", [self.user_target(user)])
            return True

    def churn(self, share: float, seed: int) -> dict[str, int]:
        """Change ``share`` of the active users the way a working day does."""
        with self.lock:
            rng = random.Random(seed)
            active = [
                uid for uid in self.user_order if uid in self.users and self.users[uid].status == "ACTIVE"
            ]
            chosen = rng.sample(active, min(len(active), max(1, round(len(active) * share))))
            editable = [g for g in self.group_order if self.groups[g].type == "OKTA_GROUP"]
            counts = {"profile": 0, "membership": 0, "suspended": 0}
            for uid in chosen:
                roll = rng.random()
                if roll < 0.1:
                    self.lifecycle(uid, "suspend")
                    counts["suspended"] += 1
                elif roll < 0.55 and editable:
                    gid = rng.choice(editable)
                    if uid in self.groups[gid].members:
                        self.remove_member(gid, uid)
                    else:
                        self.add_member(gid, uid)
                    counts["membership"] += 1
                else:
                    self.update_profile(
                        uid, {"title": rng.choice(("Senior Engineer", "Lead", "Analyst", "Manager"))}
                    )
                    counts["profile"] += 1
            return counts

    def token_owner(self, role: str = "SUPER_ADMIN") -> User:
        """The admin whose API token callers present: the org's first active holder of ``role``
        (directly or through a group), by default a super admin."""
        with self.lock:
            candidates = set(self.roles)
            for gid, roles in self.group_roles.items():
                if gid in self.groups and any(r.type == role for r in roles):
                    candidates.update(self.groups[gid].members)
            admins = [
                uid
                for uid in candidates
                if uid in self.users
                and self.users[uid].status == "ACTIVE"
                and any(r.type == role for r in self.user_role_assignments(uid))
            ]
            if not admins:
                raise OktaApiError(
                    403, "E0000006", "You do not have permission to perform the requested action"
                )
            return self.users[min(admins, key=lambda uid: self.user_index.get(uid, 0))]

    def admin_for(self, role: str) -> User:
        """Someone to own a new API token acting as ``role``: its first active holder, or else the
        first active person holding no admin role, given ``role`` now."""
        with self.lock:
            try:
                return self.token_owner(role)
            except OktaApiError:
                pass
            for uid in self.user_order:
                user = self.users.get(uid)
                if (
                    user is not None
                    and user.status == "ACTIVE"
                    and user.profile.get("userType") == "Employee"
                    and not self.user_role_assignments(uid)
                ):
                    self.assign_role(uid, {"type": role})
                    return user
            raise OktaApiError(400, "E0000001", "Api validation failed: owner", ["no one can own the token"])

    def role_grants(self) -> int:
        """Distinct (user, role) pairs, directly or through groups: what a sync should store.  A custom
        role counts by its id, a standard one by its type."""
        pairs = {
            (uid, r.role or r.type) for uid, roles in self.roles.items() if uid in self.users for r in roles
        }
        for gid, roles in self.group_roles.items():
            for uid in self.groups[gid].members if gid in self.groups else {}:
                pairs.update((uid, r.role or r.type) for r in roles)
        return len(pairs)
