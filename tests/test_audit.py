"""The audit log: hash-chained, written with the change it records, and tamper-evident."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from accessctl import audit
from accessctl.store.models import AuditEvent, Person

EVENTS = AuditEvent.__table__
Guard = Callable[[Connection], None]


def add_events(engine: Engine, count: int, start: datetime | None = None) -> None:
    start = start or datetime(2026, 1, 1, tzinfo=UTC)
    with Session(engine) as session:
        for i in range(count):
            audit.record(
                session,
                actor="admin@example.com",
                action="grant.revoke",
                target_type="grant",
                target_id=str(i),
                provider="okta",
                details={"reason": f"test {i}", "n": i},
                occurred_at=start + timedelta(minutes=i),
            )
        session.commit()


def verify(engine: Engine) -> audit.VerifyResult:
    with Session(engine) as session:
        return audit.verify(session)


def test_untouched_chain_verifies(engine: Engine) -> None:
    assert verify(engine) == audit.VerifyResult(True, 0)
    add_events(engine, 10)
    assert verify(engine) == audit.VerifyResult(True, 10)


def test_edited_row_is_named(engine: Engine, drop_audit_guard: Guard) -> None:
    add_events(engine, 10)
    with engine.begin() as conn:
        drop_audit_guard(conn)
        conn.execute(sa.update(EVENTS).where(EVENTS.c.seq == 4).values(actor="someone-else@example.com"))
    result = verify(engine)
    assert not result.ok
    assert result.bad_seq == 4
    assert "edited" in result.reason


def test_edited_details_are_caught(engine: Engine, drop_audit_guard: Guard) -> None:
    add_events(engine, 5)
    with engine.begin() as conn:
        drop_audit_guard(conn)
        conn.execute(sa.update(EVENTS).where(EVENTS.c.seq == 2).values(details={"reason": "nothing to see"}))
    assert verify(engine).bad_seq == 2


def test_deleted_middle_row_is_named(engine: Engine, drop_audit_guard: Guard) -> None:
    add_events(engine, 10)
    with engine.begin() as conn:
        drop_audit_guard(conn)
        conn.execute(sa.delete(EVENTS).where(EVENTS.c.seq == 6))
    result = verify(engine)
    assert (result.ok, result.bad_seq) == (False, 6)
    assert "missing" in result.reason


def test_deleted_last_rows_are_caught(engine: Engine, drop_audit_guard: Guard) -> None:
    add_events(engine, 10)
    with engine.begin() as conn:
        drop_audit_guard(conn)
        conn.execute(sa.delete(EVENTS).where(EVENTS.c.seq >= 9))
    result = verify(engine)
    assert (result.ok, result.bad_seq) == (False, 9)


def test_reordered_rows_are_caught(engine: Engine, drop_audit_guard: Guard) -> None:
    add_events(engine, 6)
    with engine.begin() as conn:
        drop_audit_guard(conn)
        rows = {r.seq: r for r in conn.execute(sa.select(EVENTS).where(EVENTS.c.seq.in_([3, 4])))}
        conn.execute(sa.delete(EVENTS).where(EVENTS.c.seq.in_([3, 4])))
        for new_seq, old in ((3, rows[4]), (4, rows[3])):
            conn.execute(sa.insert(EVENTS).values({**old._mapping, "seq": new_seq}))
    result = verify(engine)
    assert (result.ok, result.bad_seq) == (False, 3)


def test_event_rolls_back_with_the_change_it_records(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(Person(employee_id="E1", email="a@example.com"))
        audit.record(session, actor="cli", action="person.create", target_type="person", target_id="E1")
        session.rollback()
    with Session(engine) as session:
        assert session.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar() == 0
        assert session.execute(sa.select(sa.func.count()).select_from(Person)).scalar() == 0
    add_events(engine, 2)
    assert verify(engine) == audit.VerifyResult(True, 2)  # the chain continues from the genesis hash


def test_secret_looking_details_are_redacted(engine: Engine) -> None:
    with Session(engine) as session:
        audit.record(
            session, actor="cli", action="x", details={"api_token": "s3cr3t", "nested": {"password": "p"}}
        )
        session.commit()
    with Session(engine) as session:
        exported = audit.export_text(session, fmt="jsonl")
    assert "s3cr3t" not in exported and '"p"' not in exported
    assert json.loads(exported)["details"] == {
        "api_token": "[redacted]",
        "nested": {"password": "[redacted]"},
    }


def test_export_jsonl_and_csv_with_since(engine: Engine) -> None:
    add_events(engine, 5, start=datetime(2026, 3, 1, tzinfo=UTC))
    with Session(engine) as session:
        lines = audit.export_text(session, fmt="jsonl").splitlines()
        recent = audit.export_text(session, fmt="jsonl", since=datetime(2026, 3, 1, 0, 3, tzinfo=UTC))
        rows = list(csv.DictReader(io.StringIO(audit.export_text(session, fmt="csv"))))
    assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3, 4, 5]
    assert [json.loads(line)["seq"] for line in recent.splitlines()] == [4, 5]
    assert json.loads(lines[0])["occurred_at"] == "2026-03-01T00:00:00.000000Z"
    assert [r["seq"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert json.loads(rows[2]["details"]) == {"n": 2, "reason": "test 2"}
    with Session(engine) as session, pytest.raises(ValueError):
        audit.export_text(session, fmt="xml")


def test_the_database_refuses_to_edit_or_delete_audit_events(engine: Engine) -> None:
    """Append-only is enforced by the database (migration 0002), not only detected by verify."""
    add_events(engine, 3)
    attempts = [
        sa.update(EVENTS).where(EVENTS.c.seq == 2).values(outcome="failure"),
        sa.delete(EVENTS).where(EVENTS.c.seq == 3),
        sa.delete(EVENTS),
    ]
    for statement in attempts:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(statement)
    if engine.dialect.name == "postgresql":
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE audit_event"))
    with engine.connect() as conn:
        assert [r.outcome for r in conn.execute(sa.select(EVENTS).order_by(EVENTS.c.seq))] == ["success"] * 3
    assert verify(engine) == audit.VerifyResult(True, 3)
    add_events(engine, 1)  # appending still works
    assert verify(engine) == audit.VerifyResult(True, 4)


def _audit_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The ``accessctl.audit`` logger's lines so far."""
    return [r.getMessage() for r in caplog.records if r.name == "accessctl.audit"]


