"""Identity correlation: employee id, then email, then aliases; conflicts reported, never guessed."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.store.models import Account, Person
from accessctl.sync.correlate import correlate, decide
from accessctl.sync.patterns import PatternSet

PEOPLE = {"E1": 1, "E2": 2}
EMAILS = {"ann@example.com": {1}, "bob@example.com": {2}, "dup@example.com": {1, 2}}
NAMES = {1: "E1 <ann@example.com>", 2: "E2 <bob@example.com>"}


def link(employee_id: str | None = None, emails: list[str] = (), aliases: list[str] = ()):  # type: ignore[assignment]
    return decide(
        employee_id=employee_id,
        emails=list(emails),
        aliases=list(aliases),
        by_employee_id=PEOPLE,
        by_email=EMAILS,
        names=NAMES,
    )


def test_employee_id_wins_and_agrees_with_email() -> None:
    assert (link("E1", ["ann@example.com"]).person_id, link("E1").method) == (1, "employee_id")


def test_email_then_alias() -> None:
    assert (link(None, ["bob@example.com"]).person_id, link(None, ["bob@example.com"]).method) == (2, "email")
    by_alias = link(None, ["b.smith@example.com"], ["bob@example.com"])
    assert (by_alias.person_id, by_alias.method) == (2, "alias")


def test_disagreement_is_a_conflict_not_a_guess() -> None:
    result = link("E1", ["bob@example.com"])
    assert (result.person_id, result.method) == (None, "conflict")
    assert "E2" in result.note and "E1" in result.note


def test_email_and_alias_naming_different_people_is_a_conflict() -> None:
    result = link(None, ["ann@example.com"], ["bob@example.com"])
    assert (result.person_id, result.method) == (None, "conflict")
    assert "E1 <ann@example.com>" in result.note and "E2 <bob@example.com>" in result.note
    # an alias of the same person is no conflict
    assert link(None, ["ann@example.com"], ["ann@example.com"]).person_id == 1


def test_alias_of_someone_else_conflicts_with_the_employee_id() -> None:
    result = link("E1", ["ann@example.com"], ["bob@example.com"])
    assert (result.person_id, result.method) == (None, "conflict")
    assert "E2" in result.note


def test_two_people_claiming_one_account_is_a_conflict() -> None:
    result = link(None, ["dup@example.com"])
    assert (result.person_id, result.method) == (None, "conflict")


def test_no_match_is_no_link() -> None:
    assert link("E9", ["zed@example.com"], ["z@example.com"]).method is None


def test_correlate_links_flags_and_reports(engine: Engine) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Person.__table__),
            [
                {"employee_id": "E1", "email": "ann@example.com", "updated_at": now},
                {"employee_id": "E2", "email": "bob@example.com", "updated_at": now},
            ],
        )
        base = {
            "provider": "okta",
            "status": "active",
            "mfa_methods": [],
            "display_name": "",
            "employee_id": None,
        }
        conn.execute(
            sa.insert(Account.__table__),
            [
                {**base, "external_id": "1", "login": "ann@example.com", "aliases": [], "employee_id": "E1"},
                {**base, "external_id": "2", "login": "robert@example.com", "aliases": ["bob@example.com"]},
                {**base, "external_id": "3", "login": "it-admin@example.com", "aliases": []},
                {**base, "external_id": "4", "login": "ghost@example.com", "aliases": []},
                {**base, "external_id": "5", "login": "bob@example.com", "aliases": [], "employee_id": "E1"},
                {**base, "external_id": "6", "login": "break-glass@example.com", "aliases": []},
                {**base, "external_id": "7", "login": "ann@example.com", "aliases": ["bob@example.com"]},
            ],
        )
        report = correlate(
            conn,
            shared_patterns=PatternSet(["it-admin@*"]),
            protected_patterns=PatternSet(["break-glass@*"]),
        )
        rows = {
            r.external_id: r
            for r in conn.execute(sa.select(Account.__table__).order_by(Account.__table__.c.external_id))
        }
    assert dict(report.linked) == {"employee_id": 1, "alias": 1}
    assert {c.login: c.reason for c in report.conflicts} == {
        "bob@example.com": "employee id E1 is E1 <ann@example.com> but email belongs to E2 <bob@example.com>",
        "ann@example.com": "the email is E1 <ann@example.com> but an alias belongs to E2 <bob@example.com>",
    }
    assert report.orphans == 2  # ghost@ and break-glass@ (protected, but nobody's)
    assert rows["3"].is_shared and rows["3"].person_id is None
    assert rows["6"].protected
    assert rows["5"].link_method == "conflict" and rows["5"].person_id is None
    with engine.begin() as conn:
        again = correlate(
            conn, shared_patterns=PatternSet(["it-admin@*"]), protected_patterns=PatternSet(["break-glass@*"])
        )
    assert again.changed == 0  # nothing to rewrite the second time

    # scoped to the accounts a sync wrote since a moment: the others are not re-decided, the
    # report still covers every live account
    later = datetime.now(UTC)
    accounts, people = Account.__table__, Person.__table__
    with engine.begin() as conn:
        for external_id, seen in (("4", later), ("2", now)):
            conn.execute(
                accounts.update()
                .where(accounts.c.external_id == external_id)
                .values(aliases=["ann@example.com"], last_seen_at=seen)
            )
        scoped = correlate(
            conn,
            shared_patterns=PatternSet(["it-admin@*"]),
            protected_patterns=PatternSet(["break-glass@*"]),
            seen_since=later,
        )
        links = {
            r.external_id: (r.link_method, r.person_email)
            for r in conn.execute(
                sa.select(
                    accounts.c.external_id, accounts.c.link_method, people.c.email.label("person_email")
                ).select_from(accounts.outerjoin(people, people.c.id == accounts.c.person_id))
            )
        }
    assert scoped.changed == 1 and links["4"] == ("alias", "ann@example.com")  # ghost@ has Ann's alias now
    # not written since: left as it was, Bob's (its new alias is not read)
    assert links["2"] == ("alias", "bob@example.com")
    assert dict(scoped.linked) == {"employee_id": 1, "alias": 2} and scoped.orphans == 1
    assert len(scoped.conflicts) == 2
