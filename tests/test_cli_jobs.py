"""`accessctl jobs list|show|retry|cancel` on SQLite and PostgreSQL: tables within 80 columns,
per-step progress with the provider's last answer, and an unknown id or a wrong state as one line,
a documented exit code and nothing changed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner, Result

from accessctl import exitcodes
from accessctl.cli import app
from accessctl.jobs import PlannedStep, claim, enqueue, fail_attempt
from accessctl.store.models import Person
from tests.jobs.conftest import _postgres_store, _sqlite_template  # noqa: F401 - fixtures
from tests.jobs.helpers import EVENTS, T0, job, leaver_plan, make_job
from tests.web.conftest import templated_engine

runner = CliRunner()
DENIED = (
    "PermissionDeniedError (403): Okta E0000006 You do not have permission to perform the requested "
    "action (the token's admin role is read-only)"
)


def cli(engine: Engine, *args: str) -> Result:
    url = engine.url.render_as_string(hide_password=False).replace("postgresql+psycopg://", "postgresql://")
    return runner.invoke(app, list(args), env={"ACCESSCTL_DATABASE_URL": url, "COLUMNS": "80"})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from templated_engine(request, tmp_path)


@pytest.fixture
def jobs(engine: Engine) -> dict[str, int]:
    """A leaver whose first Okta step failed for good, and a lockout of a protected account (done)."""
    with Session(engine) as session:
        person = Person(employee_id="E9", email="grace.hopper@example.com")
        session.add(person)
        session.commit()
        person_id = person.id
    with Session(engine) as session, session.begin():
        leaver = enqueue(
            session,
            kind="leaver",
            person_id=person_id,
            reason="terminated in Workday",
            requested_by="token:workday",
            steps=leaver_plan(),
            now=T0,
        )
    lockout = make_job(
        engine, [PlannedStep.protected("google", "suspend", {"account_id": "104877"})], kind="lockout"
    )
    step = claim(engine, worker_id="w", lease_s=30, now=T0)
    assert step is not None
    fail_attempt(engine, step, error=DENIED, permanent=True, now=T0)
    return {"leaver": leaver, "lockout": lockout, "failed_step": step.step_id}


def audit_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar_one()


def test_list_shows_jobs_newest_first_within_80_columns(engine: Engine, jobs: dict[str, int]) -> None:
    listed = cli(engine, "jobs", "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0] == "Jobs (2; newest first)"
    assert max(len(line) for line in lines) <= 80
    rows = [line.split() for line in lines[2:]]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (str(jobs["lockout"]), "lockout", "done", "1/1"),
        (str(jobs["leaver"]), "leaver", "failed", "0/9"),
    ]
    assert "grace.hopper@example.com" in lines[3]
    failed = cli(engine, "jobs", "list", "--state", "failed", "--format", "json")
    assert [j["id"] for j in json.loads(failed.stdout)] == [jobs["leaver"]]
    assert len(json.loads(cli(engine, "jobs", "list", "--limit", "1", "--format", "json").stdout)) == 1


def test_show_gives_each_steps_progress_and_the_providers_answer(
    engine: Engine, jobs: dict[str, int]
) -> None:
    shown = cli(engine, "jobs", "show", str(jobs["leaver"]))
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0] == f"Job {jobs['leaver']}: leaver, failed, 0/9 steps done"
    assert "  person: grace.hopper@example.com" in lines
    assert f"`accessctl jobs retry {jobs['leaver']}`" in shown.stdout
    header = next(line for line in lines if line.startswith("provider"))
    assert header.split()[:5] == ["provider", "#", "action", "state", "tries"]
    failed = job(engine, jobs["leaver"])
    bad = next(s for s in failed.steps if s.state == "failed")
    row = next(line for line in lines if line.startswith(bad.provider) and " failed " in line)
    assert row.split()[1:5] == [str(bad.seq), bad.action, "failed", "1/5"]
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{bad.provider} #{bad.seq} "))
    said = " ".join(line.strip() for line in lines[start:])
    assert said.endswith(DENIED)  # the whole answer under the table, wrapped to fit
    as_json = json.loads(cli(engine, "jobs", "show", str(jobs["leaver"]), "--format", "json").stdout)
    assert as_json["person"] == "grace.hopper@example.com"
    assert [s["state"] for s in as_json["steps"]].count("failed") == 1
    protected = cli(engine, "jobs", "show", str(jobs["lockout"]))
    assert "skipped" in protected.stdout and "skipped: protected" in protected.stdout


def test_retry_and_cancel(engine: Engine, jobs: dict[str, int]) -> None:
    retried = cli(engine, "jobs", "retry", str(jobs["leaver"]))
    assert retried.exit_code == 0, retried.output
    assert retried.stdout.startswith(f"job {jobs['leaver']}: 1 failed step(s) pending again")
    assert job(engine, jobs["leaver"]).state == "pending"
    cancelled = cli(engine, "jobs", "cancel", str(jobs["leaver"]), "--reason", "wrong person")
    assert cancelled.exit_code == 0, cancelled.output
    assert job(engine, jobs["leaver"]).state == "cancelled"
    with engine.connect() as conn:
        event = conn.execute(
            sa.select(EVENTS.c.actor, EVENTS.c.details).where(EVENTS.c.action == "job.cancelled")
        ).one()
    assert event.actor.startswith("cli") and event.details["why"] == "wrong person"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["show", "4242"], exitcodes.NOT_FOUND, "error: no job 4242 (`accessctl jobs list` shows them)"),
        (["retry", "4242"], exitcodes.NOT_FOUND, "error: no job 4242 (`accessctl jobs list` shows them)"),
        (["cancel", "4242"], exitcodes.NOT_FOUND, "error: no job 4242 (`accessctl jobs list` shows them)"),
        (["retry", "LOCKOUT"], exitcodes.FAILED, "is done: only a failed job can be retried"),
        (["cancel", "LOCKOUT"], exitcodes.FAILED, "is done: nothing to cancel"),
        (["list", "--state", "bogus"], exitcodes.USAGE, "--state 'bogus': one of pending, running"),
        (["show", "abc"], exitcodes.USAGE, "Invalid value for 'ID'"),
    ],
)
def test_bad_ids_and_states_are_one_line_and_change_nothing(
    engine: Engine, jobs: dict[str, int], args: list[str], code: int, message: str
) -> None:
    args = [str(jobs["lockout"]) if a == "LOCKOUT" else a for a in args]
    before = audit_count(engine)
    result = cli(engine, "jobs", *args)
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("error:")
    assert audit_count(engine) == before
