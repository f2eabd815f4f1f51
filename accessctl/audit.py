"""The append-only, hash-chained audit log.

Each event stores the hash of the one before it; its own hash covers its sequence number, its
content and that previous hash.  Events are written with :func:`record` inside the caller's
transaction, the same one as the change they record, so a change and its audit event commit or
roll back together; the ``accessctl.audit`` log line follows only a commit.  The single
``audit_head`` row is both the lock appenders take (one writer at a time, so the chain never forks)
and the anchor that exposes a deleted tail.  The database itself refuses UPDATE and DELETE of
``audit_event`` (triggers, migration 0002).

:func:`verify` walks the chain and names the first event that was edited, deleted or reordered.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import hashlib
import io
import json
import logging
import re
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from accessctl.logs import lines_held
from accessctl.store.models import AuditEvent, AuditHead
from accessctl.store.prepared import Prepared, dialect_name
from accessctl.timestamps import utc

GENESIS_HASH = "0" * 64
EXPORT_FIELDS = (
    "seq",
    "occurred_at",
    "actor",
    "action",
    "target_type",
    "target_id",
    "provider",
    "outcome",
    "details",
    "prev_hash",
    "hash",
)
_SECRET_KEY = re.compile(r"(secret|token|password|passwd|assertion|private_key|api_key|authorization)", re.I)

audit_logger = logging.getLogger("accessctl.audit")

_events = AuditEvent.__table__  # type: ignore[attr-defined]
_head = AuditHead.__table__  # type: ignore[attr-defined]


#: the canonical JSON a hash covers (one encoder: ``json.dumps`` with options builds one per call)
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@functools.lru_cache(maxsize=1024)  # the events of one change share their time
def _timestamp(value: datetime) -> str:
    """``2026-12-04T02:05:53.123456Z``: the instant as the hash covers it."""
    instant = utc(value)
    if instant.year < 1000:  # strftime writes such a year without its leading zeros
        return instant.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return instant.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _json_key(key: Any) -> str:
    """A dict key as JSON writes it (JSON's keys are strings: 1 is "1", True is "true")."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, int | float):
        return json.dumps(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


@functools.lru_cache(maxsize=4096)  # details use few keys, again and again
def _is_secret_key(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None


#: values written as they are (no walk into them)
_PLAIN = frozenset({str, int, float, bool, type(None)})


def redact(details: Any) -> Any:
    """Replace the values of secret-looking keys, recursively, and write each dict's keys as JSON
    writes them: so details encode once to the text the store keeps and the hash covers (what they
    read back as)."""
    if isinstance(details, dict):
        clean = {}
        for k, v in details.items():
            key = k if type(k) is str else _json_key(k)
            if _is_secret_key(key):
                clean[key] = "[redacted]"
            else:
                clean[key] = v if type(v) in _PLAIN else redact(v)
        return clean
    if isinstance(details, list | tuple):
        return [v if type(v) in _PLAIN else redact(v) for v in details]
    return details


def details_text(details: dict[str, Any] | None) -> str:
    """The details of an event as stored: redacted, canonical JSON (values JSON has no type for
    are written as their ``str``)."""
    return _CANONICAL.encode(redact(details or {}))


def compute_hash(
    *,
    seq: int,
    occurred_at: datetime,
    actor: str,
    action: str,
    target_type: str | None,
    target_id: str | None,
    provider: str | None,
    outcome: str,
    details: dict[str, Any],
    prev_hash: str,
) -> str:
    """The hash of an event as stored (``details``: as read back), which :func:`verify` checks."""
    fields = (seq, occurred_at, actor, action, target_type, target_id, provider, outcome)
    return _chained_hash(fields, _CANONICAL.encode(details), prev_hash)


def _chained_hash(fields: tuple[Any, ...], details: str, prev_hash: str) -> str:
    """SHA-256 of the canonical JSON array of an event's ``fields`` (seq, occurred_at, actor, action,
    target_type, target_id, provider, outcome), its details and the hash before it, the details
    given as their canonical text already (an append encodes them once, for the store and this)."""
    seq, occurred_at, *rest = fields
    head = _CANONICAL.encode([seq, _timestamp(occurred_at), *rest])
    canonical = f"{head[:-1]},{details},{_CANONICAL.encode(prev_hash)}]"
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    seq: int
    hash: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One event to append (see :func:`record`)."""

    actor: str
    action: str
    target_type: str | None = None
    target_id: str | None = None
    provider: str | None = None
    outcome: str = "success"
    details: dict[str, Any] | None = None
    occurred_at: datetime | None = None


def record(
    db: Session | Connection,
    *,
    actor: str,
    action: str,
    target_type: str | None = None,
    target_id: str | None = None,
    provider: str | None = None,
    outcome: str = "success",
    details: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> RecordedEvent | None:
    """Append one event in the caller's transaction (the caller commits); None when it is held by
    :func:`deferred`.

    The event is also logged (logger ``accessctl.audit``) once that transaction commits; never if it
    rolls back.
    """
    entry = Entry(actor, action, target_type, target_id, provider, outcome, details, occurred_at)
    recorded = record_many(db, [entry])
    return recorded[0] if recorded else None


# compiled once and run on the driver's cursor: appends are frequent (a group of HR events), and
# building and compiling a statement costs more than running it
_LOCK_HEAD = Prepared(sa.update(_head).where(_head.c.id == 1).values(last_seq=_head.c.last_seq))
_READ_HEAD = Prepared(sa.select(_head.c.last_seq, _head.c.last_hash).where(_head.c.id == 1))


@functools.cache
def _insert_events(dialect: str) -> Prepared:
    """The INSERT of events whose details come as their JSON text (bound as it is, not encoded
    again; PostgreSQL is told it is JSON)."""
    text: Any = sa.bindparam("details_text", type_=sa.UnicodeText)
    if dialect == "postgresql":
        text = sa.cast(text, sa.JSON)
    return Prepared(sa.insert(_events).values(details=text))


_MOVE_HEAD = Prepared(
    sa.update(_head)
    .where(_head.c.id == 1)
    .values(last_seq=sa.bindparam("b_seq"), last_hash=sa.bindparam("b_hash"))
)


def record_many(db: Session | Connection, entries: Sequence[Entry]) -> list[RecordedEvent]:
    """Append several events, in order, in the caller's transaction: one event each, chained as
    :func:`record` chains them, with the head row locked and moved once (a job's planned steps).
    Inside :func:`deferred` they are held, and written when it ends (nothing is returned)."""
    if not entries:
        return []
    held = _held.get(db)
    if held is not None:
        held.extend(entries)
        return []
    # Take the head row's write lock first: appenders queue here, so the chain never forks.
    _LOCK_HEAD.run(db)
    head = _READ_HEAD.first(db)
    if head is None:
        raise RuntimeError("the audit log is not initialised: run `accessctl db upgrade`")
    seq, prev_hash = head.last_seq, head.last_hash
    rows: list[dict[str, Any]] = []
    recorded: list[RecordedEvent] = []
    for entry in entries:
        seq += 1
        occurred_at = utc(entry.occurred_at or datetime.now(UTC))
        text = details_text(entry.details)
        e = entry
        fields = (seq, occurred_at, e.actor, e.action, e.target_type, e.target_id, e.provider, e.outcome)
        row_hash = _chained_hash(fields, text, prev_hash)
        rows.append(
            {
                "seq": seq,
                "occurred_at": occurred_at,
                "actor": entry.actor,
                "action": entry.action,
                "target_type": entry.target_type,
                "target_id": entry.target_id,
                "provider": entry.provider,
                "outcome": entry.outcome,
                "details_text": text,
                "prev_hash": prev_hash,
                "hash": row_hash,
            }
        )
        prev_hash = row_hash
        recorded.append(RecordedEvent(seq, row_hash))
    _insert_events(dialect_name(db)).run_many(db, rows)
    _MOVE_HEAD.run(db, {"b_seq": seq, "b_hash": prev_hash})
    for row in rows:
        _emit_on_commit(db, {key: row[key] for key in _LOGGED})
    return recorded


#: the events held by :func:`deferred`, per Session or Connection
_held: weakref.WeakKeyDictionary[Session | Connection, list[Entry]] = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def deferred(db: Session | Connection) -> Iterator[None]:
    """Hold the events recorded on ``db`` inside this block and append them together as it ends
    (one lock and move of the chain's head for many events: a group of HR events).  A block that
    raises drops what it held (its transaction, or savepoint, rolls back the rest).  Nested, the
    inner block hands what it held to the outer one, which writes it."""
    outer = _held.get(db)
    mine: list[Entry] = []
    _held[db] = mine
    try:
        yield
    finally:
        if outer is None:
            _held.pop(db, None)
        else:
            _held[db] = outer
    if outer is not None:
        outer.extend(mine)
    else:
        record_many(db, mine)


#: what the audit logger says of an event (its details stay in the store)
_LOGGED = ("seq", "actor", "action", "target_type", "target_id", "provider", "outcome")

# Events recorded but not yet committed, per Session or Connection.  They reach the audit logger when
# (and only if) the caller's transaction commits: a rolled-back change leaves no log line either.
_pending: weakref.WeakKeyDictionary[Session | Connection, list[dict[str, Any]]] = weakref.WeakKeyDictionary()


def _log(entries: list[dict[str, Any]]) -> None:
    if len(entries) > 1:
        with lines_held():  # written together
            _log_each(entries)
    else:
        _log_each(entries)


def _log_each(entries: list[dict[str, Any]]) -> None:
    for entry in entries:
        audit_logger.info(
            "%s %s %s",
            entry["action"],
            entry["target_type"] or "",
            entry["target_id"] or "",
            extra={"audit": entry},
        )


# What :func:`logged_after` holds, per thread: committed events whose log lines wait for its end.
_after = threading.local()


@contextlib.contextmanager
def logged_after() -> Iterator[None]:
    """The log lines of events committed in this thread during the block are written as it ends
    (the HR intake's writer answers a group's requests first, then logs).  Nested, the outer
    block writes them."""
    if getattr(_after, "held", None) is not None:
        yield
        return
    _after.held = held = []
    try:
        yield
    finally:
        _after.held = None
        _log(held)


def _flush(db: Session | Connection, *_: Any) -> None:
    entries = _pending.pop(db, [])
    held: list[dict[str, Any]] | None = getattr(_after, "held", None)
    if held is not None:
        held.extend(entries)
    else:
        _log(entries)


def _discard(db: Session | Connection, *_: Any) -> None:
    _pending.pop(db, None)


def _discard_at_end(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost transaction ended (a commit has flushed already)
        _pending.pop(session, None)


def _emit_on_commit(db: Session | Connection, entry: dict[str, Any]) -> None:
    if db not in _pending:
        _pending[db] = []
        if isinstance(db, Session):
            if not sa.event.contains(db, "after_commit", _flush):
                sa.event.listen(db, "after_commit", _flush)  # after the database committed
                sa.event.listen(db, "after_rollback", _discard)
                sa.event.listen(db, "after_transaction_end", _discard_at_end)
        else:
            _listen_to(db.engine)
    _pending[db].append(entry)


#: the engines whose connections' commits and rollbacks release or drop their pending lines
_listened: weakref.WeakSet[Engine] = weakref.WeakSet()
_listening = threading.Lock()


def _listen_to(engine: Engine) -> None:
    """Listen to the commits and rollbacks of every connection of ``engine`` (its connections', now
    and later: listening to each new connection costs more than the statements of a small change)."""
    if engine in _listened:
        return
    with _listening:
        if engine not in _listened:
            # SQLAlchemy has no after-commit event for a Connection: this fires as it commits
            sa.event.listen(engine, "commit", _flush)
            sa.event.listen(engine, "rollback", _discard)
            _listened.add(engine)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    checked: int
    bad_seq: int | None = None
    reason: str | None = None


def verify(db: Session | Connection) -> VerifyResult:
    """Walk the chain from the genesis hash; the first inconsistency is reported with its event."""
    expected_seq = 1
    prev = GENESIS_HASH
    checked = 0
    rows = db.execute(sa.select(_events).order_by(_events.c.seq).execution_options(yield_per=2000))
    for row in rows:
        if row.seq != expected_seq:
            if row.seq > expected_seq:
                missing = (
                    f"{expected_seq}" if row.seq == expected_seq + 1 else f"{expected_seq}..{row.seq - 1}"
                )
                return VerifyResult(False, checked, expected_seq, f"event {missing} is missing (deleted)")
            return VerifyResult(False, checked, row.seq, f"event {row.seq} is out of order")
        if row.prev_hash != prev:
            return VerifyResult(
                False,
                checked,
                row.seq,
                f"event {row.seq} does not follow event {row.seq - 1} (reordered, replaced or inserted)",
            )
        recomputed = compute_hash(**{k: v for k, v in row._mapping.items() if k != "hash"})
        if recomputed != row.hash:
            return VerifyResult(
                False, checked, row.seq, f"event {row.seq} was edited (its hash does not match)"
            )
        prev = row.hash
        expected_seq += 1
        checked += 1
    head = db.execute(sa.select(_head.c.last_seq, _head.c.last_hash).where(_head.c.id == 1)).one_or_none()
    if head is None:
        return VerifyResult(False, checked, None, "the audit head is missing (run `accessctl db upgrade`)")
    if head.last_seq != checked or head.last_hash != prev:
        if head.last_seq > checked:
            return VerifyResult(
                False, checked, checked + 1, f"events {checked + 1}..{head.last_seq} are missing (deleted)"
            )
        return VerifyResult(False, checked, head.last_seq, "the audit head does not match the last event")
    return VerifyResult(True, checked)


def iter_events(db: Session | Connection, *, since: datetime | None = None) -> Iterator[dict[str, Any]]:
    query = sa.select(_events).order_by(_events.c.seq)
    if since is not None:
        query = query.where(_events.c.occurred_at >= utc(since))
    for row in db.execute(query.execution_options(yield_per=2000)):
        event = dict(row._mapping)
        event["occurred_at"] = _timestamp(row.occurred_at)
        yield event


def export(db: Session | Connection, out: TextIO, *, fmt: str, since: datetime | None = None) -> int:
    """Write events as JSON lines or CSV (details as a JSON string) for SIEM ingestion."""
    count = 0
    if fmt == "jsonl":
        for event in iter_events(db, since=since):
            out.write(json.dumps(event, sort_keys=True, ensure_ascii=False) + "\n")
            count += 1
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
        writer.writeheader()
        for event in iter_events(db, since=since):
            writer.writerow({**event, "details": json.dumps(event["details"], sort_keys=True)})
            count += 1
    else:
        raise ValueError(f"unknown export format {fmt!r} (use jsonl or csv)")
    return count


def export_text(db: Session | Connection, *, fmt: str, since: datetime | None = None) -> str:
    buffer = io.StringIO()
    export(db, buffer, fmt=fmt, since=since)
    return buffer.getvalue()
