"""Okta's filter and search expression language (a SCIM subset).

``status eq "ACTIVE" and (lastUpdated gt "2024-01-01T00:00:00.000Z" or profile.department sw "Eng")``

Operators: eq ne gt ge lt le sw co pr; ``and``/``or``/``not``; parentheses; string, number and
boolean literals.  Attributes are dotted paths into the resource's JSON; a list value matches when
any element does (``target.id eq "..."`` in the System Log).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]


class FilterError(ValueError):
    """An expression Okta would reject with E0000031 (invalid search/filter)."""


_TOKEN = re.compile(
    r'\s*(?:(?P<lp>\()|(?P<rp>\))|"(?P<str>(?:[^"\\]|\\.)*)"|(?P<word>[A-Za-z_][\w.:$-]*)|(?P<num>-?\d+(?:\.\d+)?))'
)
_OPS = {"eq", "ne", "gt", "ge", "lt", "le", "sw", "co", "pr", "ew"}


def _tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise FilterError(f"Invalid search/filter criteria near {text[pos : pos + 20]!r}")
        pos = match.end()
        kind = match.lastgroup
        value = match.group(kind or "")
        if kind == "str":
            out.append(("lit", value.replace('\\"', '"')))
        elif kind == "num":
            out.append(("lit", float(value) if "." in value else int(value)))
        elif kind == "word" and value.lower() in ("true", "false"):
            out.append(("lit", value.lower() == "true"))
        elif kind == "word" and value.lower() in ("and", "or", "not"):
            out.append((value.lower(), value))
        elif kind == "word" and value.lower() in _OPS:
            out.append(("op", value.lower()))
        elif kind == "word":
            out.append(("attr", value))
        else:
            out.append((kind or "", value))
    return out


def _values(resource: dict[str, Any], path: str) -> list[Any]:
    current: list[Any] = [resource]
    for part in path.split("."):
        found: list[Any] = []
        for item in current:
            if isinstance(item, list):
                found.extend(x.get(part) for x in item if isinstance(x, dict) and part in x)
            elif isinstance(item, dict) and part in item:
                found.append(item[part])
        current = found
    flat: list[Any] = []
    for value in current:
        flat.extend(value if isinstance(value, list) else [value])
    return flat


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if actual is None:
        return False
    if isinstance(actual, str) and isinstance(expected, str):
        a, e = actual.lower(), expected.lower()
        if op == "eq":
            return a == e
        if op == "ne":
            return a != e
        if op == "sw":
            return a.startswith(e)
        if op == "ew":
            return a.endswith(e)
        if op == "co":
            return e in a
        # dates are ISO-8601 with a Z: they order as text
        return {"gt": a > e, "ge": a >= e, "lt": a < e, "le": a <= e}[op]
    try:
        return {
            "eq": actual == expected,
            "ne": actual != expected,
            "gt": actual > expected,
            "ge": actual >= expected,
            "lt": actual < expected,
            "le": actual <= expected,
        }[op]
    except (KeyError, TypeError):
        return False


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, kind: str) -> Any:
        token = self.peek()
        if token is None or token[0] != kind:
            raise FilterError("Invalid search/filter criteria")
        self.pos += 1
        return token[1]

    def parse(self) -> Predicate:
        predicate = self.or_expr()
        if self.peek() is not None:
            raise FilterError("Invalid search/filter criteria: unexpected input after the expression")
        return predicate

    def or_expr(self) -> Predicate:
        left = self.and_expr()
        while self.peek() and self.peek()[0] == "or":  # type: ignore[index]
            self.pos += 1
            right = self.and_expr()
            left = (lambda a, b: lambda r: a(r) or b(r))(left, right)
        return left

    def and_expr(self) -> Predicate:
        left = self.unary()
        while self.peek() and self.peek()[0] == "and":  # type: ignore[index]
            self.pos += 1
            right = self.unary()
            left = (lambda a, b: lambda r: a(r) and b(r))(left, right)
        return left

    def unary(self) -> Predicate:
        token = self.peek()
        if token and token[0] == "not":
            self.pos += 1
            inner = self.unary()
            return lambda r: not inner(r)
        if token and token[0] == "lp":
            self.pos += 1
            inner = self.or_expr()
            self.take("rp")
            return inner
        attr = self.take("attr")
        op = self.take("op")
        if op == "pr":
            return lambda r: any(v not in (None, "") for v in _values(r, attr))
        expected = self.take("lit")
        return lambda r: any(_compare(op, v, expected) for v in _values(r, attr))


def compile_filter(text: str | None) -> Predicate | None:
    """A predicate over resource JSON, or None for an empty expression."""
    if not text or not text.strip():
        return None
    return _Parser(text).parse()