def test_audit_log_line_follows_the_commit_never_a_rollback(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="accessctl.audit")
    with Session(engine) as session:
        audit.record(session, actor="cli", action="person.create", target_type="person", target_id="E1")
        assert _audit_lines(caplog) == []  # not before the commit
        session.rollback()
        audit.record(session, actor="cli", action="person.create", target_type="person", target_id="E2")
    assert _audit_lines(caplog) == []  # rolled back, then closed without a commit
    with Session(engine) as session:
        audit.record(session, actor="cli", action="person.create", target_type="person", target_id="E3")
        session.commit()
    assert _audit_lines(caplog) == ["person.create person E3"]

    with pytest.raises(RuntimeError), engine.begin() as conn:
        audit.record(conn, actor="sync", action="grant.end", target_type="grant", target_id="G1")
        raise RuntimeError("the change failed")
    with engine.begin() as conn:
        audit.record(conn, actor="sync", action="grant.end", target_type="grant", target_id="G2")
        assert _audit_lines(caplog) == ["person.create person E3"]
    assert _audit_lines(caplog) == ["person.create person E3", "grant.end grant G2"]
    assert [r.audit["seq"] for r in caplog.records if r.name == "accessctl.audit"] == [1, 2]
    assert verify(engine) == audit.VerifyResult(True, 2)


