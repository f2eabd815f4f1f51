"""Engines for the store: SQLite (WAL, owner-only file) by default, PostgreSQL by URL."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accessctl.store.urls import BadUrlError, parse_url, sqlite_path

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

# SQLAlchemy is imported only to build an engine: the read commands open the store with the DB-API
# driver (accessctl.store.reader), and the checks here need only the URL's parts.


class StoreUnavailableError(Exception):
    """The store cannot be opened or created (exit code 6); the message says why, in one line."""


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def prepare_sqlite_file(path: Path) -> None:
    """Create the database file readable by its owner only, before SQLite creates it with the umask
    (and its directory, when missing)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
    except OSError as exc:
        where = exc.filename or path
        reason = f"cannot create the SQLite database {path}: {where}: {exc.strerror}"
        raise StoreUnavailableError(reason) from None
    if not os.access(path.parent, os.W_OK):  # SQLite keeps its -wal and -shm files beside the database
        raise StoreUnavailableError(
            f"cannot use the SQLite database {path}: its directory {path.parent} is not writable"
        )


def sqlite_location_problem(url: str) -> str | None:
    """Why a SQLite file at ``url`` could not be created or used, checked without creating anything;
    None when it can be (or the store is not a SQLite file)."""
    path = sqlite_path(url)
    if path is None:
        return None
    if path.exists():
        if not path.is_file():
            return f"{path} is not a file"
        return None if os.access(path.parent, os.W_OK) else f"the directory {path.parent} is not writable"
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"cannot create {path}: {ancestor} is not a directory"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"cannot create {path}: the directory {ancestor} is not writable"
    return None


def url_problem(url: str) -> str | None:
    """Why ``url`` is not a database URL accessctl can use (not a URL, an unknown database, a driver
    that is not installed), checked without connecting; None when it is usable.

    The URLs accessctl reads natively (``accessctl.store.reader``) are checked without SQLAlchemy;
    any other is asked of SQLAlchemy's dialects, as an engine for it would be."""
    try:
        parsed = parse_url(normalise_url(url))
    except BadUrlError:
        return "not a database URL (expected e.g. sqlite:///accessctl.db or postgresql://user@host/db)"
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return None
    if parsed.drivername == "postgresql+psycopg":
        from importlib.util import find_spec

        if find_spec("psycopg") is None:
            return "the postgresql+psycopg driver is not installed (psycopg)"
        return None
    return _dialect_problem(url)


def _dialect_problem(url: str) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError:
        return "not a database URL (expected e.g. sqlite:///accessctl.db or postgresql://user@host/db)"
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        return f"unknown database {parsed.drivername!r} (accessctl supports sqlite and postgresql)"
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        return f"the {parsed.drivername} driver is not installed ({exc.name or exc})"
    return None


def store_failure(exc: BaseException) -> str | None:
    """One line saying why the store refused (cannot be opened or created, is not a database, is full,
    is locked), or None when ``exc`` is not such a failure (a bug is not one).

    ``exc`` is SQLAlchemy's wrapping of the driver's error, or the driver's own (sqlite3, psycopg)
    when the store was read through the DB-API (``accessctl.store.reader``)."""
    if isinstance(exc, StoreUnavailableError):
        return str(exc)
    sa_exc = sys.modules.get("sqlalchemy.exc")  # not loaded: exc cannot be one of its errors
    if sa_exc is not None and isinstance(exc, sa_exc.DBAPIError):
        if isinstance(exc, sa_exc.OperationalError) or (
            isinstance(exc, sa_exc.DatabaseError) and type(exc.orig).__name__ == "DatabaseError"
        ):
            return _first_line(exc.orig if exc.orig is not None else exc)
        return None
    if _driver_failure(exc):
        return _first_line(exc)
    return None


def _driver_failure(exc: BaseException) -> bool:
    """A DB-API error of sqlite3 or psycopg that says the store refused (operational, or the bare
    DatabaseError SQLite raises for a file that is not a database), not a bug in a query."""
    if type(exc).__module__.split(".")[0] not in ("sqlite3", "psycopg"):
        return False
    names = {cls.__name__ for cls in type(exc).__mro__}
    return "OperationalError" in names or type(exc).__name__ == "DatabaseError"


def _first_line(exc: BaseException) -> str:
    reason = str(exc).strip()
    return reason.splitlines()[0] if reason else type(exc).__name__


def on_sqlite_connect(dbapi_connection: Any, _record: Any = None) -> None:
    """The settings of every connection to a SQLite store (the engine's, and the DB-API reader's)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite files are created 0600 and run in WAL mode."""
    import sqlalchemy as sa

    url = normalise_url(url)
    path = sqlite_path(url)
    if path is not None:
        prepare_sqlite_file(path)
    engine = sa.create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", on_sqlite_connect)
    return engine
