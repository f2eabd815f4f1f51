"""Closing a campaign for real, against the emulators: each revoke becomes a deprovisioning job whose
grant is gone when read back through the provider's API; the undecided policy each way; protected
accounts and the last super-admin skipped with the reason; the guard's quarantine; a second close
queues nothing; the dry run says what the close then does (SQLite, and PostgreSQL for the store)."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import re
from typing import Any

import pytest
import sqlalchemy as sa

from accessctl.jobs import get_job
from accessctl.jobs.tables import JOBS
from accessctl.lifecycle import release
from accessctl.lifecycle.connections import open_connectors
from accessctl.reviews.campaigns import get_campaign
from accessctl.reviews.close import AlreadyClosed
from accessctl.reviews.remediate import record_outcomes
from accessctl.sync.service import run_sync
from tests.lifecycle.conftest import World
from tests.reviews.closing import (
    close,
    decide,
    items,
    live_grants,
    plain_items,
    run_jobs,
    start,
    target,
)
from tests.reviews.smtp_server import Inbox

pytestmark = pytest.mark.timeout(180)
#: a log line (stderr), not the command's output
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d ")


def _job_count(world: World) -> int:
    with world.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(JOBS)).scalar_one()


def _revoke_two_and_close(world: World) -> None:
    cid = start(world, providers=["okta"], kinds=["group"], include_inherited=False)
    chosen = plain_items(world, cid)[:2]
    assert len(chosen) == 2
    for item in chosen:
        decide(world, item, "revoke")
    for provider, account, grant in map(lambda i: target(world, i), chosen):
        assert grant in live_grants(world, provider, account)  # held before

    preview = close(world, cid, dry_run=True)
    assert {i: r.does for i, r in preview.revokes.items()} == {
        i.id: "remove grant, read back" for i in chosen
    }
    assert _job_count(world) == 0 and get_campaign_status(world, cid) == "open"

    result = close(world, cid)
    assert set(result.jobs) == {i.id for i in chosen}  # exactly what the dry run said
    run_jobs(world, result)
    outcomes = record_outcomes(world.engine, cid)
    assert outcomes == {i.id: "revoked, verified" for i in chosen}
    for item in chosen:
        provider, account, grant = target(world, item)
        assert grant not in live_grants(world, provider, account)  # gone, read back
    after = {i.id: i for i in items(world, cid)}
    assert all(after[i.id].job_id == result.jobs[i.id] for i in chosen)
    assert {after[i].status for i in after if i not in result.jobs} == {"kept"}
    assert get_campaign_status(world, cid) == "closed"

    jobs = _job_count(world)
    with pytest.raises(AlreadyClosed):
        close(world, cid)
    assert _job_count(world) == jobs  # nothing queued twice


def get_campaign_status(world: World, cid: int) -> str:
    with world.engine.connect() as conn:
        return get_campaign(conn, cid).status


def test_revoke_decisions_become_jobs_and_the_grants_are_gone_when_read_back(world: World) -> None:
    _revoke_two_and_close(world)


@pytest.mark.postgres
def test_revoke_decisions_on_postgresql(pg_world: World) -> None:
    _revoke_two_and_close(pg_world)


def test_undecided_revoke_policy_queues_a_job_per_undecided_item(world: World) -> None:
    survey = start(world, providers=["okta"], kinds=["group"], include_inherited=False)
    login = plain_items(world, survey)[0].snapshot["login"]
    cid = start(world, undecided="revoke", providers=["okta"], accounts=[login], include_inherited=False)
    plain = [i.id for i in plain_items(world, cid)]
    assert len(plain) >= 2, plain
    kept = plain[0]
    decide(world, items(world, cid)[[i.id for i in items(world, cid)].index(kept)], "keep")
    result = close(world, cid)
    undecided = {i.id for i in items(world, cid)} - {kept}
    assert {a.item_id for a in result.plan.of("revoke")} == undecided
    after = {i.id: i for i in items(world, cid)}
    assert after[kept].status == "kept" and after[kept].job_id is None
    for item_id in undecided:
        row = after[item_id]
        assert row.decision == "revoke" and row.decided_via == "policy", row
        if item_id in plain:
            assert row.job_id is not None and row.status == "revoke queued", row
    with world.engine.connect() as conn:
        assert get_job(conn, after[plain[1]].job_id).state == "pending"  # queued, not yet run
    run_jobs(world, result)
    outcomes = record_outcomes(world.engine, cid)
    assert all(outcomes[i] == "revoked, verified" for i in plain[1:]), outcomes


def test_undecided_keep_policy_keeps_and_queues_nothing(world: World) -> None:
    cid = start(world, undecided="keep", providers=["okta"], kinds=["group"])
    result = close(world, cid)
    assert not result.jobs and _job_count(world) == 0
    assert {i.status for i in items(world, cid)} == {"kept"}
    assert {i.decided_via for i in items(world, cid)} == {"policy"}


def test_undecided_escalate_policy_reassigns_extends_then_keeps(world: World) -> None:
    cid = start(world, undecided="escalate", providers=["okta"], kinds=["group"], include_inherited=False)
    before = {i.id: i for i in items(world, cid)}
    with world.engine.connect() as conn:
        due = get_campaign(conn, cid).due_at
    result = close(world, cid)
    assert not result.closes and get_campaign_status(world, cid) == "open"
    escalated = {a.item_id: a.escalate_to for a in result.plan.of("escalate")}
    assert escalated
    after = {i.id: i for i in items(world, cid)}
    moved = [i for i in escalated if after[i].reviewer_email != before[i].reviewer_email]
    assert moved and all(after[i].reviewer_email == escalated[i] for i in moved)
    assert all(after[i].reassigned_from == before[i].reviewer_email for i in moved)
    with world.engine.connect() as conn:
        assert get_campaign(conn, cid).due_at > due

    second = close(world, cid)  # still undecided after the escalation: kept, and the campaign closes
    assert second.closes and not second.plan.of("escalate")
    assert all(
        a.why == "undecided after escalation: kept" for a in second.plan.of("keep") if a.item_id in moved
    )
    assert get_campaign_status(world, cid) == "closed"


def test_a_protected_account_is_skipped_with_the_reason(world: World) -> None:
    cid = start(world, providers=["okta"], kinds=["group"], include_inherited=False)
    item = plain_items(world, cid)[0]
    world.reload(protected=[item.snapshot["login"]])
    decide(world, item, "revoke")
    preview = close(world, cid, dry_run=True)
    assert preview.revokes[item.id].does == "skipped: protected"
    result = close(world, cid)
    run_jobs(world, result)
    assert record_outcomes(world.engine, cid)[item.id] == "skipped: protected"
    provider, account, grant = target(world, item)
    assert grant in live_grants(world, provider, account)  # untouched


def test_the_last_super_admin_keeps_the_role(world: World) -> None:
    async def suspend_the_shared_admin() -> None:  # the other super-admin, suspended by hand
        async with open_connectors(world.settings, ["okta"]) as connectors:
            record = await connectors["okta"].find_account(email="it-admin@example.com")
            await connectors["okta"].suspend_account(record.external_id)

    asyncio.run(suspend_the_shared_admin())
    run_sync(world.settings, world.engine, full=True, actor="test")
    cid = start(world, providers=["okta"], kinds=["role"], accounts=["anna.petrov@*"])
    admin = [i for i in items(world, cid) if i.snapshot["entitlement"] == "Super Administrator"]
    assert admin, [i.snapshot["entitlement"] for i in items(world, cid)]
    decide(world, admin[0], "revoke")
    result = close(world, cid)
    assert result.revokes[admin[0].id].does == "skipped: refused: last active SUPER_ADMIN of okta"
    run_jobs(world, result)
    assert record_outcomes(world.engine, cid)[admin[0].id] == "skipped: last super-admin"
    provider, account, grant = target(world, admin[0])
    assert grant in live_grants(world, provider, account)


def test_a_close_over_the_guard_waits_in_quarantine_until_released(world: World) -> None:
    world.reload(guard={"max_campaign_revokes": 1})
    cid = start(world, providers=["okta"], kinds=["group"], include_inherited=False)
    chosen = plain_items(world, cid)[:2]
    for item in chosen:
        decide(world, item, "revoke")
    preview = close(world, cid, dry_run=True)
    assert preview.quarantine_reason == "2 revocations, more than lifecycle.guard.max_campaign_revokes = 1"
    result = close(world, cid)
    with world.engine.connect() as conn:
        assert {get_job(conn, j).state for j in result.jobs.values()} == {"quarantined"}
    assert set(record_outcomes(world.engine, cid).values()) == {"quarantined"}
    first = result.jobs[chosen[0].id]
    release(world.settings, world.engine, first, by="admin:bob")
    run_jobs(world, result)  # the released one runs; the other still waits
    outcomes = record_outcomes(world.engine, cid)
    assert outcomes == {chosen[0].id: "revoked, verified", chosen[1].id: "quarantined"}
    provider, account, grant = target(world, chosen[1])
    assert grant in live_grants(world, provider, account)


def test_the_cli_close_runs_the_jobs_shows_outcomes_and_sends_the_summary(
    world: World, world_inbox: Inbox
) -> None:
    from typer.testing import CliRunner

    from accessctl.cli import app

    def raw(*args: str) -> Any:  # data, not a terminal's output
        return CliRunner().invoke(app, ["--config", str(world.config_path), *args])

    def cli(*args: str) -> Any:
        result = CliRunner().invoke(app, ["--config", str(world.config_path), *args], env={"COLUMNS": "80"})
        lines = [line for line in result.output.splitlines() if not LOG_LINE.match(line)]
        assert all(len(line) <= 80 for line in lines), result.output
        return result

    cid = start(world, providers=["okta"], kinds=["group"], include_inherited=False)
    item = plain_items(world, cid)[0]
    decide(world, item, "revoke")
    preview = cli("campaign", "close", str(cid), "--dry-run")
    assert preview.exit_code == 0, preview.output
    row = next(line for line in preview.output.splitlines() if line.split()[:1] == [str(item.id)])
    assert "remove grant, read back" in row
    assert "keep " in preview.output and ", revoke 1, escalate 0" in preview.output

    closed = cli("campaign", "close", str(cid))
    assert closed.exit_code == 0, closed.output
    assert f"Campaign {cid} 'q' closed:" in closed.output
    outcome = next(
        line for line in closed.output.split("Outcomes")[1].splitlines() if line.split()[:1] == [str(item.id)]
    )
    assert outcome.endswith("revoked, verified"), closed.output
    assert "emails sent: 1 summary" in closed.output
    summary = world_inbox.to("owner@example.com")[-1]
    assert "1 revoked" in summary["Subject"], summary["Subject"]
    provider, account, grant = target(world, item)
    assert grant not in live_grants(world, provider, account)

    again = cli("campaign", "close", str(cid))
    assert again.exit_code == 2 and "already closed: nothing queued again" in again.output

    # the evidence pack lists it all, with the audit event at close and the pack's own SHA-256
    pack_file = world.config_path.parent / "pack.json"
    made = cli("campaign", "report", str(cid), "--format", "json", "--output", str(pack_file))
    assert made.exit_code == 0, made.output
    data = pack_file.read_bytes()
    assert f"sha256 {hashlib.sha256(data).hexdigest()}" in made.output
    pack = json.loads(data)
    revoked = next(i for i in pack["items"] if i["item"] == item.id)
    assert revoked["decision"] == "revoke" and revoked["reviewer"] == item.reviewer_email
    assert revoked["justification"] == "checked with the team" and revoked["decided_at"]
    assert revoked["outcome"] == "revoked, verified" and revoked["job"] and revoked["verified_at"]
    assert pack["coverage"]["revoked"] == 1 and pack["coverage"]["items"] == len(pack["items"])
    assert pack["coverage"]["auto_decided"] == len(pack["items"]) - 1  # the rest kept by policy
    with world.engine.connect() as conn:
        event = conn.execute(
            sa.text("SELECT seq, hash FROM audit_event WHERE action = 'campaign.close' AND target_id = :t"),
            {"t": str(cid)},
        ).one()
    assert pack["audit_at_close"]["seq"] == event.seq and pack["audit_at_close"]["hash"] == event.hash
    table = raw("campaign", "report", str(cid), "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(table.output.split("sha256 ")[0])))
    assert len(rows) == len(pack["items"]) and any(r["outcome"] == "revoked, verified" for r in rows)
    page = raw("campaign", "report", str(cid), "--format", "html")
    assert "<h1>Access review evidence: q</h1>" in page.output and item.snapshot["login"] in page.output
    bad = cli("campaign", "report", str(cid), "--format", "xml")
    assert bad.exit_code == 2 and "--format 'xml': one of json, csv, html" in bad.output


def test_the_cli_close_no_wait_only_queues(world: World, world_inbox: Inbox) -> None:
    from typer.testing import CliRunner

    from accessctl.cli import app

    cid = start(world, providers=["okta"], kinds=["group"], include_inherited=False)
    item = plain_items(world, cid)[0]
    decide(world, item, "revoke")
    result = CliRunner().invoke(
        app, ["--config", str(world.config_path), "campaign", "close", str(cid), "--no-wait"]
    )
    assert result.exit_code == 0, result.output
    assert "1 jobs queued; `accessctl worker` runs them" in result.output
    job_id = next(i.job_id for i in items(world, cid) if i.id == item.id)
    with world.engine.connect() as conn:
        assert get_job(conn, job_id).state == "pending"
    provider, account, grant = target(world, item)
    assert grant in live_grants(world, provider, account)  # not yet run
