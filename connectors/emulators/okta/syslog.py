"""The System Log: the events mutations append, with their actor and targets."""

from __future__ import annotations

import uuid
from typing import Any

from connectors.emulators.okta.records import (
    Group,
    OktaData,
    User,
    iso,
    now,
)


class SystemLog(OktaData):
    """The System Log: the events mutations append, with their actor and targets."""

    def log(
        self, event_type: str, message: str, targets: list[dict[str, Any]], actor: str = "accessctl"
    ) -> None:
        self.logs.append(
            {
                "uuid": str(uuid.uuid4()),
                "published": iso(now()),
                "eventType": event_type,
                "version": "0",
                "severity": "INFO",
                "legacyEventType": None,
                "displayMessage": message,
                "actor": {
                    "id": "00uadmin000000000000",
                    "type": "User",
                    "alternateId": actor,
                    "displayName": actor,
                },
                "client": {
                    "userAgent": {"rawUserAgent": "accessctl"},
                    "ipAddress": "127.0.0.1",
                    "zone": "null",
                },
                "outcome": {"result": "SUCCESS", "reason": None},
                "target": targets,
                "transaction": {"type": "WEB", "id": uuid.uuid4().hex[:20], "detail": {}},
                "debugContext": {"debugData": {}},
                "authenticationContext": {"authenticationStep": 0, "externalSessionId": "trs000000"},
                "securityContext": {},
                "request": {"ipChain": []},
            }
        )

    def user_target(self, user: User) -> dict[str, Any]:
        return {
            "id": user.id,
            "type": "User",
            "alternateId": user.profile["login"],
            "displayName": user.profile.get("displayName"),
            "detailEntry": None,
        }

    def group_target(self, group: Group) -> dict[str, Any]:
        return {
            "id": group.id,
            "type": "UserGroup",
            "alternateId": "unknown",
            "displayName": group.name,
            "detailEntry": None,
        }
