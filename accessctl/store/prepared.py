"""A hot statement run straight on the connection's DB-API cursor, in the caller's transaction.

    _FIND = Prepared(sa.select(PEOPLE.c.id, PEOPLE.c.email).where(PEOPLE.c.employee_id == sa.bindparam("b")))
    row = _FIND.first(conn, {"b": "E100"})        # a named tuple (row.id, row.email), or None
    _FIND.rows(conn, {...}); _UPDATE.run(conn, {...}); _INSERT.run_many(conn, [{...}, ...])

Why: SQLAlchemy's ``Connection.execute`` spends most of a short statement's CPU on its execution
context (the parameters looked up, processed and ordered again on each call, the result's metadata
built), about 100 µs, where the database itself needs 10-20.  The HR intake runs six such statements
per event in one writer thread, so that machinery was a third of the service's CPU.  Here each
statement is compiled once per dialect and set of parameter names, by SQLAlchemy, and what it
compiled is kept: the SQL text, the order of its parameters, SQLAlchemy's own bind and result
processors for each column's type (dates and booleans on SQLite, say), the statement's constants and
its columns' scalar defaults.  So the values reach the driver exactly as ``Connection.execute``
would send them, and rows come back with the same Python values.

What is not done: engine events (``before_cursor_execute``; the store registers none for
statements), expanding ``IN`` lists and SQL-expression defaults (refused when compiled, so a
statement that needs them fails at once in the tests, not in production).  Errors from the driver are
raised as SQLAlchemy raises them (:class:`sqlalchemy.exc.DBAPIError` and its subclasses), so callers
that handle those need no change.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Session

_MISSING = object()
#: where a statement runs: a Connection, or a Session (on its connection, in its transaction)
Db = Connection | Session


class _RowBase(tuple):  # type: ignore[type-arg]
    """What a row offers besides its named fields: ``row._mapping`` as on a SQLAlchemy Row."""

    __slots__ = ()

    @property
    def _mapping(self) -> dict[str, Any]:
        return self._asdict()  # type: ignore[attr-defined,no-any-return]


@dataclass(frozen=True, slots=True)
class _Param:
    """One placeholder: the caller's key that fills it (None: a constant); what fills it when the
    caller gives none (the constant, or the column's callable default); the type's bind processor."""

    key: str | None
    constant: Any
    required: bool
    process: Callable[[Any], Any] | None
    default: Callable[[Any], Any] | None = None


@dataclass(frozen=True, slots=True)
class _Form:
    """A statement as compiled for one dialect and one set of parameter names."""

    sql: str
    positional: bool
    params: tuple[_Param, ...]
    row: type | None  # the named tuple of a statement that returns rows
    processors: tuple[Callable[[Any], Any] | None, ...]

    binder: Callable[[Mapping[str, Any]], Sequence[Any] | dict[str, Any]]

    def bind(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        """What the driver is given for ``values`` (the caller's keys)."""
        try:
            return self.binder(values)
        except _Missing:
            key = next(p.key for p in self.params if p.required and p.key not in values)
            raise KeyError(f"the statement needs a value for {key!r}") from None

    def make_rows(self, raw: list[Sequence[Any]]) -> list[Any]:
        assert self.row is not None
        make = self.row._make  # type: ignore[attr-defined]
        if not any(self.processors):
            return [make(r) for r in raw]
        processors = self.processors
        return [
            make([v if f is None or v is None else f(v) for f, v in zip(processors, r, strict=True)])
            for r in raw
        ]


class Prepared:
    """A Core statement (SELECT, INSERT, UPDATE, DELETE; RETURNING allowed) to run often."""

    def __init__(self, statement: sa.Executable) -> None:
        self.statement = statement
        self._forms: dict[tuple[str, tuple[str, ...]], _Form] = {}
        self._lock = threading.Lock()

    # --- running --------------------------------------------------------------------------------

    def rows(self, db: Db, values: Mapping[str, Any] | None = None) -> list[Any]:
        """Every row the statement returns (named tuples; fetched at once: for a few rows)."""
        conn = _connection(db)
        form = self._form(conn.dialect, values or {})
        cursor = self._run(conn, form, form.bind(values or {}))
        try:
            return form.make_rows(cursor.fetchall())
        finally:
            cursor.close()

    def first(self, db: Db, values: Mapping[str, Any] | None = None) -> Any | None:
        """The first row, or None."""
        found = self.rows(db, values)
        return found[0] if found else None

    def scalar(self, db: Db, values: Mapping[str, Any] | None = None) -> Any | None:
        """The first column of the first row, or None."""
        row = self.first(db, values)
        return None if row is None else row[0]

    def run(self, db: Db, values: Mapping[str, Any] | None = None) -> int:
        """Run a statement that returns no rows; the count of rows it changed."""
        conn = _connection(db)
        form = self._form(conn.dialect, values or {})
        cursor = self._run(conn, form, form.bind(values or {}))
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def run_many(self, db: Db, many: Sequence[Mapping[str, Any]]) -> None:
        """Run it once per mapping of ``many`` (the DB-API's executemany); each has the same keys."""
        if not many:
            return
        conn = _connection(db)
        form = self._form(conn.dialect, many[0])
        cursor = self._run(conn, form, [form.bind(v) for v in many], many=True)
        cursor.close()

    @staticmethod
    def _run(conn: Connection, form: _Form, bound: Any, *, many: bool = False) -> Any:
        if not conn.in_transaction():  # what Connection.execute would do: begin one
            conn.begin()
        dialect = conn.dialect
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        error = dialect.loaded_dbapi.Error
        try:
            if many:
                cursor.executemany(form.sql, bound)
            else:
                cursor.execute(form.sql, bound)
        except error as exc:
            cursor.close()
            wrapped = sa.exc.DBAPIError.instance(form.sql, bound, exc, error, dialect=dialect, ismulti=many)
            raise wrapped from exc
        return cursor

    # --- compiling ------------------------------------------------------------------------------

    def _form(self, dialect: Dialect, values: Mapping[str, Any]) -> _Form:
        names = tuple(values)
        key = (dialect.name, names)
        form = self._forms.get(key)
        if form is None:
            with self._lock:
                form = self._forms.get(key) or self._compile(dialect, names)
                self._forms[key] = form
        return form

    def _compile(self, dialect: Dialect, keys: tuple[str, ...]) -> _Form:
        compiled: Any = self.statement.compile(dialect=dialect, column_keys=list(keys))
        if compiled.literal_execute_params or compiled.post_compile_params:
            raise ValueError("a prepared statement cannot expand IN lists or literal parameters")
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        scalars: dict[str, Any] = {}  # a column's default when the caller gives no value
        callables: dict[str, Callable[[Any], Any]] = {}  # SQLAlchemy's wrapper (it takes a context)
        for column in [*compiled.insert_prefetch, *compiled.update_prefetch]:
            default = column.default if column in compiled.insert_prefetch else column.onupdate
            if default is not None and default.is_scalar:
                scalars[column.key] = default.arg
            elif default is not None and default.is_callable:
                callables[column.key] = default.arg
            else:
                raise ValueError(f"a prepared statement cannot compute the default of {column.key}")
        names = tuple(compiled.positiontup) if compiled.positional else _named_order(compiled)
        processors = compiled._bind_processors
        params = []
        for name in names:
            bind = by_name[name]
            if bind.callable is not None:
                raise ValueError(f"a prepared statement cannot call {name}'s value")
            defaulted = bind.key in scalars or bind.key in callables
            user = bind.key in keys or defaulted or bind.required
            params.append(
                _Param(
                    key=bind.key if user else None,
                    constant=scalars.get(bind.key) if user else bind.effective_value,
                    required=bind.required and not defaulted,
                    process=_remembering(processors.get(name), bind.type),
                    default=callables.get(bind.key),
                )
            )
        escaped = getattr(compiled, "escaped_bind_names", None) or {}
        row = None
        result_processors: tuple[Callable[[Any], Any] | None, ...] = ()
        if compiled._result_columns:
            columns = compiled._result_columns
            row = namedtuple("Row", [c.keyname for c in columns], module=__name__)  # type: ignore[misc]
            row = type("Row", (row, _RowBase), {"__slots__": ()})
            result_processors = tuple(c.type._cached_result_processor(dialect, None) for c in columns)
        driver_names = tuple(escaped.get(n, n) for n in names)  # a named paramstyle's, in order
        return _Form(
            sql=compiled.string,
            positional=compiled.positional,
            params=tuple(params),
            row=row,
            processors=result_processors,
            binder=_binder(params, compiled.positional, driver_names),
        )


def _iso_text(value: Any) -> Any:
    """A datetime as SQLite's DATETIME stores it (``2026-12-04 02:05:53.123456``, its zone left
    out), written by the C ``isoformat`` rather than a %-format of each field."""
    return value.isoformat(" ", "microseconds")[:26]


#: instants :func:`_remembering` checks :func:`_iso_text` against before using it for a type
_SAMPLES = [
    datetime(2026, 12, 4, 2, 5, 53, 123456, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 30, 15),
    datetime(1, 1, 1, 0, 0, 0, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(9999, 12, 31, 23, 59, 59, 999999),
]


def _remembering(process: Callable[[Any], Any] | None, type_: Any) -> Callable[[Any], Any] | None:
    """A datetime's bind processor that remembers its last answer: one change binds the same
    instant many times (an HR event's row, its job, its audit events), and SQLite's processor
    formats it each time.  Only a datetime is remembered (it cannot change), by identity.  Where
    :func:`_iso_text` gives what the type's own processor gives (SQLite's), it is used instead."""
    if process is None or not isinstance(type_, sa.DateTime):
        return process
    try:
        agrees = all(_iso_text(sample) == process(sample) for sample in _SAMPLES)
    except Exception:  # a processor that refuses a sample formats some other way
        agrees = False
    formatting = process
    if agrees:

        def formatting(value: Any) -> Any:
            return _iso_text(value) if type(value) is datetime else process(value)

    last: tuple[Any, Any] = (None, None)

    def remembered(value: Any) -> Any:
        nonlocal last
        seen, answer = last  # one tuple, swapped whole: safe between threads
        if value is seen and value is not None:
            return answer
        answer = formatting(value)
        if type(value) is datetime:
            last = (value, answer)
        return answer

    return remembered


class _Missing(Exception):
    """A required value is not there (:meth:`_Form.bind` names it)."""


def _binder(
    params: Sequence[_Param], positional: bool, names: Sequence[str]
) -> Callable[[Mapping[str, Any]], Sequence[Any] | dict[str, Any]]:
    """A function that binds one statement's values, written for its parameters: each value is
    looked up, defaulted and processed in one expression (a loop over the parameters, asking each
    what it is, cost a hot INSERT more than the driver's own work)."""
    env: dict[str, Any] = {"_MISSING": _MISSING, "_Missing": _Missing}
    exprs = []
    for i, p in enumerate(params):
        if p.key is None:
            env[f"c{i}"] = p.constant
            expr = f"c{i}"
        elif p.required:
            expr = f"(v if (v := values.get({p.key!r}, _MISSING)) is not _MISSING else _missing())"
        elif p.default is not None:
            env[f"d{i}"] = p.default
            expr = f"(v if (v := values.get({p.key!r}, _MISSING)) is not _MISSING else d{i}(None))"
        else:
            env[f"c{i}"] = p.constant
            expr = f"values.get({p.key!r}, c{i})"
        if p.process is not None:
            env[f"p{i}"] = p.process
            expr = f"p{i}({expr})"
        exprs.append(expr)
    if positional:
        body = "(" + "".join(f"{e}, " for e in exprs) + ")"
    else:
        body = "{" + ", ".join(f"{n!r}: {e}" for n, e in zip(names, exprs, strict=True)) + "}"
    source = f"def _missing():\n    raise _Missing\n\ndef bind(values):\n    return {body}\n"
    exec(compile(source, "<prepared bind>", "exec"), env)  # our own text: the keys are repr()s
    return env["bind"]  # type: ignore[no-any-return]


def _connection(db: Db) -> Connection:
    return db if isinstance(db, Connection) else db.connection()


def dialect_name(db: Db) -> str:
    """The name of the database ``db`` runs on ("sqlite", "postgresql")."""
    return _connection(db).dialect.name


def _named_order(compiled: Any) -> tuple[str, ...]:
    """A named paramstyle's placeholders (their order does not matter to the driver)."""
    return tuple(dict.fromkeys(compiled.bind_names.values()))
