"""Bulk upserts on SQLAlchemy Core: ``INSERT ... ON CONFLICT DO UPDATE`` for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def _insert_for(dialect: str, table: sa.Table) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:  # pragma: no cover - the store supports these two
        raise NotImplementedError(f"bulk upsert is not implemented for {dialect}")
    return insert(table)


def bulk_upsert(
    conn: Connection,
    table: sa.Table,
    rows: Sequence[dict[str, Any]],
    *,
    key: Sequence[str],
    update: Iterable[str] | None = None,
    returning: Sequence[str] = (),
    expressions: Mapping[str, Callable[[Any], Any]] | None = None,
) -> list[sa.Row[Any]]:
    """Insert ``rows`` into ``table``, updating ``update`` columns where ``key`` already exists.

    ``update`` defaults to every column given except the key; an empty ``update`` means
    ``DO NOTHING``.  With ``returning``, the named columns of every inserted or updated row are
    returned (not of rows skipped by ``DO NOTHING``).  ``expressions`` maps a column to a function
    of the statement's ``excluded`` row giving its update expression, for updates that depend on
    the existing value.

    One statement is compiled (and cached) and executed with all rows as parameters: SQLAlchemy's
    "insertmanyvalues" sends them in batches that fit the driver, without compiling a statement
    per batch.  Every row must have the same keys.
    """
    if not rows:
        return []
    columns = list(rows[0].keys())
    update_columns = [c for c in columns if c not in key] if update is None else list(update)
    stmt = _insert_for(conn.dialect.name, table)
    if update_columns or expressions:
        set_ = {c: stmt.excluded[c] for c in update_columns}
        for column, expression in (expressions or {}).items():
            set_[column] = expression(stmt.excluded)
        stmt = stmt.on_conflict_do_update(index_elements=list(key), set_=set_)
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
    if returning:
        stmt = stmt.returning(*(table.c[name] for name in returning), sort_by_parameter_order=True)
        return list(conn.execute(stmt, list(rows)).all())
    conn.execute(stmt, list(rows))
    return []
