"""Pure functions from the Reports API's admin activities (``activities.list``,
``applicationName=admin``) to what changed: the groups whose membership changed and the admin
roles whose assignments changed, by the names the events carry (a group's email, a role's name).

The events (Google's "Admin Audit Activity Events" appendix):

- ``GROUP_SETTINGS``: ``ADD_GROUP_MEMBER``, ``REMOVE_GROUP_MEMBER``, ``UPDATE_GROUP_MEMBER``
  (``GROUP_EMAIL``, ``USER_EMAIL``: the member, a user or a group), ``CREATE_GROUP`` (``GROUP_EMAIL``);
- ``DELEGATED_ADMIN_SETTINGS``: ``ASSIGN_ROLE``, ``UNASSIGN_ROLE`` (``ROLE_NAME``, ``USER_EMAIL``);
- ``USER_SETTINGS``: ``GRANT_ADMIN_PRIVILEGE``, ``REVOKE_ADMIN_PRIVILEGE`` (``USER_EMAIL``): the user
  made (or no longer) a super admin, i.e. assigned ``_SEED_ADMIN_ROLE``.

Users themselves are not followed here (the users listing is diffed instead), nor is
``DELETE_GROUP``: a deleted group cannot be looked up to its id, and the next full pass ends it.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GROUP_EVENTS = frozenset({"ADD_GROUP_MEMBER", "REMOVE_GROUP_MEMBER", "UPDATE_GROUP_MEMBER", "CREATE_GROUP"})
ROLE_EVENTS = frozenset({"ASSIGN_ROLE", "UNASSIGN_ROLE"})
SUPER_ADMIN_EVENTS = frozenset({"GRANT_ADMIN_PRIVILEGE", "REVOKE_ADMIN_PRIVILEGE"})
SUPER_ADMIN_ROLE = "_SEED_ADMIN_ROLE"


@dataclass
class FeedChanges:
    group_emails: set[str] = field(default_factory=set)
    role_names: set[str] = field(default_factory=set)


def activity_time(activity: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(activity["id"]["time"].replace("Z", "+00:00")).astimezone(UTC)


def activity_key(activity: Mapping[str, Any]) -> str:
    """8 characters telling one activity from another (its time and Google's uniqueQualifier)."""
    ident = activity["id"]
    raw = f"{ident['time']}|{ident.get('uniqueQualifier', '')}".encode()
    return base64.urlsafe_b64encode(hashlib.blake2b(raw, digest_size=6).digest()).decode()


def _parameters(event: Mapping[str, Any]) -> dict[str, str]:
    return {
        p["name"]: p["value"]
        for p in event.get("parameters") or []
        if "name" in p and isinstance(p.get("value"), str)
    }


def changes_from_activities(activities: Iterable[Mapping[str, Any]]) -> FeedChanges:
    """The groups (by email) and roles (by name) the activities changed the holders of."""
    changes = FeedChanges()
    for activity in activities:
        for event in activity.get("events") or []:
            name = event.get("name")
            parameters = _parameters(event)
            if name in GROUP_EVENTS and parameters.get("GROUP_EMAIL"):
                changes.group_emails.add(parameters["GROUP_EMAIL"].lower())
            elif name in ROLE_EVENTS and parameters.get("ROLE_NAME"):
                changes.role_names.add(parameters["ROLE_NAME"])
            elif name in SUPER_ADMIN_EVENTS:
                changes.role_names.add(SUPER_ADMIN_ROLE)
    return changes


def rfc3339(value: datetime) -> str:
    """The Reports API's time format, to the millisecond."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
