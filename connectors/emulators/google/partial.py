"""Google's partial responses: the ``fields`` system parameter, e.g. ``nextPageToken,users(id,etag)``.

A comma-separated list of field paths; ``a/b`` selects ``b`` inside ``a``; ``a(b,c)`` selects ``b``
and ``c`` inside ``a`` (inside each element when ``a`` is a list); ``*`` selects everything at its
level.  A malformed selector is Google's 400 ``invalidParameter``.
"""

from __future__ import annotations

from typing import Any

from connectors.emulators.google.state import GoogleApiError

#: a parsed selector: field name -> what to keep inside it (empty: all of it)
Selection = dict[str, "Selection"]


def parse_fields(spec: str) -> Selection:
    selection, rest = _parse_list(spec.replace(" ", ""), 0, spec)
    if rest != len(spec.replace(" ", "")):
        raise _invalid(spec)
    return selection


def _parse_list(text: str, at: int, spec: str) -> tuple[Selection, int]:
    selection: Selection = {}
    while True:
        at = _parse_path(text, at, selection, spec)
        if at < len(text) and text[at] == ",":
            at += 1
            continue
        return selection, at


def _parse_path(text: str, at: int, into: Selection, spec: str) -> int:
    start = at
    while at < len(text) and text[at] not in ",()/":
        at += 1
    name = text[start:at]
    if not name:
        raise _invalid(spec)
    inner = into.setdefault(name, {})
    if at < len(text) and text[at] == "/":
        return _parse_path(text, at + 1, inner, spec)
    if at < len(text) and text[at] == "(":
        nested, at = _parse_list(text, at + 1, spec)
        if at >= len(text) or text[at] != ")":
            raise _invalid(spec)
        _merge(inner, nested)
        return at + 1
    return at


def _merge(into: Selection, other: Selection) -> None:
    for name, inner in other.items():
        _merge(into.setdefault(name, {}), inner)


def _invalid(spec: str) -> GoogleApiError:
    return GoogleApiError(400, "invalidParameter", f"Invalid field selection {spec}")


def select(value: Any, selection: Selection) -> Any:
    """``value`` with only the selected fields (lists: in each element)."""
    if not selection or "*" in selection:
        return value
    if isinstance(value, list):
        return [select(item, selection) for item in value]
    if not isinstance(value, dict):
        return value
    return {name: select(value[name], inner) for name, inner in selection.items() if name in value}
