"""The Admin SDK Reports API's admin activity log (``activities.list``), as the emulated domain records it.

Every change to the domain's state, through the Directory API or the emulator's own hooks, is
recorded as Google records it for ``applicationName=admin``: one activity with one event (its
``type`` and ``name``, e.g. ``GROUP_SETTINGS`` / ``ADD_GROUP_MEMBER``, and its parameters, e.g.
``GROUP_EMAIL`` and ``USER_EMAIL``).  Activities are listed newest first, paged with
``nextPageToken``; a page token pins the listing's end time, so activities recorded meanwhile do
not shift its pages.

Reports data reaches Google's API late (minutes to hours): ``hold`` keeps what is recorded from
the listing until ``release``, with the times it happened, as a late arrival looks to a reader.
"""

from __future__ import annotations

import base64
import hashlib
import operator
import random
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.emulators.google.state import GoogleApiError, iso, now

#: the applications ``activities.list`` knows (the discovery document's enum); only ``admin`` is recorded
APPLICATIONS = frozenset(
    {
        "access_transparency", "admin", "calendar", "chat", "drive", "gcp", "gmail", "gplus", "groups",
        "groups_enterprise", "jamboard", "login", "meet", "mobile", "rules", "saml", "token",
        "user_accounts", "context_aware_access", "chrome", "data_studio", "keep", "vault",
        "gemini_in_workspace_apps", "classroom", "assignments", "cloud_search", "tasks", "data_migration",
        "meet_hardware", "directory_sync", "ldap", "profile", "access_evaluation", "admin_data_action",
        "contacts", "takeout", "graduation", "voice", "chrome_sync", "workspace_studio", "gemini_notebook",
    }
)  # fmt: skip
MAX_RESULTS = 1000
RETENTION = timedelta(days=180)
_FILTER = re.compile(r"^([A-Za-z0-9_]+)(==|<>|<=|>=|<|>)(.*)$")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "<>": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class Activity:
    time: datetime  # to the millisecond, as listed
    seq: int  # the order it was recorded in, among activities of the same millisecond
    unique: str
    body: dict[str, Any]

    @property
    def actor(self) -> dict[str, str]:
        return self.body["actor"]

    def parameters(self) -> dict[str, str]:
        return {p["name"]: p.get("value", "") for e in self.body["events"] for p in e.get("parameters", [])}


