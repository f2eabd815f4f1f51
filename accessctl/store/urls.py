"""Database URLs, parsed as SQLAlchemy parses them (``sqlalchemy.engine.make_url``) but without importing
it: the read commands open the store with the DB-API driver alone, and settings validation and the
SQLite checks need no more than the URL's parts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote

#: SQLAlchemy's own pattern (``sqlalchemy.engine.url._parse_url``), so both read a URL alike
_PATTERN = re.compile(
    r"""
        (?P<name>[\w\+]+)://
        (?:
            (?P<username>[^:/]*)
            (?::(?P<password>[^@]*))?
        @)?
        (?:
            (?:
                \[(?P<ipv6host>[^/\?]+)\] |
                (?P<ipv4host>[^/:\?]+)
            )?
            (?::(?P<port>[^/\?]*))?
        )?
        (?:/(?P<database>[^\?]*))?
        (?:\?(?P<query>.*))?
    """,
    re.X,
)

#: the backends accessctl runs on, and the DB-API driver it reads each with
SUPPORTED = ("sqlite", "postgresql")


class BadUrlError(ValueError):
    """Not a database URL at all."""


@dataclass(frozen=True)
class DatabaseUrl:
    drivername: str
    username: str | None = None
    password: str | None = None
    host: str | None = None
    port: str | None = None
    database: str | None = None
    query: dict[str, str] = field(default_factory=dict)

    @property
    def backend(self) -> str:
        """``sqlite``, ``postgresql`` (``postgres`` too), ``mysql``...: the part before any ``+driver``."""
        name = self.drivername.split("+", 1)[0]
        return "postgresql" if name == "postgres" else name

    @property
    def driver(self) -> str | None:
        return self.drivername.split("+", 1)[1] if "+" in self.drivername else None


def parse_url(url: str) -> DatabaseUrl:
    """The parts of ``url``; raises :class:`BadUrlError` when it is not a URL SQLAlchemy could parse."""
    found = _PATTERN.match(url)
    if found is None:
        raise BadUrlError(url)
    parts = found.groupdict()
    query = dict(parse_qsl(parts["query"])) if parts["query"] is not None else {}
    return DatabaseUrl(
        drivername=parts["name"],
        username=unquote(parts["username"]) if parts["username"] is not None else None,
        password=unquote(parts["password"]) if parts["password"] is not None else None,
        host=parts["ipv4host"] or parts["ipv6host"],
        port=parts["port"] or None,
        database=unquote(parts["database"]) if parts["database"] is not None else None,
        query=query,
    )


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite store (None for another database, or SQLite in memory)."""
    try:
        parsed = parse_url(url)
    except BadUrlError:
        return None
    if parsed.backend != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)
