"""The OData query options Microsoft Graph accepts on directory objects: ``$filter`` (eq, ne, gt, ge,
lt, le, startswith, endswith, in, and, or, not, the ``any`` lambda over collections, DateTimeOffset
literals such as ``2025-01-01T00:00:00Z``), ``$select`` and ``$top``.  Given the entity type, a property
it does not have is Graph's 400 "Could not find a property named 'x' on type 'microsoft.graph.user'."
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from connectors.emulators.entra.schema import EntityType

Predicate = Callable[[dict[str, Any]], bool]


class ODataError(ValueError):
    """Rendered as Graph's 400 with this code (``BadRequest``, ``Request_UnsupportedQuery``)."""

    def __init__(self, message: str, code: str = "BadRequest") -> None:
        super().__init__(message)
        self.code = code


ADVANCED = (
    "is not supported because the required parameters might be missing. Try adding $count=true query "
    "parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries "
    "for more information"
)


def unknown_property(name: str, entity: EntityType) -> ODataError:
    return ODataError(f"Could not find a property named '{name}' on type '{entity.name}'.")


_TOKEN = re.compile(
    r"\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<comma>,)|(?P<colon>:)|'(?P<str>(?:[^']|'')*)'"
    r"|(?P<time>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))"
    r"|(?P<word>[A-Za-z_$][\w./$]*)|(?P<num>-?\d+))"
)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ODataError(f"Invalid filter clause: syntax error at position {pos} in '{text}'.")
        pos = match.end()
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "str":
            out.append(("lit", value.replace("''", "'")))
        elif kind == "num":
            out.append(("lit", int(value)))
        elif kind == "time":
            out.append(("lit", _instant(value)))
        elif kind == "word" and value in ("true", "false", "null"):
            out.append(("lit", {"true": True, "false": False, "null": None}[value]))
        elif kind == "word" and value in ("and", "or", "not", "eq", "ne", "in", "gt", "ge", "lt", "le"):
            out.append((value, value))
        elif kind == "word":
            out.append(("name", value))
        else:
            out.append((kind, value))
    return out


def _get(resource: dict[str, Any], path: str) -> Any:
    value: Any = resource
    for part in path.split("/"):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _coerce(actual: Any, literal: Any) -> Any:
    """A stored DateTimeOffset (an ISO string) compared with a DateTimeOffset literal is compared as one."""
    if isinstance(literal, datetime) and isinstance(actual, str):
        try:
            return _instant(actual)
        except ValueError:
            return None
    return actual


def _eq(actual: Any, expected: Any) -> bool:
    actual = _coerce(actual, expected)
    if isinstance(actual, str) and isinstance(expected, str):
        return actual.lower() == expected.lower()
    if isinstance(actual, list):
        return any(_eq(a, expected) for a in actual)
    return actual == expected


class _Parser:
    def __init__(self, text: str, entity: EntityType | None) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0
        self.entity = entity
        self.bound: set[str] = set()  # lambda variables in scope
        self.advanced: list[str] = []  # operators only advanced queries take: ne, not, endsWith
        self.referenced: set[str] = set()

    def property(self, path: str) -> str:
        """A property path, checked against the entity type (lambda variables are not properties)."""
        head = path.split("/", 1)[0]
        if head not in self.bound:
            self.referenced.add(head)
        if self.entity is not None and head not in self.bound:
            if not self.entity.knows(head):
                raise unknown_property(head, self.entity)
            if not self.entity.filters_on(head):
                raise ODataError(
                    f"Unsupported or invalid query filter clause specified for property '{head}' "
                    f"of resource '{self.entity.resource}'.",
                    "Request_UnsupportedQuery",
                )
        return path

    def peek(self) -> str | None:
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def take(self, kind: str) -> Any:
        if self.peek() != kind:
            raise ODataError(f"Invalid filter clause: expected {kind} in '{self.text}'.")
        value = self.tokens[self.pos][1]
        self.pos += 1
        return value

    def parse(self) -> Predicate:
        predicate = self.or_()
        if self.peek() is not None:
            raise ODataError(f"Invalid filter clause: unexpected input in '{self.text}'.")
        return predicate

    def or_(self) -> Predicate:
        left = self.and_()
        while self.peek() == "or":
            self.pos += 1
            right = self.and_()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def and_(self) -> Predicate:
        left = self.unary()
        while self.peek() == "and":
            self.pos += 1
            right = self.unary()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def unary(self) -> Predicate:
        if self.peek() == "not":
            self.advanced.append("not")
            self.pos += 1
            inner = self.unary()
            return lambda r: not inner(r)
        if self.peek() == "lp":
            self.pos += 1
            inner = self.or_()
            self.take("rp")
            return inner
        name = self.take("name")
        if self.peek() == "lp" and name.rsplit("/", 1)[-1] in ("any", "all") and "/" in name:
            return self.lambda_(name)
        if self.peek() == "lp":  # a function: startswith(prop,'x'), endswith(prop,'x'); any case
            name = name.lower()
            self.pos += 1
            prop = self.property(self.take("name"))
            self.take("comma")
            literal = str(self.take("lit")).lower()
            self.take("rp")
            if name == "startswith":
                return lambda r: any(str(v).lower().startswith(literal) for v in _values(_get(r, prop)))
            if name == "endswith":
                self.advanced.append("endsWith")
                return lambda r: any(str(v).lower().endswith(literal) for v in _values(_get(r, prop)))
            raise ODataError(f"Unsupported Query: function '{name}' is not supported.")
        self.property(name)
        op = self.peek()
        if op == "in":
            self.pos += 1
            self.take("lp")
            options = [self.take("lit")]
            while self.peek() == "comma":
                self.pos += 1
                options.append(self.take("lit"))
            self.take("rp")
            return lambda r: any(_eq(_get(r, name), o) for o in options)
        if op in ("eq", "ne", "gt", "ge", "lt", "le"):
            self.pos += 1
            literal = self.take("lit")
            if op == "eq":
                return lambda r: _eq(_get(r, name), literal)
            if op == "ne":
                self.advanced.append("ne")
                return lambda r: not _eq(_get(r, name), literal)
            compare = {
                "gt": lambda a, b: a > b,
                "ge": lambda a, b: a >= b,
                "lt": lambda a, b: a < b,
                "le": lambda a, b: a <= b,
            }[op]
            return lambda r: (v := _coerce(_get(r, name), literal)) is not None and compare(v, literal)
        raise ODataError(f"Invalid filter clause: expected an operator after '{name}'.")

    def lambda_(self, name: str) -> Predicate:
        """``collection/any(x:<predicate on x>)``, ``collection/all(x:...)``."""
        collection, operator = self.property(name.rsplit("/", 1)[0]), name.rsplit("/", 1)[1]
        self.take("lp")
        variable = self.take("name")
        self.take("colon")
        outer = set(self.bound)
        self.bound.add(variable)
        inner = self.or_()
        self.bound = outer
        self.take("rp")
        combine = any if operator == "any" else all
        return lambda r: combine(inner({**r, variable: v}) for v in _values(_get(r, collection)))


