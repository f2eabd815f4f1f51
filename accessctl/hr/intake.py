"""The HR intake use case: signed bytes in, a committed event (and its job) out.

Web-free, so the HTTP router, the CLI's test sender and the benchmarks share it.  Order: the size cap,
the content type, the signature on the raw bytes, then strict parsing, then one write transaction
that records the event and carries out what it means.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.hr.decide import RehireMode
from accessctl.hr.events import check_content_type, load_json, parse_event
from accessctl.hr.rejections import Rejected
from accessctl.hr.signature import WebhookSecret, verify
from accessctl.hr.store import EVENTS, SCHEDULES, Accepted, Lifecycle, fire_due, record_event
from accessctl.jobs.tables import write_tx
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

    @classmethod
    def from_settings(cls, settings: Any, engine: Engine, lifecycle: Lifecycle, **kwargs: Any) -> HrIntake:
        from accessctl.hr.sources import source_secrets

        return cls(engine, source_secrets(settings.hr), lifecycle, rehire=settings.hr.rehire, **kwargs)

    def rejected(self, exc: Rejected, *, source: str | None = None) -> None:
        """Count and log a refusal (its reason, never the body)."""
        self.rejections[exc.reason] = self.rejections.get(exc.reason, 0) + 1
        if self.on_rejected is not None:
            self.on_rejected(exc.reason)
        log.warning("HR event refused: %s (%s)", exc.reason, exc.message, extra={"hr_source": source})

    def receive(self, headers: Mapping[str, str], raw: bytes) -> Accepted:
        """Verify, parse and record one delivery; raise :class:`Rejected` (nothing stored) when it is
        refused.  ``headers`` look names up case-insensitively."""
        now = self.clock()
        check_content_type(headers.get("content-type"))
        if len(raw) > 256 * 1024:
            load_json(raw)  # raises body_too_large
        verified = verify(headers, raw, self.sources, now=now)
        event = parse_event(load_json(raw), now=now)
        digest = hashlib.sha256(raw).hexdigest()
        with write_tx(self.engine) as conn:
            accepted = record_event(
                conn,
                source=verified.source,
                webhook_id=verified.webhook_id,
                event=event,
                digest=digest,
                now=now,
                rehire=self.rehire,
                lifecycle=self.lifecycle,
            )
        log.info(
            "HR event %s from %s: %s%s",
            accepted.event_id,
            verified.source,
            accepted.status,
            " (replay)" if accepted.replay else "",
        )
        return accepted

    def fire_due(self) -> int:
        """Fire the future-dated terminations whose time has come (the scheduler calls this)."""
        with write_tx(self.engine) as conn:
            return fire_due(conn, now=self.clock(), rehire=self.rehire, lifecycle=self.lifecycle)


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