def test_logged_after_holds_committed_lines_to_its_end_and_drops_rolled_back_ones(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="accessctl.audit")
    with audit.logged_after():
        with engine.begin() as conn:
            audit.record(conn, actor="hr", action="hr.event.received", target_type="person", target_id="E1")
        with pytest.raises(RuntimeError), engine.begin() as conn:
            audit.record(conn, actor="hr", action="hr.event.received", target_type="person", target_id="E2")
            raise RuntimeError("the group failed")
        with audit.logged_after(), engine.begin() as conn:  # nested: the outer block writes them
            audit.record(conn, actor="hr", action="job.created", target_type="job", target_id="J1")
        assert _audit_lines(caplog) == []  # committed, but held until the block ends
    assert _audit_lines(caplog) == ["hr.event.received person E1", "job.created job J1"]
    with engine.begin() as conn:  # after the block, lines follow each commit again
        audit.record(conn, actor="hr", action="hr.event.received", target_type="person", target_id="E3")
    assert _audit_lines(caplog)[-1] == "hr.event.received person E3"


def test_events_appended_together_chain_like_events_appended_one_by_one(engine: Engine) -> None:
    """record_many (a job's planned steps) appends each event in order, chained to the one before,
    between events appended one at a time; the chain verifies and the head follows the last."""
    add_events(engine, 2)
    entries = [
        audit.Entry(
            "worker:w1", "job.step.planned", "job_step", str(n), "okta", details={"n": n, "token": "x"}
        )
        for n in range(5)
    ]
    with Session(engine) as session:
        recorded = audit.record_many(session, entries)
        session.commit()
    add_events(engine, 1)
    assert [r.seq for r in recorded] == [3, 4, 5, 6, 7]
    assert verify(engine) == audit.VerifyResult(True, 8)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(EVENTS).where(EVENTS.c.seq.between(3, 7)).order_by(EVENTS.c.seq)).all()
    assert [r.target_id for r in rows] == ["0", "1", "2", "3", "4"]
    assert all(r.details["token"] == "[redacted]" for r in rows)
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    with Session(engine) as session:
        assert audit.record_many(session, []) == []


def test_details_are_stored_as_json_reads_them_and_the_chain_verifies(engine: Engine) -> None:
    """Details are encoded once, to the text stored and hashed: keys JSON writes as strings, values
    it has no type for, tuples, non-ASCII text and a nested secret all read back as a JSON round trip
    of the redacted details gives them, and verify() (which hashes what it reads) agrees."""
    when = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)
    odd = {
        "z": 1,
        10: "ten",
        9: "nine",
        True: "yes",
        None: "none",
        1.5: "one and a half",
        "when": when,
        "pair": ("a", 2),
        "naïve": "ünïcödé ✓",
        "nested": [{"client_secret": "hide me", "ok": [1, 2.25, None, False]}],
        "big": 10**30,
    }
    with Session(engine) as session:
        audit.record(session, actor="cli", action="odd", details=odd, occurred_at=when)
        audit.record(session, actor="cli", action="empty", details=None, occurred_at=when)
        session.commit()
    assert verify(engine) == audit.VerifyResult(True, 2)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(EVENTS.c.details).order_by(EVENTS.c.seq)).scalars().all()
    assert stored == [json.loads(json.dumps(audit.redact(odd), default=str)), {}]
    assert stored[0]["nested"][0]["client_secret"] == "[redacted]"
    assert stored[0]["when"] == str(when) and stored[0]["10"] == "ten" and stored[0]["true"] == "yes"


def test_a_key_json_cannot_write_is_refused_and_nothing_is_stored(engine: Engine) -> None:
    with Session(engine) as session, pytest.raises(TypeError, match="keys must be"):
        audit.record(session, actor="cli", action="bad", details={("a", "b"): 1})
    assert verify(engine) == audit.VerifyResult(True, 0)
