"""Bulk upserts on SQLAlchemy Core: ``INSERT ... ON CONFLICT DO UPDATE`` for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
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
    per batch.  Every row must have the same keys.  On SQLite, an upsert without ``returning``
    whose ``expressions`` bind no values of their own goes to the driver's ``executemany`` as
    tuples, each column's values converted by its type once per distinct value (see
    :class:`_FastUpsert`): the same SQL and the same stored values, without SQLAlchemy's per-row
    parameter processing (most of a sync's CPU time in the store).  Its compiled statement is kept
    per shape, the expressions told apart by their code: an expression function must build the
    same SQL on every call (one that binds a value of its own takes SQLAlchemy's path).
    """
    if not rows:
        return []
    columns = list(rows[0].keys())
    update_columns = [c for c in columns if c not in key] if update is None else list(update)
    if not returning and conn.dialect.name == "sqlite":
        shape = (
            conn.dialect.name,
            table,
            tuple(columns),
            tuple(key),
            tuple(update_columns),
            tuple((name, getattr(fn, "__code__", fn)) for name, fn in (expressions or {}).items()),
        )
        fast = _FAST.get(shape)
        if fast is None and shape not in _FAST:
            fast = _FAST[shape] = _compile_fast(
                conn, _statement(conn, table, key, update_columns, expressions), table, columns
            )
        if fast is not None:
            fast.execute(conn, rows)
            return []
    stmt = _statement(conn, table, key, update_columns, expressions)
    if returning:
        stmt = stmt.returning(*(table.c[name] for name in returning), sort_by_parameter_order=True)
        return list(conn.execute(stmt, list(rows)).all())
    conn.execute(stmt, list(rows))
    return []


def _statement(
    conn: Connection,
    table: sa.Table,
    key: Sequence[str],
    update_columns: Sequence[str],
    expressions: Mapping[str, Callable[[Any], Any]] | None,
) -> Any:
    stmt = _insert_for(conn.dialect.name, table)
    if update_columns or expressions:
        set_ = {c: stmt.excluded[c] for c in update_columns}
        for column, expression in (expressions or {}).items():
            set_[column] = expression(stmt.excluded)
        stmt = stmt.on_conflict_do_update(index_elements=list(key), set_=set_)
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(key))
    return stmt


@dataclass(frozen=True)
class _FastUpsert:
    """A compiled upsert whose parameters are the rows' columns and the defaults of the table's
    other columns (SQLAlchemy's Python-side ``default=``), in the statement's order, with their
    types' bind processors (None where the driver takes the value as it is)."""

    sql: str
    names: tuple[str, ...]
    #: per parameter: None to take the row's value, else the column default giving it
    defaults: tuple[Any, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]

    def execute(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        converted = []
        for name, default, process in zip(self.names, self.defaults, self.processors, strict=True):
            if default is None:
                values = [row[name] for row in rows]
            elif default.is_scalar:
                values = [default.arg] * len(rows)
            else:  # a callable default, called once per row as SQLAlchemy does (it takes no context here)
                values = [default.arg(None) for _ in rows]
            if process is not None:
                values = _each_distinct(process, values)
            converted.append(values)
        conn.exec_driver_sql(self.sql, list(zip(*converted, strict=True)))


#: fast upserts by statement shape; None for a shape that must take SQLAlchemy's path
_FAST: dict[tuple[Any, ...], _FastUpsert | None] = {}


def _compile_fast(conn: Connection, stmt: Any, table: sa.Table, columns: Sequence[str]) -> _FastUpsert | None:
    """The statement compiled for the driver, or None when it binds anything but the columns and
    the defaults of other columns (an expression with a value of its own, a SQL default), or the
    dialect's parameters are not positional."""
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(columns))
    names = list(compiled.positiontup or ())
    if not compiled.positional or len(set(names)) != len(names) or not set(columns) <= set(names):
        return None
    defaults: list[Any] = []
    for name in names:
        default = None if name in columns else table.c[name].default if name in table.c else None
        if name not in columns and (default is None or not (default.is_scalar or default.is_callable)):
            return None
        defaults.append(default)
    processors = tuple(
        table.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for name in names
    )
    return _FastUpsert(compiled.string, tuple(names), tuple(defaults), processors)


def _each_distinct(process: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    """``process`` applied to each value, once per object (a batch's timestamp, a list of
    recommendations many review items share): the batch holds every value, so no object's id is
    reused while this runs."""
    out = []
    done: dict[int, Any] = {}
    for value in values:
        key = id(value)
        converted = done.get(key, _UNSET)
        if converted is _UNSET:
            converted = done[key] = process(value)
        out.append(converted)
    return out


_UNSET = object()
