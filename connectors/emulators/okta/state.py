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

    def lifecycle(self, key: str, action: str) -> User:
        with self.lock:
            user = self.user(key)
            allowed = {
                "suspend": ({"ACTIVE"}, "SUSPENDED", "user.lifecycle.suspend"),
                "unsuspend": ({"SUSPENDED"}, "ACTIVE", "user.lifecycle.unsuspend"),
                "deactivate": (None, "DEPROVISIONED", "user.lifecycle.deactivate"),
                "activate": ({"STAGED", "PROVISIONED", "DEPROVISIONED"}, "ACTIVE", "user.lifecycle.activate"),
                "reactivate": ({"PROVISIONED", "DEPROVISIONED"}, "ACTIVE", "user.lifecycle.reactivate"),
                "unlock": ({"LOCKED_OUT"}, "ACTIVE", "user.account.unlock"),
            }
            if action not in allowed:
                raise OktaApiError(404, "E0000022", "The endpoint does not support the provided HTTP method")
            sources, target, event = allowed[action]
            if sources is not None and user.status not in sources:
                raise OktaApiError(
                    400,
                    "E0000001",
                    "Api validation failed: lifecycle",
                    [f"Cannot {action} a user that is {user.status.lower().replace('_', ' ')}"],
                )
            if user.status == target:
                return user
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
        with self.lock:
            user = self.user(key)
            user.sessions_cleared_at = now()
            if oauth_tokens:
                user.oauth_tokens_revoked_at = user.sessions_cleared_at
            self.log("user.session.clear", "Clear user session", [self.user_target(user)])

    def revoke_grants(self, key: str) -> None:
        with self.lock:
            user = self.user(key)
            user.grants_revoked_at = now()
            self.log("user.account.revoke_grants", "Revoke user grants", [self.user_target(user)])

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

    def token_owner(self) -> User:
        """The admin whose API token callers present: the org's first active super admin."""
        with self.lock:
            candidates = set(self.roles)
            for gid, roles in self.group_roles.items():
                if gid in self.groups and any(r.type == "SUPER_ADMIN" for r in roles):
                    candidates.update(self.groups[gid].members)
            admins = [
                uid
                for uid in candidates
                if uid in self.users
                and self.users[uid].status == "ACTIVE"
                and any(r.type == "SUPER_ADMIN" for r in self.user_role_assignments(uid))
            ]
            if not admins:
                raise OktaApiError(
                    403, "E0000006", "You do not have permission to perform the requested action"
                )
            return self.users[min(admins, key=lambda uid: self.user_index.get(uid, 0))]

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
