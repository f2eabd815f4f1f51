"""The lifecycle's emulator world with an HR source configured, and signed events to send it."""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import datetime

import sqlalchemy as sa

from accessctl.emulation import write_config
from accessctl.hr.intake import HrIntake
from accessctl.jobs.tables import JOBS
from accessctl.lifecycle.hr_jobs import HrLifecycle
from accessctl.lifecycle.plan_pending import plan_pending
from accessctl.settings import load_settings
from accessctl.store.models import Account
from tests.hr.helpers import SECRET_TEXT, encode, event, signed
from tests.lifecycle.conftest import World

ACCOUNTS: sa.Table = Account.__table__  # type: ignore[attr-defined]
SOURCE = "workday"


def with_hr_source(world: World, **hr: object) -> World:
    """``world`` with ``[hr.sources.workday]`` (its secret in a file beside the config) and ``hr``."""
    secret = world.config_path.parent / "hr-secret"
    secret.write_text(SECRET_TEXT + "\n", encoding="utf-8")
    config = tomllib.loads(world.config_path.read_text())
    config["hr"] = {**hr, "sources": {SOURCE: {"secret_file": str(secret)}}}
    write_config(config, world.config_path)
    world.settings = load_settings(world.config_path, strict=True)
    return world


def intake_for(world: World, clock: Callable[[], datetime]) -> HrIntake:
    return HrIntake.from_settings(
        world.settings, world.engine, HrLifecycle(world.settings, now=clock), clock=clock
    )


def termination(
    employee_id: str, email: str, *, id_: str, occurred_at: datetime, effective_at: datetime | None = None
) -> bytes:
    term = {"effective_at": effective_at.isoformat()} if effective_at else {"immediate": True}
    stamp = occurred_at.isoformat().replace("+00:00", "Z")
    return encode(event(id_=id_, employee_id=employee_id, email=email, occurred_at=stamp, termination=term))


def send(intake: HrIntake, raw: bytes, *, webhook_id: str, at: datetime) -> object:
    return intake.receive(signed(raw, webhook_id=webhook_id, at=at), raw)


def accounts_of(world: World, person_id: int) -> dict[str, str]:
    with world.engine.connect() as conn:
        rows = conn.execute(
            sa.select(ACCOUNTS.c.provider, ACCOUNTS.c.external_id).where(
                ACCOUNTS.c.person_id == person_id, ACCOUNTS.c.ended_at.is_(None)
            )
        )
        return dict(rows.all())


def plan_jobs(world: World, at: datetime) -> int:
    """What a worker does first: plan the leaver jobs HR's events committed unplanned."""
    return plan_pending(world.settings, world.engine, now=at)


def jobs(world: World) -> list[sa.Row]:
    with world.engine.connect() as conn:
        return list(conn.execute(sa.select(JOBS).order_by(JOBS.c.id)))
