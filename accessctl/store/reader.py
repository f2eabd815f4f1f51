"""Read connections to the store through the DB-API driver alone: sqlite3 for SQLite, psycopg 3 for
PostgreSQL, never SQLAlchemy (whose import costs more than the rest of a read command's start).

One SQL text serves both databases: it names its parameters ``:name`` (:meth:`ReadConnection.rows`
turns them into psycopg's ``%(name)s``), and the values a SQLite store keeps as text (timestamps,
dates, JSON) or 0/1 (booleans) are decoded to what SQLAlchemy reads them as (:meth:`ReadConnection.time`
and the rest), so answers are the same on both, and the same as an engine's.

A store opens as an engine opens it: a SQLite file (and its directory) is created, owner-only, when
missing, with the engine's PRAGMAs (WAL, busy timeout); its schema must be at the migrations' head.
The web app and the demo, which hold an engine, read through :func:`engine_reader`.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accessctl.store.engine import (
    StoreUnavailableError,
    normalise_url,
    on_sqlite_connect,
    prepare_sqlite_file,
)
from accessctl.store.urls import SUPPORTED, BadUrlError, DatabaseUrl, parse_url

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

#: rows fetched from the database at a time by :meth:`ReadConnection.stream`
STREAM_BATCH = 500

#: SQLAlchemy's format for a timestamp in SQLite (``sqlalchemy.dialects.sqlite.DATETIME``)
_SQLITE_TIME = (
    "{0.year:04d}-{0.month:02d}-{0.day:02d} {0.hour:02d}:{0.minute:02d}:{0.second:02d}.{0.microsecond:06d}"
)

_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_cursor_names = itertools.count(1)


def _pyformat(sql: str) -> str:
    """``:name`` parameters as psycopg's ``%(name)s`` (and a literal ``%`` doubled)."""
    return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%"))