def _values(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def compile_filter(
    text: str | None,
    entity: EntityType | None = None,
    *,
    advanced: bool = True,
    only: frozenset[str] | None = None,
) -> Predicate | None:
    """The predicate of a ``$filter``; on a directory type (``entity`` with its filterable properties)
    ne, not and endsWith need an advanced query (``ConsistencyLevel: eventual`` and ``$count=true``),
    as in Graph.  ``only``: the properties this endpoint filters on (delta: id)."""
    if not text or not text.strip():
        return None
    parser = _Parser(text, entity)
    predicate = parser.parse()
    directory = entity is not None and entity.filterable is not None
    if directory and not advanced and parser.advanced:
        raise ODataError(f"Operator '{parser.advanced[0]}' {ADVANCED}", "Request_UnsupportedQuery")
    if only is not None and parser.referenced - only:
        unsupported = sorted(parser.referenced - only)[0]
        raise ODataError(
            f"Unsupported or invalid query filter clause specified for property '{unsupported}' "
            f"of resource '{entity.resource if entity else 'Resource'}'.",
            "Request_UnsupportedQuery",
        )
    return predicate


def order_by(
    text: str | None, entity: EntityType, *, filtered: bool, advanced: bool
) -> list[tuple[str, bool]]:
    """``$orderby=displayName[ asc|desc],...`` as (property, descending); Graph sorts users by displayName
    and userPrincipalName (groups by displayName), and with a $filter only in an advanced query."""
    if not text or not text.strip():
        return []
    keys: list[tuple[str, bool]] = []
    for clause in text.split(","):
        name, _, direction = clause.strip().partition(" ")
        if not entity.knows(name):
            raise unknown_property(name, entity)
        if name not in entity.sortable:
            raise ODataError(
                f"Unsupported sort property '{name}' for '{entity.resource}'.", "Request_UnsupportedQuery"
            )
        if direction.strip().lower() not in ("", "asc", "desc"):
            raise ODataError(f"Syntax error at position {len(name)} in '{clause.strip()}'.")
        keys.append((name, direction.strip().lower() == "desc"))
    if filtered and not advanced:
        raise ODataError("Sorting not supported for current query.", "Request_UnsupportedQuery")
    return keys


def sort_ids(
    ids: list[str], raw: Callable[[str], dict[str, Any] | None], keys: list[tuple[str, bool]]
) -> list[str]:
    """``ids`` in the order of ``keys`` (case-insensitive, missing values last), stable."""
    ordered = list(ids)
    for name, descending in reversed(keys):

        def key(i: str, name: str = name) -> tuple[bool, str]:
            value = (raw(i) or {}).get(name)
            return (value is None, str(value).lower() if value is not None else "")

        ordered.sort(key=key, reverse=descending)
    return ordered


def select(resource: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
    """Graph always returns ``id`` (and ``@odata.type`` where present)."""
    if not fields:
        return resource
    keep = {"id", "@odata.type", *fields}
    return {k: v for k, v in resource.items() if k in keep}


def parse_select(raw: str | None, entity: EntityType | None = None) -> list[str] | None:
    if not raw:
        return None
    fields = [f.strip() for f in raw.split(",") if f.strip()]
    for name in fields:
        if entity is not None and not entity.knows(name):
            raise unknown_property(name, entity)
    return fields
