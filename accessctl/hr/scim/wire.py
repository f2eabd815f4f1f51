"""Reading SCIM request bodies strictly, before scim2-models validates them.

The envelope is the HR intake's (:func:`accessctl.hr.events.load_json`: UTF-8, 256 KiB, 16 levels,
no duplicate keys, no NaN).  Then the rules scim2-models is too lenient about for HR:

- ``active`` is ``true`` / ``false`` or the exact strings ``"True"``, ``"true"``, ``"False"``,
  ``"false"`` (Entra sends ``{"op": "Replace", "path": "active", "value": "False"}``); pydantic would
  also read ``0``, ``"no"``, ``"off"`` or ``"f"`` as false, and null would unassign it.  Each of
  those is refused with ``invalidValue``: a termination is never inferred from a loose value.
- ``password`` is dropped wherever it appears: accessctl never stores one.
- Entra's PATCH of the manager with a bare id (``"value": "<id>"``) means ``{"value": "<id>"}``.
"""

from __future__ import annotations

from typing import Any

from accessctl.hr.events import load_json
from accessctl.hr.rejections import Rejected
from accessctl.hr.scim.errors import ScimError, invalid_syntax, invalid_value
from accessctl.hr.scim.models import CORE_USER, ENTERPRISE, WITHHELD

MEDIA_TYPES = ("application/scim+json", "application/json")
_ACTIVE = {True: True, False: False, "True": True, "true": True, "False": False, "false": False}
_ACTIVE_NAMES = {"active", f"{CORE_USER}:active".lower()}
_MANAGER_NAMES = {"manager", f"{ENTERPRISE}:manager".lower()}


def check_media_type(value: str | None) -> None:
    media, _, params = (value or "").partition(";")
    if media.strip().lower() not in MEDIA_TYPES:
        raise ScimError(415, "send the body as application/scim+json (or application/json)")
    for param in params.split(";"):
        name, _, charset = param.partition("=")
        if name.strip().lower() == "charset" and charset.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise ScimError(415, "the only charset accepted is utf-8")


def read_object(raw: bytes, content_type: str | None) -> dict[str, Any]:
    """The JSON object of a request body, or :class:`ScimError` (400 ``invalidSyntax``, 413, 415)."""
    check_media_type(content_type)
    try:
        value = load_json(raw)
    except Rejected as exc:
        if exc.status == 413:
            raise ScimError(413, exc.message) from None
        raise invalid_syntax(exc.message) from None
    if not isinstance(value, dict):
        raise invalid_syntax("the body must be a JSON object")
    return value


def strict_active(value: Any, where: str = "active") -> bool:
    """``value`` as a boolean, if it is one of the few spellings that may say it."""
    if isinstance(value, (bool, str)) and value in _ACTIVE:
        return _ACTIVE[value]
    raise invalid_value(f'{where} must be true or false (or the string "True" / "False"), not {_show(value)}')


def _show(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _key(obj: dict[str, Any], names: set[str]) -> str | None:
    found = [k for k in obj if isinstance(k, str) and k.lower() in names]
    if len(found) > 1:
        raise invalid_syntax(f"the attribute {found[0]!r} appears twice (as {' and '.join(found)})")
    return found[0] if found else None


def _manager_value(value: Any) -> Any:
    if isinstance(value, str):
        return {"value": value}
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        return value[0]
    return value


def _resource_attributes(obj: dict[str, Any]) -> dict[str, Any]:
    """A User's attributes (a POST or PUT body, or a path-less PATCH value) with ``active`` strict,
    ``password`` dropped and a bare manager id read as Entra means it."""
    cleaned = {k: v for k, v in obj.items() if not (isinstance(k, str) and k.lower() in WITHHELD)}
    active = _key(cleaned, _ACTIVE_NAMES)
    if active is not None:
        cleaned[active] = strict_active(cleaned[active])
    extension = _key(cleaned, {ENTERPRISE.lower()})
    if extension is not None and isinstance(cleaned[extension], dict):
        inner = dict(cleaned[extension])
        manager = _key(inner, {"manager"})
        if manager is not None:
            inner[manager] = _manager_value(inner[manager])
        cleaned[extension] = inner
    return cleaned


def user_body(obj: dict[str, Any]) -> dict[str, Any]:
    """A POST or PUT body, ready for the model.  ``active`` is required (HR always says)."""
    cleaned = _resource_attributes(obj)
    if _key(cleaned, _ACTIVE_NAMES) is None:
        raise invalid_value("active is required: true for an employee, false for a leaver")
    return cleaned


def patch_body(obj: dict[str, Any]) -> dict[str, Any]:
    """A PATCH body, ready for the model: each operation's value held to the same rules."""
    operations_key = _key(obj, {"operations"})
    if operations_key is None or not isinstance(obj[operations_key], list):
        return obj  # the model says what is missing
    operations = []
    for n, op in enumerate(obj[operations_key]):
        if not isinstance(op, dict):
            operations.append(op)
            continue
        op = {k: v for k, v in op.items() if k != "name"}  # Entra adds a "name" to some operations
        path_key, value_key, op_key = _key(op, {"path"}), _key(op, {"value"}), _key(op, {"op"})
        path = op.get(path_key) if path_key else None
        verb = str(op.get(op_key, "")).lower() if op_key else ""
        if isinstance(path, str):
            name = path.strip().lower()
            if name in WITHHELD or name == f"{CORE_USER}:password".lower():
                continue
            if name in _ACTIVE_NAMES:
                if verb == "remove":
                    raise invalid_value("active cannot be removed: HR always says whether someone works here")
                op[value_key or "value"] = strict_active(
                    op.get(value_key) if value_key else None, f"active (Operations[{n}].value)"
                )
            elif name in _MANAGER_NAMES and value_key is not None:
                op[value_key] = _manager_value(op[value_key])
        elif path is None and value_key is not None and isinstance(op[value_key], dict):
            op[value_key] = _resource_attributes(op[value_key])
        operations.append(op)
    return {**obj, operations_key: operations}
