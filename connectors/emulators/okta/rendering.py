"""Users, groups, apps, app users, role assignments and custom roles as Okta's API renders them."""

from __future__ import annotations

from typing import Any

from connectors.emulators.okta.records import (
    ROLE_LABELS,
    USER_TYPE_ID,
    App,
    CustomRole,
    Group,
    OktaData,
    RoleAssignment,
    User,
    iso,
)


class OktaRendering(OktaData):
    """Users, groups, apps, app users, role assignments and custom roles as Okta's API renders them."""

    def user_json(self, user: User) -> dict[str, Any]:
        if user._json is None:
            base = f"{self.base_url}/api/v1/users/{user.id}"
            user._json = {
                "id": user.id,
                "status": user.status,
                "created": iso(user.created),
                "activated": iso(user.activated),
                "statusChanged": iso(user.status_changed),
                "lastLogin": iso(user.last_login),
                "lastUpdated": iso(user.last_updated),
                "passwordChanged": iso(user.password_changed),
                "type": {"id": USER_TYPE_ID},
                "profile": dict(user.profile),
                "credentials": {"password": {}, "provider": {"type": "OKTA", "name": "OKTA"}},
                "_links": {
                    "self": {"href": base},
                    "type": {"href": f"{self.base_url}/api/v1/meta/types/user/{USER_TYPE_ID}"},
                    "schema": {"href": f"{self.base_url}/api/v1/meta/schemas/user/osc1ab2cd3ef4gh5ij6k"},
                },
            }
        return user._json

    def group_json(self, group: Group) -> dict[str, Any]:
        if group._json is None:
            base = f"{self.base_url}/api/v1/groups/{group.id}"
            group._json = {
                "id": group.id,
                "created": iso(group.created),
                "lastUpdated": iso(group.last_updated),
                "lastMembershipUpdated": iso(group.last_membership_updated),
                "objectClass": ["okta:user_group"]
                if group.type != "APP_GROUP"
                else ["okta:windows_security_principal"],
                "type": group.type,
                "profile": {"name": group.name, "description": group.description},
                "_links": {
                    "logo": [
                        {
                            "name": "medium",
                            "href": f"{self.base_url}/img/logos/groups/okta-medium.png",
                            "type": "image/png",
                        }
                    ],
                    "users": {"href": f"{base}/users"},
                    "apps": {"href": f"{base}/apps"},
                },
            }
        return group._json

    def app_json(self, app: App) -> dict[str, Any]:
        return {
            "id": app.id,
            "name": app.name,
            "label": app.label,
            "status": "ACTIVE",
            "created": iso(app.created),
            "lastUpdated": iso(app.created),
            "signOnMode": "SAML_2_0",
            "accessibility": {"selfService": False},
            "visibility": {"autoSubmitToolbar": False, "hide": {"iOS": False, "web": False}},
            "features": [],
            "settings": {"app": {}},
            "credentials": {"userNameTemplate": {"template": "${source.login}", "type": "BUILT_IN"}},
            "_links": {
                "users": {"href": f"{self.base_url}/api/v1/apps/{app.id}/users"},
                "groups": {"href": f"{self.base_url}/api/v1/apps/{app.id}/groups"},
            },
        }

    def app_user_json(self, app: App, uid: str) -> dict[str, Any]:
        user = self.users[uid]
        stamp = iso(user.created)
        return {
            "id": uid,
            "created": stamp,
            "lastUpdated": stamp,
            "scope": app.users[uid],
            "status": "PROVISIONED" if user.status == "ACTIVE" else "INACTIVE",
            "statusChanged": stamp,
            "syncState": "DISABLED",
            "credentials": {"userName": user.profile["login"]},
            "profile": {},
            "_links": {
                "app": {"href": f"{self.base_url}/api/v1/apps/{app.id}"},
                "user": {"href": f"{self.base_url}/api/v1/users/{uid}"},
            },
        }

    def role_json(self, uid: str | None, role: RoleAssignment) -> dict[str, Any]:
        """A role assignment as a user's (``uid``) or a group's listing shows it: one held through a
        group has assignmentType GROUP and the group as its assignee."""
        assignee = (
            f"{self.base_url}/api/v1/groups/{role.group_id}"
            if role.group_id
            else f"{self.base_url}/api/v1/users/{uid}"
        )
        body: dict[str, Any] = {"id": role.id}
        if role.role is not None:
            body["role"] = role.role
        custom = self.custom_roles.get(role.role or "")
        body.update(
            {
                "label": custom.label if custom else ROLE_LABELS.get(role.type, role.type),
                "type": role.type,
                "status": "ACTIVE",
                "created": iso(role.created),
                "lastUpdated": iso(role.created),
                "assignmentType": role.assignment_type,
            }
        )
        links: dict[str, Any] = {"assignee": {"href": assignee}}
        if role.resource_set is not None and role.role is not None:
            body["resource-set"] = role.resource_set
            iam = f"{self.base_url}/api/v1/iam"
            links.update(
                {
                    "resource-set": {"href": f"{iam}/resource-sets/{role.resource_set}"},
                    "role": {"href": f"{iam}/roles/{role.role}"},
                    "permissions": {"href": f"{iam}/roles/{role.role}/permissions"},
                    "member": {
                        "href": f"{iam}/resource-sets/{role.resource_set}/bindings/{role.role}/members/{role.id}"
                    },
                }
            )
        body["_links"] = links
        return body

    def custom_role_json(self, role: CustomRole) -> dict[str, Any]:
        base = f"{self.base_url}/api/v1/iam/roles/{role.id}"
        return {
            "id": role.id,
            "label": role.label,
            "description": role.description,
            "created": iso(role.created),
            "lastUpdated": iso(role.created),
            "_links": {"self": {"href": base}, "permissions": {"href": f"{base}/permissions"}},
        }
