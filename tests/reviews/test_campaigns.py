"""Starting a campaign snapshots the scope's grants with their reviewer and recommendations; decisions,
reassignment, delta_only and the close preview (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.reviews import decide as decisions
from accessctl.reviews.campaigns import ITEMS, campaign_detail, plan_close, start_campaign
from accessctl.reviews.errors import JustificationRequired, NotYourItem, SelfReview
from accessctl.settings import CampaignScope, CampaignSettings
from tests.reviews.org import NOW, A, Org, seed


def _settings(**kw: Any) -> CampaignSettings:
    return CampaignSettings(name="q1", owner="owner@example.com", **kw)


def _items(conn: Any, campaign_id: int) -> dict[tuple[str, str], Any]:
    rows = conn.execute(sa.select(ITEMS).where(ITEMS.c.campaign_id == campaign_id)).all()
    return {(r.snapshot["login"], r.snapshot["entitlement"]): r for r in rows}


def _codes(item: Any) -> set[str]:
    return {r["code"] for r in item.recommendations}


def test_start_snapshots_every_grant_with_its_reviewer_and_why(engine: Engine) -> None:
    with engine.begin() as conn:
        seed(conn)
        result = start_campaign(conn, _settings(), actor="cli", now=NOW)
        items = _items(conn, result.campaign_id)
    assert len(items) == 8
    reviewer = {key: (i.reviewer_email, i.reviewer_reason) for key, i in items.items()}
    assert reviewer[("ann@example.com", "Admins")] == ("mia@example.com", "manager (HR)")
    assert reviewer[("mia@example.com", "Engineering")] == ("vp@example.com", "manager (HR)")
    # orphan and shared accounts go to the entitlement owner
    assert reviewer[("ghost@example.com", "Payroll")] == (
        "ceo@example.com",
        "entitlement owner: orphan account (no person linked)",
    )
    assert reviewer[("shared-ops@example.com", "Admins")] == (
        "vp@example.com",
        "entitlement owner: shared account",
    )
    snap = items[("ann@example.com", "Admins")].snapshot
    assert snap["mfa_state"] == "NOT_ENROLLED" and snap["privileged"] and snap["person"] == "ANN Test"
    with engine.connect() as conn:
        detail = campaign_detail(conn, result.campaign_id)
    assert {r.email: (r.items, r.flagged) for r in detail.reviewers} == {
        "mia@example.com": (4, 2),  # Ann's Admins (no MFA) and Left's (terminated) are flagged
        "vp@example.com": (3, 1),  # Mia's two and the shared account's Admins
        "ceo@example.com": (1, 1),
    }
    assert detail.due_at == NOW + timedelta(days=14)


def test_the_stored_items_read_back_as_planned(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The items are written as JSON text made once per account and entitlement, several rows to an
    INSERT: read back, each is its grant's snapshot, recommendations and reviewer as planned."""
    from accessctl.reviews import campaigns

    monkeypatch.setattr(campaigns, "ROWS_PER_INSERT", 3)  # 8 items: two INSERTs of 3, then 2 rows
    with engine.begin() as conn:
        seed(conn)
        result = start_campaign(conn, _settings(), actor="t", now=NOW, keep_items=True)
        query = sa.select(ITEMS).where(ITEMS.c.campaign_id == result.campaign_id)
        stored = {r.grant_id: r for r in conn.execute(query)}
    assert len(result.items) == len(stored) == 8
    for item in result.items:
        row = stored[item.row.grant_id]
        assert row.snapshot == {**item.row.snapshot(), "fingerprint": item.row.fingerprint()}
        assert row.recommendations == [r.as_dict() for r in item.recommendations]
        assert (row.reviewer_email, row.reviewer_reason, row.flagged, row.privileged) == (
            item.reviewer.email,
            item.reviewer.reason,
            item.flagged,
            item.row.privileged,
        )


