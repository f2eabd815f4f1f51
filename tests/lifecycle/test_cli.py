"""The admin CLI over the use cases: deprovision --yes runs the job here and reports it; --dry-run
prints the plan and changes nothing; --no-wait only queues; errors are one line and a documented
exit code; quarantine list/release/reject."""

from __future__ import annotations

import sqlalchemy as sa
from typer.testing import CliRunner

from accessctl import exitcodes
from accessctl.cli import app
from accessctl.store.models import Account
from tests.lifecycle.conftest import World
from tests.lifecycle.helpers import live

runner = CliRunner()
WIDE = {"COLUMNS": "80"}


def _cli(world: World, *args: str):
    return runner.invoke(app, ["--config", str(world.config_path), *args], env=WIDE)


def _accounts(world: World, person_id: int) -> dict[str, str]:
    table = Account.__table__
    with world.engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.provider, table.c.external_id).where(
                table.c.person_id == person_id, table.c.ended_at.is_(None)
            )
        )
        return dict(rows.all())


def test_deprovision_yes_runs_the_job_and_prints_a_result_table_in_80_columns(world: World) -> None:
    person = world.people_with_accounts()[0]
    result = _cli(world, "deprovision", person.email, "--yes", "--reason", "left", "--by", "admin:ann")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"leaver plan for {person.email} ({person.employee_id})" in out
    assert "job 1: done" in out
    assert all(len(line) <= 80 for line in out.splitlines()), out
    for provider in ("okta", "entra", "google"):
        assert any(
            line.startswith(provider) and "verify" in line and "done" in line for line in out.splitlines()
        )
    states = {str(r.status) for r, _, _ in live(world, _accounts(world, person.id)).values()}
    assert states == {"suspended"}


def test_dry_run_prints_the_plan_and_queues_nothing(world: World) -> None:
    person = world.people_with_accounts()[0]
    result = _cli(world, "deprovision", person.employee_id, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "dry run: nothing was queued or changed" in result.stdout
    assert "suspend" in result.stdout and "revoke_sessions" in result.stdout
    with world.engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from job")).scalar_one() == 0
    states = {str(r.status) for r, _, _ in live(world, _accounts(world, person.id)).values()}
    assert states == {"active"}


def test_no_wait_only_queues(world: World) -> None:
    person = world.people_with_accounts()[0]
    result = _cli(world, "lockout", person.email, "--no-wait", "--yes")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().endswith("job 1 queued")
    with world.engine.connect() as conn:
        assert conn.execute(sa.text("select state from job")).scalar_one() == "pending"


def test_an_unknown_person_is_one_error_line_and_exit_not_found(world: World) -> None:
    result = _cli(world, "deprovision", "nobody@nowhere.example", "--yes")
    assert result.exit_code == exitcodes.NOT_FOUND
    assert result.stderr.startswith("error: no person with employee id or email 'nobody@nowhere.example'")
    assert "Traceback" not in result.output


def test_quarantine_list_release_and_reject(world: World) -> None:
    world.reload(guard={"max_per_hour": 1, "max_share": 1.0, "two_person": True})
    first, second, third = world.people_with_accounts()[:3]
    assert _cli(world, "deprovision", first.email, "--no-wait", "--by", "hr").exit_code == 0
    held = _cli(world, "deprovision", second.email, "--by", "hr")
    assert held.exit_code == exitcodes.QUARANTINED, held.output
    assert "job 2 is quarantined" in held.stdout
    assert (
        _cli(world, "deprovision", third.email, "--no-wait", "--by", "hr").exit_code == exitcodes.QUARANTINED
    )
    listed = _cli(world, "quarantine", "list")
    assert "quarantined jobs (2)" in listed.stdout and second.email in listed.stdout
    same = _cli(world, "quarantine", "release", "2", "--by", "hr")
    assert same.exit_code == exitcodes.REFUSED and "two_person" in same.stderr
    assert _cli(world, "quarantine", "release", "2", "--by", "admin:bob").exit_code == 0
    assert _cli(world, "quarantine", "reject", "3", "--by", "admin:bob").exit_code == 0
    again = _cli(world, "quarantine", "release", "3", "--by", "admin:bob")
    assert again.exit_code == exitcodes.NOT_FOUND and "cancelled, not quarantined" in again.stderr
    assert "quarantined jobs (0)" in _cli(world, "quarantine", "list").stdout


def test_revoke_one_direct_grant_and_an_unknown_one_lists_what_is_held(world: World) -> None:
    person = world.people_with_accounts()[0]
    account = _accounts(world, person.id)["google"]
    (_, grants, _) = live(world, {"google": account})["google"]
    group = next(g for g in grants if g.entitlement_kind == "group" and not g.inherited)
    with world.engine.connect() as conn:
        name = conn.execute(
            sa.text("select name from entitlement where provider = 'google' and external_id = :id"),
            {"id": group.entitlement_external_id},
        ).scalar_one()
    unknown = _cli(world, "revoke", person.email, "google:group:no-such-group", "--yes")
    assert unknown.exit_code == exitcodes.NOT_FOUND
    assert "does not hold google:group:no-such-group; they hold: " in unknown.stderr
    assert f"google:group:{name}" in unknown.stderr
    done = _cli(world, "revoke", person.email, f"google:group:{name}", "--yes", "--by", "admin:ann")
    assert done.exit_code == 0, done.output
    (_, after, _) = live(world, {"google": account})["google"]
    assert group.entitlement_external_id not in {g.entitlement_external_id for g in after if not g.inherited}
