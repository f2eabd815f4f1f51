"""The HR intake use case: signed bytes in, a committed event (and its job) out.

Web-free, so the HTTP router, the CLI's test sender and the benchmarks share it.  Order: the size cap,
the content type, the signature on the raw bytes, then strict parsing, then one write transaction
that records the event and carries out what it means.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl import audit
from accessctl.hr.decide import RehireMode
from accessctl.hr.events import MAX_BYTES, CanonicalEvent, check_content_type, load_json, parse_event
from accessctl.hr.rejections import Rejected
from accessctl.hr.signature import Verified, WebhookSecret, verify
from accessctl.hr.store import EVENTS, SCHEDULES, Accepted, Lifecycle, fire_due
from accessctl.hr.vendors.bamboohr import BambooSource
from accessctl.hr.vendors.gusto import GustoSource
from accessctl.hr.vendors.hibob import HibobSource
from accessctl.hr.writer import GroupWriter
from accessctl.hr.writer_process import RecordRequest, WriterProcess
from accessctl.jobs.tables import write_tx
from accessctl.jobs.worker import wake_workers
from accessctl.timestamps import utc

log = logging.getLogger("accessctl.hr")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class HrIntake:
    """Everything the intake needs, passed in (no globals): the store, each source's secrets, the
    rehire policy, where leavers and restores become jobs, a clock, and a hook counting rejections by
    reason (the service's /metrics)."""

    engine: Engine
    sources: Mapping[str, list[WebhookSecret]]
    lifecycle: Lifecycle
    rehire: RehireMode = "restore"
    clock: Callable[[], datetime] = _now
    on_rejected: Callable[[str], None] | None = None
    rejections: dict[str, int] = field(default_factory=dict)
    #: BambooHR, HiBob and Gusto sources (``vendor = ...``), and the HTTP client that reads records back
    bamboo: Mapping[str, BambooSource] = field(default_factory=dict)
    hibob: Mapping[str, HibobSource] = field(default_factory=dict)
    gusto: Mapping[str, GustoSource] = field(default_factory=dict)
    vendor_client: httpx.Client | None = None
    #: how long a request waits for its event's commit (then 503, retry later)
    write_deadline_s: float = 10.0
    #: the group-commit writer in a process of its own (`accessctl serve`); None: a thread of this one
    remote: WriterProcess | None = field(default=None, repr=False)
    _writer: GroupWriter | None = field(default=None, init=False, repr=False)
    _writer_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Any, engine: Engine, lifecycle: Lifecycle, **kwargs: Any) -> HrIntake:
        from accessctl.hr.sources import bamboo_sources, gusto_sources, hibob_sources, source_secrets

        return cls(
            engine,
            source_secrets(settings.hr),
            lifecycle,
            rehire=settings.hr.rehire,
            bamboo=bamboo_sources(settings.hr),
            hibob=hibob_sources(settings.hr),
            gusto=gusto_sources(settings.hr),
            **kwargs,
        )

    def rejected(self, exc: Rejected, *, source: str | None = None) -> None:
        """Count and log a refusal (its reason, never the body)."""
        self._count(exc.reason, exc.message, source)

    def fetch_back_failed(self, exc: Exception) -> None:
        """Count and log a vendor read-back that failed (the delivery was refused 503, for the vendor
        to deliver again), under the reason ``fetch_back_failed``."""
        self._count("fetch_back_failed", str(exc), None)

    def _count(self, reason: str, message: str, source: str | None) -> None:
        self.rejections[reason] = self.rejections.get(reason, 0) + 1
        if self.on_rejected is not None:
            self.on_rejected(reason)
        log.warning("HR event refused: %s (%s)", reason, message, extra={"hr_source": source})

    def receive(self, headers: Mapping[str, str], raw: bytes) -> Accepted:
        """Verify, parse and record one delivery; raise :class:`Rejected` (nothing stored) when it is
        refused.  ``headers`` look names up case-insensitively."""
        now = self.clock()
        verified, event = self._checked(headers, raw, now)
        return self._record(verified.source, verified.webhook_id, event, raw, now)

    def _checked(
        self, headers: Mapping[str, str], raw: bytes, now: datetime
    ) -> tuple[Verified, CanonicalEvent]:
        """The checks, in order: content type, size cap, the signature on the raw bytes, strict parse."""
        check_content_type(headers.get("content-type"))
        if len(raw) > MAX_BYTES:  # before any work on it, the signature included
            raise Rejected("body_too_large", f"the body is over {MAX_BYTES // 1024} KiB", status=413)
        verified = verify(headers, raw, self.sources, now=now)
        return verified, parse_event(load_json(raw), now=now)

    def receive_bamboohr(self, headers: Mapping[str, str], raw: bytes) -> Accepted:
        """A BambooHR webhook: its signature, then the record read back, then as a canonical event.
        Raises :class:`FetchBackFailed` (nothing stored) when BambooHR's API did not answer."""
        from accessctl.hr.vendors import bamboohr

        now = self.clock()
        check_content_type(headers.get("content-type"))
        source = bamboohr.verify(headers, raw, list(self.bamboo.values()), now=now)
        notice = bamboohr.parse_notice(raw)
        event = self._read_back(lambda client: bamboohr.read_event(client, source, notice))
        return self._record(source.name, None, event, raw, now)

    def receive_hibob(self, headers: Mapping[str, str], raw: bytes) -> Accepted:
        """A HiBob webhook v2: its Bob-Signature, then the employee read back, then as a canonical
        event.  Raises :class:`FetchBackFailed` (nothing stored) when Bob's API did not answer."""
        from accessctl.hr.vendors import hibob

        now = self.clock()
        check_content_type(headers.get("content-type"))
        if len(raw) > MAX_BYTES:
            raise Rejected("body_too_large", f"the body is over {MAX_BYTES // 1024} KiB", status=413)
        source = hibob.verify(headers, raw, list(self.hibob.values()))
        notice = hibob.parse_notice(raw, source)
        event = self._read_back(lambda client: hibob.read_event(client, source, notice, now=now))
        return self._record(source.name, None, event, raw, now)

    def receive_gusto(self, headers: Mapping[str, str], raw: bytes) -> Accepted:
        """A Gusto webhook event: its X-Gusto-Signature, then the employee (and terminations) read
        back, then as a canonical event.  Raises :class:`FetchBackFailed` (nothing stored) when
        Gusto's API did not answer."""
        from accessctl.hr.vendors import gusto

        now = self.clock()
        check_content_type(headers.get("content-type"))
        if len(raw) > MAX_BYTES:
            raise Rejected("body_too_large", f"the body is over {MAX_BYTES // 1024} KiB", status=413)
        source = gusto.verify(headers, raw, list(self.gusto.values()))
        notice = gusto.parse_notice(raw, source)
        event = self._read_back(lambda client: gusto.read_event(client, source, notice))
        return self._record(source.name, None, event, raw, now)

    def _read_back(self, read: Callable[[httpx.Client], CanonicalEvent]) -> CanonicalEvent:
        client = self.vendor_client or httpx.Client(timeout=10.0)
        try:
            return read(client)
        finally:
            if client is not self.vendor_client:
                client.close()

    def _record(
        self, source: str, webhook_id: str | None, event: CanonicalEvent, raw: bytes, now: datetime
    ) -> Accepted:
        request = RecordRequest.of(source, webhook_id, event, raw, now)
        with write_tx(self.engine) as conn, audit.deferred(conn):
            accepted = request.record(conn, rehire=self.rehire, lifecycle=self.lifecycle)
        if not accepted.replay:
            wake_workers()  # a job committed unplanned: a worker in this process plans it now
        self._recorded(source, accepted)
        return accepted

    def _recorded(self, source: str, accepted: Accepted) -> None:
        # a new event's INFO line is the audit logger's (hr.event.received); a replay has none
        log.log(
            logging.INFO if accepted.replay else logging.DEBUG,
            "HR event %s from %s: %s%s",
            accepted.event_id,
            source,
            accepted.status,
            " (replay)" if accepted.replay else "",
        )

    async def receive_async(self, headers: Mapping[str, str], raw: bytes) -> Accepted:
        """:meth:`receive` for the service: the checks in the caller's event loop (they are short),
        then the event written by the group-commit writer (:mod:`accessctl.hr.writer`), answered
        once its group committed.  Raises :class:`TimeoutError` (nothing stored, or stored and a
        retry is its replay) when the store does not commit within ``write_deadline_s``."""
        now = self.clock()
        verified, event = self._checked(headers, raw, now)
        key = event.employee.employee_id
        request = RecordRequest.of(verified.source, verified.webhook_id, event, raw, now)
        if self.remote is not None:
            accepted = await self.remote.write(request, key=key, deadline_s=self.write_deadline_s)
            if not accepted.replay:
                wake_workers()  # its job committed unplanned: a worker in this process plans it
        else:
            record = functools.partial(request.record, rehire=self.rehire, lifecycle=self.lifecycle)
            writer = self._group_writer()
            accepted = await writer.write(record, key=key, deadline_s=self.write_deadline_s)
        self._recorded(verified.source, accepted)
        return accepted

    def _group_writer(self) -> GroupWriter:
        with self._writer_lock:
            if self._writer is None:
                self._writer = GroupWriter(self.engine, after_commit=wake_workers)
            return self._writer

    def close(self) -> None:
        """Stop the group-commit writer (what it holds is written first)."""
        with self._writer_lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    def fire_due(self) -> int:
        """Fire the future-dated terminations whose time has come (the scheduler calls this)."""
        with write_tx(self.engine) as conn:
            fired = fire_due(conn, now=self.clock(), rehire=self.rehire, lifecycle=self.lifecycle)
        if fired:
            wake_workers()
        return fired


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def event_status(engine: Engine, event_id: int) -> dict[str, Any] | None:
    """What became of one event: its status, its schedule, its job and the job's steps."""
    from accessctl.jobs.read import get_job

    with engine.connect() as conn:
        row = conn.execute(sa.select(EVENTS).where(EVENTS.c.id == event_id)).first()
        if row is None:
            return None
        schedule = conn.execute(
            sa.select(SCHEDULES.c.fire_at, SCHEDULES.c.state, SCHEDULES.c.effective_local).where(
                SCHEDULES.c.hr_event_id == event_id
            )
        ).first()
        job = get_job(conn, row.job_id) if row.job_id is not None else None
    return _plain(
        {
            "event_id": row.id,
            "source": row.source,
            "id": row.source_event_id,
            "type": row.event_type,
            "employee_id": row.employee_id,
            "status": row.status,
            "note": row.note,
            "needs_admin": row.needs_admin,
            "occurred_at": row.occurred_at,
            "effective_at": row.effective_at,
            "received_at": row.received_at,
            "schedule": None if schedule is None else dict(schedule._mapping),
            "job": None if job is None else asdict(job),
        }
    )