def test_dry_run_writes_nothing(engine: Engine) -> None:
    with engine.begin() as conn:
        seed(conn)
        result = start_campaign(conn, _settings(), actor="cli", now=NOW, dry_run=True)
        assert result.campaign_id is None and len(result.items) == 8
        assert conn.execute(sa.select(sa.func.count()).select_from(ITEMS)).scalar_one() == 0


def test_scope_filters(engine: Engine) -> None:
    with engine.begin() as conn:
        org = seed(conn)
        org.entitlement("AWS-prod", provider="entra", privileged=True)
        org.account("ann@corp.example", person="ANN", provider="entra")
        org.grant("ann@corp.example", "AWS-prod")

        def logins(**scope: Any) -> set[tuple[str, str]]:
            planned = start_campaign(
                conn, _settings(scope=CampaignScope(**scope)), actor="t", now=NOW, dry_run=True
            )
            return {(i.row.login, i.row.entitlement_name) for i in planned.items}

        assert logins(privileged_only=True) == {
            ("ann@example.com", "Admins"),
            ("mia@example.com", "Admins"),
            ("shared-ops@example.com", "Admins"),
            ("ann@corp.example", "AWS-prod"),
        }
        assert logins(providers=["entra"]) == {("ann@corp.example", "AWS-prod")}
        assert logins(entitlements=["Pay*", "AWS*"]) == {
            ("ghost@example.com", "Payroll"),
            ("ann@corp.example", "AWS-prod"),
        }
        assert logins(accounts=["b*"]) == {("bob@example.com", "Engineering")}
        assert logins(departments=["Exec"]) == set()
        assert ("shared-ops@example.com", "Admins") not in logins(include_shared=False)
        # an ended grant is not reviewed
        conn.execute(sa.update(A).where(A.c.login == "bob@example.com").values(status="deprovisioned"))
        assert logins(accounts=["b*"]) == set()


def test_reviewer_self_review_manager_has_left_and_fallback(engine: Engine) -> None:
    with engine.begin() as conn:
        org = Org(conn)
        org.person("BOSS", department="Exec")
        org.person("GONE", manager="BOSS", status="terminated")
        org.person("DEV", manager="GONE")
        org.person("LONE", department="Ops")  # nobody above, and is the fallback reviewer
        org.person("OWNR", manager="BOSS", department="Ops")
        org.entitlement("Ops", owner="ownr@example.com")
        for eid in ("DEV", "LONE", "BOSS"):
            org.account(f"{eid.lower()}@example.com", person=eid)
            org.grant(f"{eid.lower()}@example.com", "Ops")
        # a shared account linked to its entitlement's owner: not theirs to review
        org.account("ops-bot@example.com", person="OWNR", is_shared=True)
        org.grant("ops-bot@example.com", "Ops")
        # the provider's manager attribute when HR knows no manager
        org.person("NOHR", department="Ops")
        org.account("nohr@example.com", person="NOHR", manager_external_id="x-dev@example.com")
        org.grant("nohr@example.com", "Ops")
        settings = _settings(fallback_reviewer="lone@example.com")
        items = {
            i.row.login: i.reviewer
            for i in start_campaign(conn, settings, actor="t", now=NOW, dry_run=True).items
        }
    assert (items["dev@example.com"].email, items["dev@example.com"].reason) == (
        "boss@example.com",
        "manager has left: manager (HR)",
    )
    # LONE has no manager and is the fallback: their own access goes to the campaign owner
    assert (items["lone@example.com"].email, items["lone@example.com"].reason) == (
        "owner@example.com",
        "campaign owner: no manager known",
    )
    assert items["boss@example.com"].email == "lone@example.com"
    assert items["ops-bot@example.com"].email == "lone@example.com"  # owner is the account's person
    assert (items["nohr@example.com"].email, items["nohr@example.com"].reason) == (
        "dev@example.com",
        "manager (okta)",
    )


