"""SCIM errors (RFC 7644 §3.12): raised once, rendered as the Error message with its status."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from scim2_models import Error, SCIMException

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
MEDIA_TYPE = "application/scim+json"


class ScimError(Exception):
    """An answer in SCIM's error shape: HTTP ``status``, a ``scim_type`` keyword where RFC 7644 has
    one (``invalidValue``, ``invalidSyntax``, ``uniqueness``, ``mutability``, ...), and a detail for
    people."""

    def __init__(
        self,
        status: int,
        detail: str,
        scim_type: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        self.headers = dict(headers or {})
        super().__init__(detail)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"schemas": [ERROR_SCHEMA], "status": str(self.status)}
        if self.scim_type:
            body["scimType"] = self.scim_type
        body["detail"] = self.detail
        return body


def invalid_value(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidValue")


def invalid_syntax(detail: str) -> ScimError:
    return ScimError(400, detail, "invalidSyntax")


def not_found(detail: str) -> ScimError:
    return ScimError(404, detail)


def from_scim_exception(exc: SCIMException) -> ScimError:
    error = exc.to_error()
    return ScimError(int(error.status or 400), error.detail or str(exc), error.scim_type)


def from_validation_error(exc: ValidationError) -> ScimError:
    """The first problem pydantic found, in SCIM's words (scim2-models maps its own keywords)."""
    errors: list[Error] = Error.from_validation_errors(exc)
    first = errors[0] if errors else Error(status=400, detail="invalid payload")
    status = int(first.status or 400)
    detail = first.detail or "invalid payload"
    if len(errors) > 1:
        detail += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    scim_type = first.scim_type or ("invalidValue" if status == 400 else None)
    return ScimError(status, detail, scim_type)
