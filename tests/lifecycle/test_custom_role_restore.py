"""An Okta custom admin role is held over a resource set: sync keeps the resource set with the grant,
a leaver's snapshot records it, and restore gives the role back over that same resource set, as
Okta's public API then shows it (Okta refuses a custom role assignment without one)."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import sqlalchemy as sa

from accessctl.lifecycle import deprovision, restore
from accessctl.store.models import LifecycleSnapshot
from tests.lifecycle.conftest import World
from tests.lifecycle.helpers import finish, run


def _okta_api(world: World) -> httpx.Client:
    """Okta's Management API with the org's own token (not the emulator's state endpoint)."""
    provider = world.running.providers["okta"]
    return httpx.Client(
        base_url=provider.url,
        verify=ssl.create_default_context(cafile=str(world.running.ca_path)),
        headers={"Authorization": f"SSWS {provider.credential_files['api_token'].read_text().strip()}"},
    )


def _custom_roles(api: httpx.Client, uid: str) -> list[tuple[str, str, str]]:
    roles = api.get(f"/api/v1/users/{uid}/roles")
    assert roles.status_code == 200, roles.text
    return sorted(
        (r["role"], r["resource-set"], r["assignmentType"]) for r in roles.json() if r["type"] == "CUSTOM"
    )


def _holder(world: World) -> sa.Row[Any]:
    """The person whose Okta account holds a custom role directly, and what the store keeps of that
    grant (its scopes as the JSON column gives them back)."""
    query = sa.text(
        "select p.email, a.external_id, e.external_id as role, g.scopes"
        " from access_grant g join account a on a.id = g.account_id"
        " join entitlement e on e.id = g.entitlement_id join person p on p.id = a.person_id"
        " where a.provider = 'okta' and e.kind = 'role' and e.external_id like 'cr0%'"
        " and g.ended_at is null and not g.inherited"
    ).columns(sa.column("email"), sa.column("external_id"), sa.column("role"), sa.column("scopes", sa.JSON))
    with world.engine.connect() as conn:
        return conn.execute(query).one()


def test_a_custom_role_is_restored_over_the_resource_set_it_was_held_over(world: World) -> None:
    _restored_over_its_resource_set(world)


def test_a_custom_role_is_restored_over_its_resource_set_on_postgresql(pg_world: World) -> None:
    _restored_over_its_resource_set(pg_world)


def _restored_over_its_resource_set(world: World) -> None:
    holder = _holder(world)
    with _okta_api(world) as api:
        before = _custom_roles(api, holder.external_id)
    ((role, resource_set, assignment),) = before
    assert (role, assignment) == (holder.role, "USER")
    assert holder.scopes == [resource_set]  # the sync kept the resource set with the grant

    left = run(world, deprovision, person=holder.email, requested_by="admin:ann", reason="left")
    status = finish(world, left.job_id)
    assert status.state == "done", [(s.provider, s.action, s.state, s.last_answer) for s in status.steps]
    with world.engine.connect() as conn:
        snapshot = conn.execute(sa.select(LifecycleSnapshot.__table__.c.accounts)).scalar_one()
    (okta,) = [a for a in snapshot if a["provider"] == "okta"]
    assert [g for g in okta["grants"] if g["entitlement_id"] == role] == [
        {"kind": "role", "entitlement_id": role, "name": "Access Reviewer", "scope": resource_set}
    ]
    with _okta_api(world) as api:
        assert _custom_roles(api, holder.external_id) == []

    restored = run(world, restore, person=holder.email, approved_by="admin:bob")
    (add,) = [
        s for s in restored.plan.steps if s.action == "add_grant" and s.target["entitlement_id"] == role
    ]
    assert add.target["scope"] == resource_set and add.expected_effect.endswith(f"over {resource_set}")
    (verify,) = [s for s in restored.plan.steps if s.provider == "okta" and s.action == "verify"]
    assert ["role", role, resource_set] in verify.target["present"]
    status = finish(world, restored.job_id)
    assert status.state == "done", [(s.provider, s.action, s.state, s.last_answer) for s in status.steps]
    with _okta_api(world) as api:
        assert _custom_roles(api, holder.external_id) == before
    assert _holder(world).scopes == [resource_set]  # the store, refreshed, still has it


def test_a_leaver_planned_from_the_store_keeps_the_resource_set(world: World) -> None:
    """The HR intake plans a leaver from the store (what the last sync saw): its step and snapshot
    name the custom role's resource set as the store keeps it."""
    from accessctl.lifecycle.hr_jobs import stored_accounts
    from accessctl.lifecycle.leaver import build_plan
    from accessctl.lifecycle.people import resolve_person
    from accessctl.sync.clock import now

    holder = _holder(world)
    with world.engine.connect() as conn:
        person = resolve_person(conn, holder.email)
        found = stored_accounts(conn, world.settings, person)
        plan = build_plan(world.settings, conn, person, found, kind="leaver", planned_at=now())
    (remove,) = [
        s for s in plan.steps if s.action == "remove_grant" and s.target["entitlement_id"] == holder.role
    ]
    assert remove.target["scope"] == holder.scopes[0]
    (okta,) = [a for a in plan.snapshot if a["provider"] == "okta"]
    assert [g.get("scope") for g in okta["grants"] if g["entitlement_id"] == holder.role] == holder.scopes