def test_each_recommendation_with_its_reason(engine: Engine) -> None:
    with engine.begin() as conn:
        org = seed(conn)
        conn.execute(
            sa.update(A).where(A.c.login == "bob@example.com").values(last_login_at=NOW - timedelta(days=120))
        )
        # 10 people in Sales, one holds "Finance": held by few peers
        for n in range(10):
            org.person(f"S{n}", manager="MIA", department="Sales")
            org.account(f"s{n}@example.com", person=f"S{n}")
        org.entitlement("Finance")
        org.grant("s0@example.com", "Finance")
        items = {
            (i.row.login, i.row.entitlement_name): i
            for i in start_campaign(conn, _settings(), actor="t", now=NOW, dry_run=True).items
        }
    reasons = {key: {r.code: r.reason for r in i.recommendations} for key, i in items.items()}
    ann = reasons[("ann@example.com", "Admins")]
    assert ann["no_mfa"] == "no MFA enrolled on an account holding privileged access"
    assert ann["privileged"] == "privileged access"
    assert reasons[("bob@example.com", "Engineering")]["inactive"] == "no sign-in for 120 days"
    assert (
        reasons[("left@example.com", "Engineering")]["terminated"]
        == "LEFT Test is terminated in HR (since 2026-12-01)"
    )
    assert "orphan" in reasons[("ghost@example.com", "Payroll")]
    assert "shared" in reasons[("shared-ops@example.com", "Admins")]
    assert reasons[("s0@example.com", "Finance")]["rare"] == "held by 1 of 10 people in Sales"
    assert reasons[("mia@example.com", "Engineering")] == {}  # nothing to say
    assert items[("mia@example.com", "Admins")].flagged is False  # privileged alone only informs
    assert items[("ann@example.com", "Admins")].flagged is True


def test_granted_since_the_last_review_and_delta_only(engine: Engine) -> None:
    with engine.begin() as conn:
        org = seed(conn)
        first = start_campaign(conn, _settings(), actor="t", now=NOW)
        for key, item in _items(conn, first.campaign_id).items():
            if key != ("bob@example.com", "Engineering"):
                conn.execute(sa.update(ITEMS).where(ITEMS.c.id == item.id).values(decision="keep"))
        conn.execute(sa.text("UPDATE campaign SET status = 'closed', closed_at = :t"), {"t": NOW})
        later = NOW + timedelta(days=90)
        org.grant("bob@example.com", "Payroll", first_seen=NOW + timedelta(days=10))
        full = {
            (i.row.login, i.row.entitlement_name): i
            for i in start_campaign(conn, _settings(), actor="t", now=later, dry_run=True).items
        }
        assert {r.code for r in full[("bob@example.com", "Payroll")].recommendations} >= {"new"}
        assert "new" not in {r.code for r in full[("ann@example.com", "Admins")].recommendations}
        delta = start_campaign(conn, _settings(delta_only=True), actor="t", now=later, dry_run=True)
    # kept items that did not change are left out; the undecided one and the new grant are in
    assert {(i.row.login, i.row.entitlement_name) for i in delta.items} == {
        ("bob@example.com", "Engineering"),
        ("bob@example.com", "Payroll"),
    }
    assert delta.skipped_certified == 7


