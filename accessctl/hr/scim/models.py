"""The SCIM resources accessctl serves, as scim2-models classes, and what discovery publishes.

The core User schema with the enterprise extension, stricter where HR needs it: ``userName``,
``active``, ``emails`` (each with a ``value``) and the enterprise ``employeeNumber`` (the HR key)
are required; ``manager.$ref`` is optional (Entra sends only ``manager.value``, the manager's
``id``); ``password`` is neither published nor ever stored.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from pydantic import Field
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    CaseExact,
    ChangePassword,
    ComplexAttribute,
    Email,
    EnterpriseUser,
    ETag,
    Filter,
    Mutability,
    Patch,
    Reference,
    Required,
    ResourceType,
    Schema,
    SchemaExtension,
    ServiceProviderConfig,
    Sort,
    User,
)

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
#: attributes never published, never stored (an HR intake has no use for a password)
WITHHELD = frozenset({"password"})


class HrManager(ComplexAttribute):
    value: Annotated[str | None, Required.true, CaseExact.true] = None
    """The ``id`` of the manager's User here."""

    ref: Annotated[Reference[User] | None, Required.false] = Field(  # type: ignore[type-arg]
        None, serialization_alias="$ref", validation_alias="$ref"
    )
    display_name: Annotated[str | None, Mutability.read_only] = None


class HrEnterpriseUser(EnterpriseUser):
    employee_number: Annotated[str | None, Required.true] = None
    """The HR employee id: what the roster and every HR event key a person on."""

    manager: HrManager | None = None  # type: ignore[assignment]


class HrEmail(Email):
    value: Annotated[str | None, Required.true] = None


class HrUser(User):
    active: Annotated[bool | None, Required.true] = None
    """Employed (true) or terminated (false); HR always says which."""

    emails: Annotated[list[HrEmail] | None, Required.true] = None  # type: ignore[assignment]


#: the User resource with its extension, as validated and stored
ScimUser = HrUser[HrEnterpriseUser]


def _published(schema: Schema) -> dict[str, Any]:
    dumped = schema.model_dump(scim_ctx=None, by_alias=True, exclude_none=True, mode="json")
    dumped["attributes"] = [a for a in dumped["attributes"] if a["name"] not in WITHHELD]
    dumped.pop("meta", None)
    return dumped


def _with_meta(body: dict[str, Any], resource_type: str, location: str) -> dict[str, Any]:
    return {**body, "meta": {"resourceType": resource_type, "location": location}}


@cache
def schemas() -> tuple[dict[str, Any], ...]:
    """The schemas ``/Schemas`` lists (without their ``meta``, which names the server)."""
    made = [HrUser.to_schema(), HrEnterpriseUser.to_schema()]
    made += [ServiceProviderConfig.to_schema(), ResourceType.to_schema(), Schema.to_schema()]
    for schema in made:
        if schema.id == CORE_USER:
            schema.name, schema.description = "User", "User Account"
        elif schema.id == ENTERPRISE:
            schema.name, schema.description = "EnterpriseUser", "Enterprise User"
    return tuple(_published(s) for s in made)


def schema_bodies(base: str) -> list[dict[str, Any]]:
    return [_with_meta(s, "Schema", f"{base}/Schemas/{s['id']}") for s in schemas()]


def resource_type_body(base: str) -> dict[str, Any]:
    body = ResourceType(
        id="User",
        name="User",
        description="An employee, as HR provisions them",
        endpoint="/Users",
        schema_=CORE_USER,
        schema_extensions=[SchemaExtension(schema_=ENTERPRISE, required=True)],
    ).model_dump(scim_ctx=None, by_alias=True, exclude_none=True, mode="json")
    return _with_meta(body, "ResourceType", f"{base}/ResourceTypes/User")


def service_provider_config_body(base: str, *, max_results: int) -> dict[str, Any]:
    body = ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=max_results),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=False),
        etag=ETag(supported=True),
        authentication_schemes=[
            AuthenticationScheme(
                type="oauthbearertoken",
                name="Bearer token",
                description="An accessctl token of scope hr: `accessctl token create --scope hr`",
                primary=True,
            )
        ],
    ).model_dump(scim_ctx=None, by_alias=True, exclude_none=True, mode="json")
    return _with_meta(body, "ServiceProviderConfig", f"{base}/ServiceProviderConfig")
