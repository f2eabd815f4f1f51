"""The sync runner's own rules, on a scripted connector: paging into the store, sweeps only after a
complete full pass, resume from the checkpoint, MFA UNKNOWN on failed lookups, staying in budget."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl import audit
from accessctl.settings import Settings
from accessctl.store.models import Account, AuditEvent, Grant, SyncRun
from accessctl.sync.retry import RetryPolicy
from accessctl.sync.runner import ProviderResult, SyncOptions, load_checkpoint, sync_providers
from accessctl.sync.service import sync_options
from connectors.base import PermissionDeniedError
from tests.conftest import sqlite_only
from tests.sync.scripted import ScriptedConnector, account

FAST = RetryPolicy(max_attempts=3, backoff_base_s=0.001, backoff_max_s=0.01)


def run(engine: Engine, connector: ScriptedConnector, **options: object) -> ProviderResult:
    opts = SyncOptions(retry=FAST, max_concurrency=3, **options)  # type: ignore[arg-type]
    return asyncio.run(sync_providers(engine, [connector], opts))[0]


def org() -> ScriptedConnector:
    connector = ScriptedConnector()
    for name in ("ann", "bob", "cat", "dan", "eve-admin"):
        connector.accounts[name] = account(name)
    connector.groups = {
        "eng": [("ann", False), ("bob", False), ("cat", True)],
        "all": [("ann", False), ("bob", False), ("cat", False), ("dan", False), ("eve-admin", False)],
    }
    connector.factors = {"ann": ["push"], "eve-admin": ["webauthn"]}
    return connector


def live(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(table).where(table.c.ended_at.is_(None))
        ).scalar()


def test_full_sync_stores_everything(engine: Engine) -> None:
    result = run(engine, org())
    assert result.complete, result.reason
    assert (result.accounts.added, result.grants.added) == (5, 9)  # 8 memberships + 1 admin role
    assert live(engine, Account.__table__) == 5
    with engine.connect() as conn:
        mfa = dict(
            conn.execute(sa.select(Account.__table__.c.external_id, Account.__table__.c.mfa_state)).all()
        )
        inherited = conn.execute(
            sa.select(sa.func.count()).where(Grant.__table__.c.inherited.is_(True))
        ).scalar()
    assert mfa == {
        "ann": "ENROLLED",
        "bob": "NOT_ENROLLED",
        "cat": "NOT_ENROLLED",
        "dan": "NOT_ENROLLED",
        "eve-admin": "ENROLLED",
    }
    assert inherited == 1


def test_complete_full_pass_ends_what_it_did_not_see(engine: Engine) -> None:
    connector = org()
    run(engine, connector)
    del connector.accounts["dan"]
    connector.groups["eng"] = [("ann", False)]
    second = run(engine, connector, full=True)
    assert second.complete
    assert second.accounts.ended == 1
    assert second.grants.ended == 3  # bob and cat left eng; dan's membership of all
    with engine.connect() as conn:
        reason = conn.execute(
            sa.select(Account.__table__.c.ended_reason).where(Account.__table__.c.external_id == "dan")
        ).scalar()
    assert reason == f"not seen by complete full sync run {second.run_id}"


def test_failed_page_ends_nothing_and_rerun_resumes(engine: Engine) -> None:
    connector = org()
    run(engine, connector)
    del connector.accounts["dan"]
    connector.fail_after_pages["accounts"] = 1  # page 2 of the account listing always fails
    failed = run(engine, connector, full=True)
    assert not failed.complete
    assert "accounts: injected 503" in failed.reason
    assert live(engine, Account.__table__) == 5  # nothing ended by a partial pass
    with engine.connect() as conn:
        run_row = conn.execute(
            sa.select(SyncRun.__table__).where(SyncRun.__table__.c.id == failed.run_id)
        ).one()
    assert (run_row.complete, run_row.incomplete_reason) == (False, failed.reason)

    del connector.fail_after_pages["accounts"]
    connector.calls.clear()
    resumed = run(engine, connector, full=True)
    assert resumed.complete and resumed.resumed and resumed.run_id == failed.run_id
    assert connector.calls.count("accounts") == 1  # only the page that had failed was fetched again
    assert resumed.accounts.ended == 1
    assert live(engine, Account.__table__) == 4


def test_transient_errors_are_retried(engine: Engine) -> None:
    connector = org()
    connector.fail = {"accounts": 2, "grants": 1}
    result = run(engine, connector)
    assert result.complete
    assert live(engine, Account.__table__) == 5


def test_failed_lookup_leaves_mfa_unknown_and_run_incomplete(engine: Engine) -> None:
    connector = org()
    connector.fail = {"details": 100}
    result = run(engine, connector)
    assert not result.complete and "per-account lookups failed" in result.reason
    with engine.connect() as conn:
        states = set(conn.execute(sa.select(Account.__table__.c.mfa_state)).scalars())
    assert states == {"UNKNOWN"}


@sqlite_only  # a matter of time, not of the store
def test_stays_inside_the_stated_budget(engine: Engine) -> None:
    connector = org()
    connector.page_size = 1
    connector.rate_limit = 4  # four requests per one-second window
    started = time.monotonic()
    result = run(engine, connector)
    assert result.complete
    assert result.throttled == 0  # it waited for the window instead of hitting 429s
    assert result.requests >= 20
    assert time.monotonic() - started >= 3  # ~20 requests at 4 a second


# ----------------------------------------------------------------------------- crashes and interruptions


def run_rows(engine: Engine) -> dict[int, sa.Row]:
    with engine.connect() as conn:
        return {r.id: r for r in conn.execute(sa.select(SyncRun.__table__))}


def test_a_crash_ends_its_run_on_record_and_the_other_provider_finishes(engine: Engine) -> None:
    okta, google = org(), org()
    google.provider = "google"
    okta.crash = {"grants": KeyError("members")}  # a bug in a connector, mid-grants
    del okta.accounts["dan"]  # what a complete pass would end
    run(engine, org())  # okta's first, complete pass
    opts = SyncOptions(retry=FAST, max_concurrency=3, full=True)
    with pytest.raises(KeyError, match="members") as raised:
        asyncio.run(sync_providers(engine, [okta, google], opts))
    assert any(
        note.startswith("google: run ") and note.endswith(": complete") for note in raised.value.__notes__
    )
    runs = {(r.provider, r.complete, r.incomplete_reason) for r in run_rows(engine).values() if r.id > 1}
    assert runs == {("okta", False, "internal error: KeyError: 'members'"), ("google", True, None)}
    assert all(r.finished_at is not None for r in run_rows(engine).values())
    with engine.connect() as conn:
        per_provider = dict(
            conn.execute(
                sa.select(Account.__table__.c.provider, sa.func.count())
                .where(Account.__table__.c.ended_at.is_(None))
                .group_by(Account.__table__.c.provider)
            ).all()
        )
    assert per_provider == {"okta": 5, "google": 5}  # okta's crashed pass ended nothing

    rerun = run(engine, okta, full=True)  # the bug is gone: the run resumes and completes
    assert rerun.complete and rerun.resumed and rerun.accounts.ended == 1


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, asyncio.CancelledError])
def test_an_interruption_is_recorded_then_propagates(
    engine: Engine, interruption: type[BaseException]
) -> None:
    connector = org()
    connector.crash = {"grants": interruption()}
    with pytest.raises(interruption):
        run(engine, connector)
    (row,) = run_rows(engine).values()
    assert (row.complete, row.incomplete_reason) == (False, "interrupted")
    assert row.finished_at is not None
    assert live(engine, Account.__table__) == 5

    resumed = run(engine, connector)
    assert resumed.complete and resumed.resumed and resumed.run_id == row.id


def test_cancelling_a_hung_sync_records_every_provider_as_interrupted(engine: Engine) -> None:
    hung, other = org(), org()
    other.provider = "google"
    hung.hang_after = {"grants": 1}
    other.hang_after = {"details": 2}

    async def cancel_when_hung() -> None:
        task = asyncio.ensure_future(
            sync_providers(engine, [hung, other], SyncOptions(retry=FAST, max_concurrency=3))
        )
        while "grants:hung" not in hung.calls or "details:hung" not in other.calls:
            await asyncio.sleep(0.01)
        task.cancel()  # what Ctrl-C does to asyncio.run's main task
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(cancel_when_hung())
    rows = run_rows(engine).values()
    assert sorted((r.provider, r.complete, r.incomplete_reason) for r in rows) == [
        ("google", False, "interrupted"),
        ("okta", False, "interrupted"),
    ]


def test_a_long_reason_is_cut_to_what_the_column_holds(engine: Engine) -> None:
    connector = org()
    connector.crash = {"accounts": PermissionDeniedError("denied: " + "x" * 5000)}
    result = run(engine, connector)
    assert not result.complete
    (row,) = run_rows(engine).values()
    assert len(row.incomplete_reason) == 2000 and row.incomplete_reason.endswith("…")
    assert row.incomplete_reason.startswith("PermissionDeniedError: denied: xxx")
    assert result.reason == row.incomplete_reason


# ----------------------------------------------------------------------------- audit of what a sync ends


def ended_events(engine: Engine) -> list[sa.Row]:
    events = AuditEvent.__table__
    with engine.connect() as conn:
        return list(
            conn.execute(sa.select(events).where(events.c.action.like("sync.%_ended")).order_by(events.c.seq))
        )


def test_what_a_sync_ends_is_audited_with_it(engine: Engine) -> None:
    connector = org()
    run(engine, connector)
    del connector.accounts["dan"]
    connector.groups["eng"] = [("ann", False), ("cat", True)]  # bob left eng
    second = run(engine, connector, full=True)
    assert (second.accounts.ended, second.grants.ended) == (1, 2)

    events = {e.action: e for e in ended_events(engine)}
    assert set(events) == {"sync.account_ended", "sync.grant_ended"}
    reason = f"not seen by complete full sync run {second.run_id}"
    account = events["sync.account_ended"]
    assert (account.target_type, account.provider, account.details["reason"]) == ("account", "okta", reason)
    assert [a["login"] for a in account.details["ended"]] == ["dan@example.com"]
    grants = events["sync.grant_ended"]
    assert grants.details["count"] == 2
    ended = {(g["account"], g["entitlement"]) for g in grants.details["ended"]}
    assert ended == {("bob@example.com", "eng"), ("dan@example.com", "all")}
    with engine.connect() as conn:
        ended_ids = set(
            conn.execute(
                sa.select(Grant.__table__.c.id).where(Grant.__table__.c.ended_at.is_not(None))
            ).scalars()
        )
        assert {g["id"] for g in grants.details["ended"]} == ended_ids
        assert audit.verify(conn).ok


def test_an_incremental_pass_audits_the_grants_it_ends(engine: Engine) -> None:
    connector = org()
    connector.feed = []
    run(engine, connector)
    connector.groups["all"] = [m for m in connector.groups["all"] if m[0] != "cat"]
    connector.feed.append("cat")
    result = run(engine, connector)
    assert result.mode == "incremental" and result.complete and result.grants.ended == 1
    (event,) = ended_events(engine)
    assert event.action == "sync.grant_ended" and event.target_id is not None
    assert [(g["account"], g["entitlement"]) for g in event.details["ended"]] == [("cat@example.com", "all")]
    assert event.details["reason"] == f"no longer held (incremental sync run {result.run_id})"
    with engine.connect() as conn:
        assert audit.verify(conn).ok


# ----------------------------------------------------------------------------- MFA and incremental passes


def mfa_of(engine: Engine, external_id: str) -> tuple[str, list[str]]:
    a = Account.__table__
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(a.c.mfa_state, a.c.mfa_methods).where(a.c.external_id == external_id)
        ).one()
    return row.mfa_state, row.mfa_methods


@pytest.mark.parametrize("full", [True, False], ids=["full", "incremental"])
def test_an_account_the_bulk_mfa_report_stops_listing_becomes_unknown(engine: Engine, full: bool) -> None:
    connector = org()
    connector.mfa_source = "bulk"
    connector.feed = []
    assert run(engine, connector).complete
    assert mfa_of(engine, "ann") == ("ENROLLED", ["push"])
    connector.mfa_unreported = {"ann"}
    result = run(engine, connector, full=full)
    assert result.complete and result.mode == ("full" if full else "incremental")
    assert mfa_of(engine, "ann") == ("UNKNOWN", [])
    assert mfa_of(engine, "eve-admin") == ("ENROLLED", ["webauthn"])
    assert mfa_of(engine, "bob") == ("NOT_ENROLLED", [])


def test_an_incremental_pass_with_failed_lookups_is_incomplete_and_rereads_the_changes(
    engine: Engine,
) -> None:
    connector = org()
    connector.feed = []
    assert run(engine, connector).complete
    with engine.connect() as conn:
        cursor_before = load_checkpoint(conn, "okta", "changes")
    connector.factors["bob"] = ["totp"]
    connector.feed.append("bob")
    connector.fail = {"details": 100}
    failed = run(engine, connector)
    assert failed.mode == "incremental" and not failed.complete
    assert "per-account lookups failed" in failed.reason
    assert mfa_of(engine, "bob")[0] == "UNKNOWN"
    with engine.connect() as conn:
        assert load_checkpoint(conn, "okta", "changes") == cursor_before  # the changes are read again

    connector.fail = {}
    rerun = run(engine, connector)
    assert rerun.mode == "incremental" and rerun.complete
    assert mfa_of(engine, "bob") == ("ENROLLED", ["totp"])


def test_an_incremental_request_becomes_a_full_pass_when_the_last_one_is_old(engine: Engine) -> None:
    connector = org()
    connector.feed = []
    every = timedelta(hours=6)
    assert run(engine, connector, full_pass_every=every).mode == "full"
    assert run(engine, connector, full_pass_every=every).mode == "incremental"
    runs = SyncRun.__table__
    with engine.begin() as conn:
        conn.execute(
            runs.update()
            .where(runs.c.mode == "full")
            .values(finished_at=datetime.now(UTC) - timedelta(hours=7))
        )
    assert run(engine, connector, full_pass_every=None).mode == "incremental"  # disabled
    del connector.accounts["dan"]
    periodic = run(engine, connector, full_pass_every=every)
    assert periodic.mode == "full" and periodic.complete and periodic.accounts.ended == 1
    assert run(engine, connector, full_pass_every=every).mode == "incremental"


@pytest.mark.parametrize(
    ("hours", "expected"), [(0, None), (6, timedelta(hours=6)), (0.5, timedelta(minutes=30))]
)
def test_full_pass_every_hours_reaches_the_runner(hours: float, expected: timedelta | None) -> None:
    settings = Settings(sync={"full_pass_every_hours": hours})
    assert sync_options(settings, full=False, actor="test").full_pass_every == expected
