"""Engines for the store: SQLite (WAL, owner-only file) by default, PostgreSQL by URL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url


class StoreUnavailableError(Exception):
    """The store cannot be opened or created (exit code 6); the message says why, in one line."""


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def sqlite_path(url: str) -> Path | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _prepare_sqlite_file(path: Path) -> None:
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
    that is not installed), checked without connecting; None when it is usable."""
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
    is locked), or None when ``exc`` is not such a failure (a bug is not one)."""
    from sqlalchemy.exc import DatabaseError, OperationalError

    if isinstance(exc, StoreUnavailableError):
        return str(exc)
    if isinstance(exc, OperationalError) or (
        isinstance(exc, DatabaseError) and type(exc.orig).__name__ == "DatabaseError"  # e.g. not a database
    ):
        reason = str(exc.orig).strip() if exc.orig is not None else str(exc)
        return reason.splitlines()[0] if reason else type(exc).__name__
    return None


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite files are created 0600 and run in WAL mode."""
    url = normalise_url(url)
    path = sqlite_path(url)
    if path is not None:
        _prepare_sqlite_file(path)
    engine = sa.create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _on_sqlite_connect)
    return engine