class ActivityLog:
    """What the domain's admins did, newest last; thread-safe."""

    def __init__(self, customer_id: str, default_actor: tuple[str, str]) -> None:
        self.customer_id = customer_id
        #: (email, profile id) of the admin a change made outside the API (a hook) is attributed to
        self.default_actor = default_actor
        self._lock = threading.Lock()
        self._visible: list[Activity] = []
        self._held: list[Activity] | None = None
        self._rng = random.Random(customer_id)
        self._last = datetime.min.replace(tzinfo=UTC)
        self._seq = 0

    def record(
        self, kind: str, name: str, parameters: Mapping[str, str], actor: tuple[str, str] | None = None
    ) -> Activity:
        email, profile_id = actor or self.default_actor
        with self._lock:
            at = now()
            at = max(at.replace(microsecond=at.microsecond // 1000 * 1000), self._last)  # never back
            self._last = at
            self._seq += 1
            unique = str(self._rng.randint(-(2**63), 2**63 - 1))
            body = {
                "kind": "admin#reports#activity",
                "id": {
                    "time": iso(at),
                    "uniqueQualifier": unique,
                    "applicationName": "admin",
                    "customerId": self.customer_id,
                },
                "etag": '"' + hashlib.sha1(f"{at.isoformat()}{unique}".encode()).hexdigest()[:27] + '"',
                "actor": {"callerType": "USER", "email": email, "profileId": profile_id},
                "ipAddress": "127.0.0.1",
                "events": [
                    {
                        "type": kind,
                        "name": name,
                        "parameters": [{"name": k, "value": v} for k, v in sorted(parameters.items())],
                    }
                ],
            }
            activity = Activity(at, self._seq, unique, body)
            (self._held if self._held is not None else self._visible).append(activity)
            return activity

    def hold(self) -> None:
        """From now on, what is recorded stays out of the listing until :meth:`release`."""
        with self._lock:
            if self._held is None:
                self._held = []

    def release(self) -> int:
        """Everything held reaches the listing, at the times it happened; returns how many."""
        with self._lock:
            held, self._held = self._held or [], None
            self._visible.extend(held)
            return len(held)

    def visible(self) -> list[Activity]:
        with self._lock:
            return list(self._visible)


def _parse_time(raw: str | None, name: str) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise GoogleApiError(400, "invalid", f"Invalid value for: {name}") from None
    if value.tzinfo is None:
        raise GoogleApiError(400, "invalid", f"Invalid value for: {name}")
    return value.astimezone(UTC)


def _filters(raw: str | None) -> list[tuple[str, str, str]]:
    if not raw:
        return []
    parsed = []
    for part in raw.split(","):
        match = _FILTER.match(part.strip())
        if match is None:
            raise GoogleApiError(400, "invalid", "Invalid value for: filters")
        parsed.append((match[1], match[2], match[3]))
    return parsed


def _passes(activity: Activity, filters: list[tuple[str, str, str]]) -> bool:
    """Google's ``filters``: each named parameter compared with its value (numbers as numbers); an
    activity without the parameter does not pass."""
    values = activity.parameters()
    for name, op, wanted in filters:
        if name not in values:
            return False
        have: Any = values[name]
        want: Any = wanted
        if have.lstrip("-").isdigit() and wanted.lstrip("-").isdigit():
            have, want = int(have), int(wanted)
        if not _COMPARE[op](have, want):
            return False
    return True


def _token(end: datetime, last_seq: int, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{end.isoformat()}|{last_seq}|{offset}".encode()).decode()


def _from_token(token: str) -> tuple[datetime, int, int]:
    try:
        end, last_seq, offset = base64.urlsafe_b64decode(token.encode()).decode().split("|")
        return datetime.fromisoformat(end), int(last_seq), int(offset)
    except ValueError:
        raise GoogleApiError(400, "invalid", "Invalid value for: pageToken") from None


def list_activities(
    log: ActivityLog,
    *,
    user: tuple[str, str] | None,
    application: str,
    query: Mapping[str, str],
) -> dict[str, Any]:
    """One page of ``activities.list``; ``user`` is the actor ``userKey`` names (None: ``all``)."""
    if application not in APPLICATIONS:
        raise GoogleApiError(400, "invalid", f"Invalid value for: applicationName ({application})")
    customer = query.get("customerId")
    if customer not in (None, "my_customer", log.customer_id):
        raise GoogleApiError(403, "forbidden", "Not Authorized to access this resource/api")
    raw_max = query.get("maxResults", str(MAX_RESULTS))
    try:
        limit = int(raw_max)
    except ValueError:
        raise GoogleApiError(400, "invalid", f"Invalid value '{raw_max}' for maxResults") from None
    if not 1 <= limit <= MAX_RESULTS:
        raise GoogleApiError(
            400, "invalid", f"Invalid value '{raw_max}'. Values must be within the range: [1, {MAX_RESULTS}]"
        )
    current = now()
    start = _parse_time(query.get("startTime"), "startTime")
    end = _parse_time(query.get("endTime"), "endTime")
    if start is not None and start > current:
        raise GoogleApiError(400, "invalid", "Start time occurs after the current time")
    if start is not None and end is not None and start > end:
        raise GoogleApiError(400, "invalid", "Start time occurs after End time")
    filters = _filters(query.get("filters"))
    visible = log.visible()
    offset, last_seq = 0, max((a.seq for a in visible), default=0)
    if query.get("pageToken"):
        # pinned in the page token: what is recorded meanwhile is not in this listing
        end, last_seq, offset = _from_token(query["pageToken"])
    end = end or current
    earliest = max(start or current - RETENTION, current - RETENTION)
    event_name = query.get("eventName")
    selected = [
        a
        for a in visible
        if application == "admin"
        and a.seq <= last_seq
        and earliest <= a.time <= end
        and (user is None or a.actor["email"] == user[0])
        and (event_name is None or any(e["name"] == event_name for e in a.body["events"]))
        and _passes(a, filters)
    ]
    selected.sort(key=lambda a: (a.time, a.seq), reverse=True)  # newest first
    body: dict[str, Any] = {
        "kind": "admin#reports#activities",
        "etag": '"activities"',
        "items": [a.body for a in selected[offset : offset + limit]],
    }
    if offset + limit < len(selected):
        body["nextPageToken"] = _token(end, last_seq, offset + limit)
    return body