def test_decisions_justification_self_review_and_reassignment(engine: Engine) -> None:
    with engine.begin() as conn:
        seed(conn)
        cid = start_campaign(conn, _settings(), actor="t", now=NOW).campaign_id
        items = _items(conn, cid)
        ann_admin = items[("ann@example.com", "Admins")].id
        bob_eng = items[("bob@example.com", "Engineering")].id
        with pytest.raises(JustificationRequired, match="no MFA enrolled"):
            decisions.decide(
                conn, item_id=ann_admin, reviewer_email="mia@example.com", decision="keep", now=NOW
            )
        with pytest.raises(NotYourItem):
            decisions.decide(
                conn, item_id=ann_admin, reviewer_email="vp@example.com", decision="revoke", now=NOW
            )
        decisions.decide(
            conn,
            item_id=ann_admin,
            reviewer_email="mia@example.com",
            decision="keep",
            justification="on-call admin, MFA enrolment booked",
            now=NOW,
            ip="10.0.0.1",
            user_agent="pytest",
        )
        decisions.decide(conn, item_id=bob_eng, reviewer_email="mia@example.com", decision="revoke", now=NOW)
        with pytest.raises(SelfReview):
            decisions.reassign(
                conn, item_id=bob_eng, reviewer_email="mia@example.com", to_email="bob@example.com", now=NOW
            )
        decisions.reassign(
            conn, item_id=bob_eng, reviewer_email="mia@example.com", to_email="VP@example.com", now=NOW
        )
        row = conn.execute(sa.select(ITEMS).where(ITEMS.c.id == bob_eng)).one()
        assert (row.reviewer_email, row.reassigned_from, row.decision) == (
            "vp@example.com",
            "mia@example.com",
            None,
        )
        kept = conn.execute(sa.select(ITEMS).where(ITEMS.c.id == ann_admin)).one()
        assert (kept.decision, kept.decided_by, kept.justification) == (
            "keep",
            "mia@example.com",
            "on-call admin, MFA enrolment booked",
        )
        events = conn.execute(sa.text("SELECT action, actor, details FROM audit_event ORDER BY seq")).all()
    actions = [(e.action, e.actor) for e in events]
    assert ("review.decide", "mia@example.com") in actions and (
        "review.reassign",
        "mia@example.com",
    ) in actions
    decided = next(e for e in events if e.action == "review.decide")
    details = (
        decided.details if isinstance(decided.details, dict) else __import__("json").loads(decided.details)
    )
    assert details["ip"] == "10.0.0.1" and details["decision"] == "keep"


@pytest.mark.parametrize("policy", ["keep", "revoke", "escalate"])
def test_close_preview_applies_the_undecided_policy(engine: Engine, policy: str) -> None:
    with engine.begin() as conn:
        seed(conn)
        cid = start_campaign(conn, _settings(undecided=policy), actor="t", now=NOW).campaign_id
        items = _items(conn, cid)
        decisions.decide(
            conn,
            item_id=items[("bob@example.com", "Engineering")].id,
            reviewer_email="mia@example.com",
            decision="revoke",
            now=NOW,
        )
        plan = plan_close(conn, cid)
    revoked = {(a.login, a.entitlement): a.why for a in plan.of("revoke")}
    assert revoked[("bob@example.com", "Engineering")] == "decided by mia@example.com"
    undecided = [a for a in plan.actions if a.why.startswith("undecided")]
    assert len(undecided) == 7 and {a.action for a in undecided} == {policy}
    if policy == "escalate":
        to = {a.login: a.escalate_to for a in undecided}
        assert to["ann@example.com"] == "vp@example.com"  # Mia's manager


def test_reviewer_page_items_and_keep_all_unflagged(engine: Engine) -> None:
    from accessctl.reviews.campaigns import items_for_reviewer

    with engine.begin() as conn:
        seed(conn)
        cid = start_campaign(conn, _settings(), actor="t", now=NOW).campaign_id
        assert cid is not None
        kept = decisions.keep_unflagged(conn, campaign_id=cid, reviewer_email="mia@example.com", now=NOW)
        views = items_for_reviewer(conn, cid, "mia@example.com")
    assert kept == 2  # Ann's and Bob's Engineering; Ann's Admins and Left's access stay open
    assert [(v.person, v.entitlement, v.decision) for v in views] == [
        ("ANN Test", "Admins", None),
        ("ANN Test", "Engineering", "keep"),
        ("BOB Test", "Engineering", "keep"),
        ("LEFT Test", "Engineering", None),
    ]
    assert views[0].needs_justification_to_keep and not views[1].needs_justification_to_keep
