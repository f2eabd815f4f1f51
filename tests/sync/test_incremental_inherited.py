"""An incremental pass keeps inherited grants exact without listing again what holds a changed group:
after membership and nesting changes, the store holds what a full pass into an empty store holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.emulation import emulator_config, write_config
from accessctl.settings import load_settings
from accessctl.store.engine import make_engine
from accessctl.store.migrate import upgrade
from accessctl.store.models import AuditEvent
from accessctl.sync.service import run_sync
from connectors.emulators.generate import generate_org
from connectors.emulators.runner import RunningEmulators, start_emulators
from tests.sync.groundtruth import ACCOUNTS, ENTITLEMENTS, GRANTS


def live_grant_set(engine: Engine, provider: str) -> set[tuple[str, str, str, bool]]:
    """(account, entitlement kind, entitlement, inherited) of every live grant of the provider."""
    query = (
        sa.select(ACCOUNTS.c.external_id, ENTITLEMENTS.c.kind, ENTITLEMENTS.c.external_id, GRANTS.c.inherited)
        .select_from(
            GRANTS.join(ACCOUNTS, ACCOUNTS.c.id == GRANTS.c.account_id).join(
                ENTITLEMENTS, ENTITLEMENTS.c.id == GRANTS.c.entitlement_id
            )
        )
        .where(ENTITLEMENTS.c.provider == provider, GRANTS.c.ended_at.is_(None))
    )
    with engine.connect() as conn:
        return {(a, k, e, bool(i)) for a, k, e, i in conn.execute(query)}


def group_ids(engine: Engine, provider: str) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(ENTITLEMENTS.c.name, ENTITLEMENTS.c.external_id).where(
                ENTITLEMENTS.c.provider == provider, ENTITLEMENTS.c.kind == "group"
            )
        )
        return {name: external_id for name, external_id in rows}


def direct_members(engine: Engine, provider: str, group_id: str) -> list[str]:
    with engine.connect() as conn:
        return sorted(
            conn.execute(
                sa.select(ACCOUNTS.c.external_id)
                .select_from(
                    GRANTS.join(ACCOUNTS, ACCOUNTS.c.id == GRANTS.c.account_id).join(
                        ENTITLEMENTS, ENTITLEMENTS.c.id == GRANTS.c.entitlement_id
                    )
                )
                .where(
                    ENTITLEMENTS.c.provider == provider,
                    ENTITLEMENTS.c.external_id == group_id,
                    GRANTS.c.ended_at.is_(None),
                    GRANTS.c.inherited.is_(False),
                )
            ).scalars()
        )


def emulator_state(running: RunningEmulators, provider: str) -> Any:
    """The emulator's own state: the test changes the org the way an admin would, behind sync's back."""
    return getattr(running.providers[provider].server.app.app.state, provider)


@pytest.mark.parametrize("recorded", [True, False], ids=["held-through-recorded", "store-from-before-0003"])
@pytest.mark.parametrize("provider", ["entra", "google"])
def test_incremental_pass_derives_what_is_held_through_changed_groups(
    provider: str, recorded: bool, tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Derived where the store knows what each entitlement is held through; where it does not (a
    store synced before migration 0003), what holds a changed group is listed again: exact both ways."""
    monkeypatch.setenv("ACCESSCTL_SYNC_BACKOFF_BASE_S", "0.01")
    org = generate_org(160, seed=14)
    with start_emulators(org, workdir=tmp_path / "emu", providers=(provider,)) as running:
        url = engine.url.render_as_string(hide_password=False)
        settings = load_settings(
            write_config(emulator_config(running, database_url=url), tmp_path / "accessctl.toml"), strict=True
        )
        assert run_sync(settings, engine, full=True).complete
        before = live_grant_set(engine, provider)

        ids = group_ids(engine, provider)
        departments = sorted(name for name in ids if name.startswith("dept-"))
        # the full pass recorded what all-staff is held through: the departments nested in it
        with engine.connect() as conn:
            held = conn.execute(
                sa.select(ENTITLEMENTS.c.held_through).where(ENTITLEMENTS.c.external_id == ids["all-staff"])
            ).scalar_one()
        assert held == sorted(ids[d] for d in departments)
        if not recorded:
            with engine.begin() as conn:
                conn.execute(ENTITLEMENTS.update().values(held_through=None))
        leaving_group, joining_group, nesting_group = (ids[d] for d in departments[:3])
        team = ids[sorted(name for name in ids if name.startswith("team-"))[0]]
        # someone who holds all-staff only through the department they leave (not through the team)
        leaver = next(
            a
            for a in direct_members(engine, provider, leaving_group)
            if a not in direct_members(engine, provider, team)
        )
        joiner = next(
            a
            for a in direct_members(engine, provider, team)
            if a not in direct_members(engine, provider, joining_group)
        )
        state = emulator_state(running, provider)
        state.remove_member(leaving_group, leaver)  # leaves all-staff and the apps through it
        state.add_member(joining_group, joiner)
        state.add_member(nesting_group, team)  # a whole team now nested in a department

        control = running.providers[provider].control
        control.trace = []
        (result,) = run_sync(settings, engine).results
        requested = [path for _, path, _, _ in control.trace]
        control.trace = None
        assert result.mode == "incremental" and result.complete, result.reason

        fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
        upgrade(fresh)
        assert run_sync(settings, fresh, full=True).complete
        expected = live_grant_set(fresh, provider)
        fresh.dispose()

    after = live_grant_set(engine, provider)
    assert after == expected
    assert after != before
    all_staff = ids["all-staff"]
    # the leaver no longer holds all-staff, which holds the departments
    assert (leaver, "group", all_staff, True) in before - after
    # all-staff, which holds every department and is held by apps and roles, was not listed again
    # (unless the store could not say what holds what)
    assert bool([path for path in requested if all_staff in path]) is not recorded
    # what the derivation ended is audited, naming the run and each grant
    events = AuditEvent.__table__
    with engine.connect() as conn:
        details = conn.execute(
            sa.select(events.c.details).where(events.c.action == "sync.grant_ended")
        ).scalars()
        derived = [
            d
            for d in details
            if d["reason"] == f"no longer held through a group (incremental sync run {result.run_id})"
        ]
    assert (sum(d["count"] for d in derived) >= 1) is recorded