class ReadConnection:
    """A DB-API connection to the store, for reading: rows as tuples in the SELECT's order."""

    def __init__(self, dbapi_connection: Any, backend: str, close: Callable[[], None]) -> None:
        self.backend = backend  #: "sqlite" or "postgresql"
        self.dbapi_connection = dbapi_connection
        self._close = close
        self._sqlite = backend == "sqlite"
        self._sql: dict[str, str] = {}

    def _text(self, sql: str) -> str:
        if self._sqlite:
            return sql
        text = self._sql.get(sql)
        if text is None:
            text = self._sql[sql] = _pyformat(sql)
        return text

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Every row of ``sql`` (parameters named ``:name``)."""
        cursor = self.dbapi_connection.cursor()
        try:
            cursor.execute(self._text(sql), dict(params or {}))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def columns(self, sql: str, params: Mapping[str, Any] | None = None) -> tuple[list[str], tuple | None]:
        """The column names of ``sql`` and its first row (None when it has none)."""
        cursor = self.dbapi_connection.cursor()
        try:
            cursor.execute(self._text(sql), dict(params or {}))
            return [d[0] for d in cursor.description], cursor.fetchone()
        finally:
            cursor.close()

    def stream(
        self, sql: str, params: Mapping[str, Any] | None = None, *, batch: int = STREAM_BATCH
    ) -> Iterator[tuple[Any, ...]]:
        """The rows of ``sql`` as the database sends them, ``batch`` at a time (through a server-side
        cursor on PostgreSQL, so a large listing is never held whole)."""
        if self._sqlite:
            cursor = self.dbapi_connection.cursor()
        else:
            cursor = self.dbapi_connection.cursor(name=f"accessctl_stream_{next(_cursor_names)}")
            cursor.itersize = batch
        try:
            cursor.execute(self._text(sql), dict(params or {}))
            while rows := cursor.fetchmany(batch):
                yield from rows
        finally:
            if not self.closed:
                cursor.close()

    @property
    def closed(self) -> bool:
        return self._close is _closed

    def close(self) -> None:
        close, self._close = self._close, _closed
        close()

    # -- values, as SQLAlchemy reads them from each database

    def bind_time(self, value: datetime) -> Any:
        """A timestamp as a parameter compared with stored ones (SQLite compares SQLAlchemy's text)."""
        return _SQLITE_TIME.format(value) if self._sqlite else value

    def time(self, value: Any) -> datetime | None:
        return datetime.fromisoformat(value) if self._sqlite and value is not None else value

    def day(self, value: Any) -> date | None:
        return date.fromisoformat(value) if self._sqlite and value is not None else value

    def flag(self, value: Any) -> bool | None:
        return None if value is None else bool(value)

    def json(self, value: Any) -> Any:
        return json.loads(value) if self._sqlite and value is not None else value


def _closed() -> None:
    pass


def open_reader(url: str, *, check_schema: bool = True) -> ReadConnection:
    """A read connection to the store at ``url`` (a SQLite file is created when missing, as an
    engine creates it); unless ``check_schema`` is false, refuses a schema not at the head
    (:class:`~accessctl.store.migrate.SchemaBehindError`, or ``SchemaAheadError``)."""
    try:
        parsed = parse_url(normalise_url(url))
    except BadUrlError:
        raise StoreUnavailableError("not a database URL") from None
    if parsed.backend == "sqlite" and parsed.driver in (None, "pysqlite") and not parsed.query:
        conn = _sqlite(parsed)
    elif parsed.backend == "sqlite":  # options only SQLAlchemy's dialect reads: through an engine
        conn = _through_engine(url)
    elif parsed.backend == "postgresql":
        conn = _postgresql(parsed)
    else:
        raise StoreUnavailableError(
            f"accessctl stores are {' or '.join(SUPPORTED)}, not {parsed.backend} ({parsed.drivername})"
        )
    try:
        if check_schema:
            ensure_current(conn, url)
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def reader(url: str, *, check_schema: bool = True) -> Iterator[ReadConnection]:
    """:func:`open_reader`, closed at the end of the block."""
    conn = open_reader(url, check_schema=check_schema)
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def engine_reader(engine: Engine) -> Iterator[ReadConnection]:
    """A read connection from ``engine``'s pool (its driver's own connection), for a caller that
    already holds an engine (the web app, the demo); returned to the pool at the end of the block."""
    backend = engine.dialect.name
    if backend not in SUPPORTED:
        raise StoreUnavailableError(f"accessctl stores are {' or '.join(SUPPORTED)}, not {backend}")
    pooled = engine.raw_connection()
    conn = ReadConnection(pooled.driver_connection, backend, pooled.close)
    try:
        yield conn
    finally:
        conn.close()


def ensure_current(conn: ReadConnection, url: str) -> None:
    """Refuse a schema not at the head.  The usual case is one plain query; a schema that does not
    match is explained by the migrations' own check (Alembic, through an engine), word for word."""
    from accessctl.store import migrate

    if migrate.at_head(migrate.applied_revisions(conn.dbapi_connection, conn.backend)):
        return
    from accessctl.store.engine import make_engine

    engine = make_engine(url)
    try:
        migrate.ensure_current(engine)
    finally:
        engine.dispose()


def _sqlite(parsed: DatabaseUrl) -> ReadConnection:
    import sqlite3

    database = parsed.database or ":memory:"
    if database != ":memory:":
        prepare_sqlite_file(Path(database))
    connection = sqlite3.connect(database)
    try:
        on_sqlite_connect(connection)
    except BaseException:
        connection.close()
        raise
    return ReadConnection(connection, "sqlite", connection.close)


def _postgresql(parsed: DatabaseUrl) -> ReadConnection:
    """psycopg, given the URL's parts as SQLAlchemy's psycopg dialect gives them."""
    import psycopg

    parts: dict[str, Any] = {
        "user": parsed.username,
        "password": parsed.password,
        "host": parsed.host,
        "port": int(parsed.port) if parsed.port else None,
        "dbname": parsed.database,
    }
    options = {key: value for key, value in parts.items() if value is not None} | parsed.query
    connection = psycopg.connect(**options)
    # closing ends the transaction it read in (nothing to keep) and any server-side cursor with it
    return ReadConnection(connection, "postgresql", connection.close)


def _through_engine(url: str) -> ReadConnection:
    from accessctl.store.engine import make_engine

    engine = make_engine(url)
    pooled = engine.raw_connection()

    def close() -> None:
        pooled.close()
        engine.dispose()

    return ReadConnection(pooled.driver_connection, engine.dialect.name, close)
