"""Prepared statements (accessctl/store/prepared.py) give what Connection.execute gives: the same
rows with the same Python values, the same values stored, the same errors, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from accessctl.store.engine import make_engine
from accessctl.store.prepared import Prepared

META = sa.MetaData()
THINGS = sa.Table(
    "prepared_thing",
    META,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(50), nullable=False, unique=True),
    sa.Column("seen_at", sa.DateTime(timezone=True)),
    sa.Column("day", sa.Date),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("kind", sa.String(20), nullable=False),
)
_B = sa.bindparam
_INSERT = Prepared(sa.insert(THINGS).returning(THINGS.c.id, THINGS.c.active))
_BY_KIND = Prepared(
    sa.select(THINGS.c.id, THINGS.c.name, THINGS.c.seen_at, THINGS.c.day, THINGS.c.active.label("on"))
    .where(THINGS.c.kind == _B("b_kind"), THINGS.c.name != "skip-me")
    .order_by(THINGS.c.id)
)
_RENAME = Prepared(
    THINGS.update().where(THINGS.c.kind == _B("b_kind")).values(name=_B("b_name"), active=False)
)


@pytest.fixture
def engine(db_url: str) -> Iterator[sa.Engine]:
    eng = make_engine(db_url)
    META.create_all(eng)
    yield eng
    eng.dispose()


SEEN = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC)


def test_rows_and_values_match_sqlalchemy(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        first = _INSERT.first(conn, {"name": "a", "seen_at": SEEN, "day": date(2026, 2, 28), "kind": "k"})
        assert first is not None and first.active is True  # the column's scalar default, as stored
        conn.execute(sa.insert(THINGS), {"name": "b", "active": False, "kind": "k"})
        conn.execute(sa.insert(THINGS), {"name": "skip-me", "kind": "k"})
        ours = _BY_KIND.rows(conn, {"b_kind": "k"})
        theirs = conn.execute(_BY_KIND.statement, {"b_kind": "k"}).all()
    assert [tuple(r) for r in ours] == [tuple(r) for r in theirs]
    assert [r.name for r in ours] == ["a", "b"]
    assert ours[0].day == date(2026, 2, 28) and ours[0].on is True and ours[1].on is False
    assert ours[0]._mapping["id"] == first.id
    assert ours[0].seen_at.replace(tzinfo=UTC) == SEEN


def test_run_counts_rows_and_applies_constants(engine: sa.Engine) -> None:
    kinds = ["k", "k", "k", "other", "solo"]
    with engine.begin() as conn:
        _INSERT.run_many(conn, [{"name": f"n{i}", "kind": kind} for i, kind in enumerate(kinds)])
    with engine.begin() as conn:
        assert _RENAME.run(conn, {"b_kind": "nobody", "b_name": "x"}) == 0
        assert _RENAME.run(conn, {"b_kind": "solo", "b_name": "renamed"}) == 1
    with engine.connect() as conn:
        rows = conn.execute(sa.select(THINGS.c.name, THINGS.c.active).order_by(THINGS.c.id)).all()
    # the update's constant (active=False) applied; the insert's default (True) on the others
    assert [tuple(r) for r in rows] == [
        ("n0", True),
        ("n1", True),
        ("n2", True),
        ("n3", True),
        ("renamed", False),
    ]


def test_a_driver_error_is_sqlalchemys_and_the_transaction_rolls_back(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        _INSERT.run(conn, {"name": "dup", "kind": "k"})
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        _INSERT.run(conn, {"name": "new", "kind": "k"})
        _INSERT.run(conn, {"name": "dup", "kind": "k"})
    with engine.connect() as conn:
        names = conn.execute(sa.select(THINGS.c.name)).scalars().all()
    assert names == ["dup"]


def test_a_missing_value_is_refused_before_the_database(engine: sa.Engine) -> None:
    with engine.begin() as conn, pytest.raises(KeyError, match="b_kind"):
        _BY_KIND.rows(conn, {})


def test_a_session_runs_it_in_its_own_transaction(engine: sa.Engine) -> None:
    with Session(engine) as session:
        _INSERT.run(session, {"name": "in-session", "kind": "s"})
        assert [r.name for r in _BY_KIND.rows(session, {"b_kind": "s"})] == ["in-session"]
        session.rollback()
    with engine.connect() as conn:
        assert _BY_KIND.rows(conn, {"b_kind": "s"}) == []


def test_the_same_instant_bound_again_and_others_between_are_stored_as_given(engine: sa.Engine) -> None:
    """A datetime's processor remembers its last answer: the same object bound again, a different
    one, an equal one in another zone, and no value at all are each stored as SQLAlchemy stores them."""
    from datetime import timedelta, timezone

    later = SEEN + timedelta(microseconds=1)
    elsewhere = SEEN.astimezone(timezone(timedelta(hours=5, minutes=30)))
    sequence = [SEEN, SEEN, later, SEEN, None, None, elsewhere, later, later]
    with engine.begin() as conn:
        for n, seen in enumerate(sequence):
            _INSERT.first(conn, {"name": f"t{n}", "seen_at": seen, "day": None, "kind": "memo"})
        ours = [r.seen_at for r in _BY_KIND.rows(conn, {"b_kind": "memo"})]
        conn.execute(
            sa.insert(THINGS), [{"name": f"s{n}", "seen_at": s, "kind": "sa"} for n, s in enumerate(sequence)]
        )
        theirs = [r.seen_at for r in conn.execute(_BY_KIND.statement, {"b_kind": "sa"})]
    assert ours == theirs
    assert [v is None for v in ours] == [s is None for s in sequence]
    assert ours[2] != ours[1]  # a microsecond later is not the remembered answer
