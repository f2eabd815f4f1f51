"""The sync runner's own rules, on a scripted connector: paging into the store, sweeps only after a
complete full pass, resume from the checkpoint, MFA UNKNOWN on failed lookups, staying in budget."""

from __future__ import annotations

import asyncio
import time

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.store.models import Account, Grant, SyncRun
from accessctl.sync.retry import RetryPolicy
from accessctl.sync.runner import ProviderResult, SyncOptions, sync_providers
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
