"""SCIM Users as HR events: hires, movers, terminations (strict ``active``, Entra's PATCH, DELETE),
rehires; filters; auth; and bad bodies answered with SCIM errors that change nothing."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from accessctl.hr.store import MOVES
from accessctl.settings import Settings
from accessctl.web import create_app
from accessctl.web.metrics import ServiceMetrics
from accessctl.web.runtime import Liveness
from tests.hr.test_scim_support import (
    ENTERPRISE,
    ERROR,
    FIXTURES,
    USERS,
    Scim,
    scim_app,
    user,
)

globals().update(FIXTURES)


def _error(answer: Any, status: int, scim_type: str | None = None) -> str:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/scim+json")
    body = answer.json()
    assert body["schemas"] == [ERROR] and body["status"] == str(status)
    assert body.get("scimType") == scim_type, body
    return body["detail"]


# --- hires --------------------------------------------------------------------------------------


def test_a_created_user_is_a_hire_in_the_roster_with_stable_id_and_meta(scim: Scim) -> None:
    answer = scim.call("POST", "Users", json=user(password="hunter2", externalId="ext-1"))
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert (
        answer.headers["location"]
        == made["meta"]["location"]
        == f"http://testserver/scim/v2/Users/{made['id']}"
    )
    assert answer.headers["etag"] == made["meta"]["version"] == 'W/"1"'
    assert made["meta"]["resourceType"] == "User" and made["meta"]["created"] == made["meta"]["lastModified"]
    assert "password" not in made
    [event] = scim.events()
    assert (event.source, event.event_type, event.status) == ("scim", "employee.hired", "applied")
    person = scim.person("E100")
    assert (person.email, person.department, person.status) == ("ada@example.com", "Engineering", "active")
    with scim.engine.connect() as conn:
        stored = conn.execute(sa.select(USERS)).one()
    assert stored.person_id == person.id and "password" not in str(stored.resource)
    again = scim.call("GET", f"Users/{made['id']}").json()
    assert again == made


def test_a_created_user_for_a_roster_employee_links_to_them_without_a_second_person(scim: Scim) -> None:
    from tests.hr.conftest import add_person

    person_id = add_person(scim.engine, "E7", "grace@example.com", department="Research")
    scim.create(user_name="grace@example.com", employee_number="E7", department="Research")
    assert scim.person("E7").id == person_id
    with scim.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(USERS)).scalar() == 1
    refused = scim.call("POST", "Users", json=user("grace2@example.com", employee_number="E7"))
    assert "already provisioned" in _error(refused, 409, "uniqueness")


def test_a_taken_user_name_is_a_uniqueness_error(scim: Scim) -> None:
    scim.create()
    before = scim.snapshot()
    refused = scim.call("POST", "Users", json=user("ADA@example.com", employee_number="E200"))
    assert "already taken" in _error(refused, 409, "uniqueness")
    assert scim.snapshot() == before


# --- filters -------------------------------------------------------------------------------------


@pytest.fixture
def three(scim: Scim) -> dict[str, str]:
    ids = {}
    for n, name in enumerate(("ada", "grace", "linus")):
        made = scim.create(
            user_name=f"{name}@example.com",
            employee_number=f"E{n}",
            externalId=f"Ext-{name}",
            emails=[
                {"value": f"{name}@example.com", "type": "work", "primary": True},
                {"value": f"{name}@home.example", "type": "home"},
            ],
        )
        ids[name] = made["id"]
    return ids


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ('userName eq "GRACE@example.com"', {"grace"}),  # userName is not caseExact
        ('externalId eq "Ext-linus"', {"linus"}),
        ('externalId eq "ext-linus"', set()),  # externalId is caseExact
        ('emails eq "ada@home.example"', {"ada"}),
        ('emails.value eq "linus@example.com"', {"linus"}),
        ('emails[type eq "work" and value eq "grace@example.com"]', {"grace"}),
        ('emails[type eq "work" and value eq "grace@home.example"]', set()),
        ('userName sw "a" or externalId eq "Ext-linus"', {"ada", "linus"}),
        ('not (userName eq "ada@example.com")', {"grace", "linus"}),
        ('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "E1"', {"grace"}),
        ("userName pr", {"ada", "grace", "linus"}),
    ],
)
def test_filters(scim: Scim, three: dict[str, str], expression: str, expected: set[str]) -> None:
    answer = scim.call("GET", "Users", params={"filter": expression})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {r["id"] for r in body["Resources"]} == {three[n] for n in expected}
    assert body["totalResults"] == len(expected)


@pytest.mark.parametrize("expression", ["userName eq", 'nosuch eq "x"', 'active eq "maybe"', "userName zz 1"])
def test_a_filter_that_is_not_scim_or_names_no_attribute_is_invalid_filter(
    scim: Scim, three: dict[str, str], expression: str
) -> None:
    _error(scim.call("GET", "Users", params={"filter": expression}), 400, "invalidFilter")


def test_pages_and_search_and_deleted_users_left_out(scim: Scim, three: dict[str, str]) -> None:
    page = scim.call("GET", "Users", params={"startIndex": 2, "count": 1}).json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (3, 2, 1)
    assert [r["id"] for r in page["Resources"]] == [three["grace"]]
    assert scim.call("DELETE", f"Users/{three['grace']}").status_code == 204
    listed = scim.call("GET", "Users", params={"attributes": "userName"}).json()
    assert {r["id"] for r in listed["Resources"]} == {three["ada"], three["linus"]}
    assert all(set(r) == {"schemas", "id", "userName"} for r in listed["Resources"])
    found = scim.call(
        "POST",
        "Users/.search",
        json={
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'userName sw "g"',
        },
    ).json()
    assert found["totalResults"] == 0


# --- terminations: the strict active rule ------------------------------------------------------


@pytest.mark.parametrize("value", [False, "False", "false"])
def test_active_false_is_a_termination_and_a_leaver_job(scim: Scim, value: Any) -> None:
    made = scim.create()
    answer = scim.call("PUT", f"Users/{made['id']}", json=user(active=value))
    assert answer.status_code == 200, answer.text
    assert answer.json()["active"] is False
    hired, terminated = scim.events()
    assert (terminated.event_type, terminated.immediate, terminated.status) == (
        "employee.terminated",
        True,
        "applied",
    )
    [job] = scim.jobs()
    assert (job.kind, job.hr_event_id, job.person_id) == ("leaver", terminated.id, hired.person_id)
    assert scim.person("E100").status == "terminated"


@pytest.mark.parametrize("value", [None, 0, 1, "0", "no", "off", "yes", "FALSE", "f", "", [False], {"v": 1}])
def test_a_loose_active_value_is_invalid_value_and_changes_nothing(scim: Scim, value: Any) -> None:
    made = scim.create()
    before = scim.snapshot()
    put = scim.call("PUT", f"Users/{made['id']}", json=user(active=value))
    assert "active must be true or false" in _error(put, 400, "invalidValue")
    patched = scim.patch(made["id"], {"op": "Replace", "path": "active", "value": value})
    assert "must be true or false" in _error(patched, 400, "invalidValue")
    pathless = scim.patch(made["id"], {"op": "replace", "value": {"active": value}})
    _error(pathless, 400, "invalidValue")
    created = scim.call("POST", "Users", json=user("new@example.com", employee_number="E9", active=value))
    _error(created, 400, "invalidValue")
    assert scim.snapshot() == before


def test_entra_deactivates_with_a_capitalised_replace_of_the_string_false(scim: Scim) -> None:
    made = scim.create()
    # what Entra ID sends when a user is disabled or leaves the app's scope
    answer = scim.patch(
        made["id"], {"op": "Replace", "path": "active", "value": "False"}, headers={"If-Match": 'W/"1"'}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["active"] is False and answer.json()["meta"]["version"] == 'W/"2"'
    [job] = scim.jobs()
    assert job.kind == "leaver" and job.state == "pending"
    # sent again (a retry): the same state, no second leaver
    assert scim.patch(made["id"], {"op": "Replace", "path": "active", "value": "False"}).status_code == 200
    assert len(scim.jobs()) == 1 and len(scim.events()) == 2


def test_active_true_after_a_termination_is_a_rehire_and_a_restore(scim: Scim) -> None:
    made = scim.create()
    scim.patch(made["id"], {"op": "replace", "path": "active", "value": False})
    answer = scim.patch(made["id"], {"op": "Replace", "path": "active", "value": "True"})
    assert answer.status_code == 200, answer.text
    leaver, restore = scim.jobs()
    assert (leaver.kind, restore.kind) == ("leaver", "restore")
    assert scim.events()[-1].event_type == "employee.rehired"
    assert scim.person("E100").status == "active"


def test_a_rehire_the_lifecycle_refuses_now_is_a_scim_error_and_changes_nothing(store: Any) -> None:
    from accessctl.hr.decide import StartRestore
    from accessctl.hr.rejections import Rejected
    from accessctl.hr.scim.users import ScimUsers
    from accessctl.web.scim import mount_scim
    from tests.hr.conftest import JobTableLifecycle
    from tests.hr.test_scim_support import T0, Clock

    class LeaverStillRunning(JobTableLifecycle):
        def start_restore(self, conn: Any, decision: StartRestore) -> int:
            raise Rejected("leaver_running", "the leaver job 1 is still running; retry later", status=409)

    app = create_app(Settings(), store, liveness=Liveness(), metrics=ServiceMetrics(store))
    mount_scim(app, ScimUsers(store, LeaverStillRunning(), clock=Clock(T0)))
    scim = Scim(store, app, None)
    made = scim.create()
    scim.patch(made["id"], {"op": "replace", "path": "active", "value": False})
    before = scim.snapshot()
    refused = scim.patch(made["id"], {"op": "replace", "path": "active", "value": True})
    assert "still running" in _error(refused, 409)
    assert scim.snapshot() == before


def test_delete_is_a_termination_never_a_purge(scim: Scim) -> None:
    made = scim.create()
    assert scim.call("DELETE", f"Users/{made['id']}").status_code == 204
    [job] = scim.jobs()
    assert job.kind == "leaver"
    assert scim.events()[-1].event_type == "employee.terminated"
    _error(scim.call("GET", f"Users/{made['id']}"), 404)
    _error(scim.call("DELETE", f"Users/{made['id']}"), 404)
    _error(scim.patch(made["id"], {"op": "replace", "path": "active", "value": True}), 404)
    person = scim.person("E100")  # still in the roster, now a leaver
    assert person.status == "terminated" and person.termination_date is not None
    with scim.engine.connect() as conn:
        row = conn.execute(sa.select(USERS)).one()
    assert row.deleted_at is not None and row.resource["userName"] == "ada@example.com"
    # the name can be provisioned again (a rehire through a new User)
    again = scim.call("POST", "Users", json=user())
    assert again.status_code == 201, again.text
    assert [j.kind for j in scim.jobs()] == ["leaver", "restore"]


# --- movers --------------------------------------------------------------------------------------


def test_a_new_manager_or_department_is_a_mover(scim: Scim) -> None:
    boss = scim.create(user_name="grace@example.com", employee_number="E1", department="Research")
    made = scim.create()
    answer = scim.patch(
        made["id"],
        # Entra sends the manager as the bare id of their User, and a department by its full path
        {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": boss["id"]},
        {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "Research"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()[ENTERPRISE]["manager"]["value"] == boss["id"]
    assert scim.events()[-1].event_type == "employee.updated"
    person = scim.person("E100")
    assert (person.manager_employee_id, person.department) == ("E1", "Research")
    with scim.engine.connect() as conn:
        move = conn.execute(sa.select(MOVES)).one()
    assert (move.old_department, move.new_department, move.new_manager_employee_id) == (
        "Engineering",
        "Research",
        "E1",
    )
    assert scim.jobs() == []


def test_a_change_hr_does_not_read_is_recorded_on_the_user_only(scim: Scim) -> None:
    made = scim.create()
    answer = scim.patch(made["id"], {"op": "replace", "path": "nickName", "value": "Countess"})
    assert answer.status_code == 200 and answer.json()["nickName"] == "Countess"
    assert [e.event_type for e in scim.events()] == ["employee.hired"]


def test_entras_update_patch_adds_a_work_email_it_filters_for(scim: Scim) -> None:
    made = scim.create(emails=[{"value": "ada@example.com", "primary": True}])
    answer = scim.patch(
        made["id"],
        {"op": "Add", "path": 'emails[type eq "work"].value', "value": "ada.l@example.com"},
        {"op": "Replace", "path": "displayName", "value": "Ada L"},
    )
    assert answer.status_code == 200, answer.text
    emails = answer.json()["emails"]
    assert {"value": "ada.l@example.com", "type": "work"} in emails and len(emails) == 2


def test_a_manager_that_is_no_user_here_is_invalid_value(scim: Scim) -> None:
    made = scim.create()
    before = scim.snapshot()
    refused = scim.patch(
        made["id"], {"op": "add", "path": f"{ENTERPRISE}:manager", "value": {"value": "nobody"}}
    )
    assert "not the id of a User" in _error(refused, 400, "invalidValue")
    assert scim.snapshot() == before


# --- auth ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_", "status"),
    [(None, 401), ("acc_nothex_secret", 401), ("Basic", 401), ("read", 403), ("admin", 403)],
)
def test_only_a_token_of_scope_hr_gets_in(scim: Scim, as_: str | None, status: int) -> None:
    headers = {"Authorization": "Basic dXNlcjpwYXNz"} if as_ == "Basic" else {}
    for method, path in (("GET", "Users"), ("GET", "ServiceProviderConfig"), ("POST", "Users")):
        kwargs: dict[str, Any] = {"json": user()} if method == "POST" else {}
        answer = scim.call(method, path, as_=None if as_ == "Basic" else as_, headers=headers, **kwargs)
        _error(answer, status)
        if status == 401:
            assert answer.headers["www-authenticate"] == "Bearer"
    assert scim.events() == []


# --- bad bodies ----------------------------------------------------------------------------------

_BAD: list[tuple[str, Any, str | None, int]] = [
    ("not json", b"{nope", "invalidSyntax", 400),
    ("duplicate key", b'{"userName": "a@example.com", "userName": "b@example.com"}', "invalidSyntax", 400),
    ("NaN", b'{"userName": NaN}', "invalidSyntax", 400),
    ("a list", b"[]", "invalidSyntax", 400),
    ("no employeeNumber", {ENTERPRISE: {"department": "X"}}, "invalidValue", 400),
    ("no extension", {ENTERPRISE: None}, "invalidValue", 400),
    ("no email", {"emails": []}, "invalidValue", 400),
    ("not an email", {"emails": [{"value": "ada at example"}]}, "invalidValue", 400),
    ("no userName", {"userName": None}, "invalidValue", 400),
    ("unknown attribute", {"favouriteColour": "teal"}, "invalidSyntax", 400),
    ("wrong type", {"emails": "ada@example.com"}, "invalidValue", 400),
    ("a control character", {ENTERPRISE: {"employeeNumber": "E\x00100"}}, "invalidValue", 400),
    ("an over-long title", {"title": "x" * 201}, "invalidValue", 400),
]


def _bad_body(change: Any) -> tuple[bytes | None, Any]:
    if isinstance(change, bytes):
        return change, None
    body = user(**{k: v for k, v in change.items() if k not in ("userName",)})
    body.update({k: v for k, v in change.items() if v is not None or k != ENTERPRISE})
    if change.get(ENTERPRISE, "") is None:
        del body[ENTERPRISE]
    if change.get("userName", "") is None:
        del body["userName"]
    return None, body


@pytest.mark.parametrize(("why", "change", "scim_type", "status"), _BAD, ids=[b[0] for b in _BAD])
def test_a_bad_body_is_a_scim_400_and_changes_nothing(
    scim: Scim, why: str, change: Any, scim_type: str | None, status: int
) -> None:
    made = scim.create()
    before = scim.snapshot()
    raw, body = _bad_body(change)
    for method, path in (("POST", "Users"), ("PUT", f"Users/{made['id']}")):
        if raw is not None:
            headers = {"Content-Type": "application/scim+json"}
            answer = scim.call(method, path, content=raw, headers=headers)
        else:
            answer = scim.call(method, path, json=body)
        _error(answer, status, scim_type)
    assert scim.snapshot() == before


def test_wrong_media_type_stale_version_and_bad_patch_change_nothing(scim: Scim) -> None:
    made = scim.create()
    before = scim.snapshot()
    form = scim.call("POST", "Users", content=b"userName=x", headers={"Content-Type": "text/plain"})
    _error(form, 415)
    stale = scim.call("PUT", f"Users/{made['id']}", json=user(active=False), headers={"If-Match": 'W/"7"'})
    _error(stale, 412)
    _error(scim.patch(made["id"], {"op": "shuffle", "path": "title", "value": "x"}), 400, "invalidValue")
    _error(scim.patch(made["id"], {"op": "replace", "path": "title[", "value": "x"}), 400, "invalidPath")
    _error(scim.patch(made["id"], {"op": "remove", "path": "active"}), 400, "invalidValue")
    _error(scim.patch(made["id"], {"op": "remove", "path": "userName"}), 400, "mutability")
    _error(scim.patch(made["id"]), 400, "invalidValue")
    assert scim.snapshot() == before


# --- mounting ------------------------------------------------------------------------------------


def test_scim_is_mounted_only_when_enabled(store: Any) -> None:
    from fastapi.testclient import TestClient

    from accessctl.tokens import Scope, create_token
    from tests.hr.test_scim_support import T0

    token = create_token(store, name="entra", scope=Scope.HR, by="test", now=T0)[1]
    auth = {"Authorization": f"Bearer {token}"}
    for enabled, status in ((False, 404), (True, 200)):
        settings = Settings(hr={"scim": {"enabled": enabled}})
        app = create_app(settings, store, liveness=Liveness(), metrics=ServiceMetrics(store))
        answer = TestClient(app).get("/scim/v2/ServiceProviderConfig", headers=auth)
        assert answer.status_code == status, answer.text
        assert ("/scim/v2/Users" in app.openapi()["paths"]) is enabled


def test_on_postgresql_too(any_store: Any) -> None:
    """The write transaction differs between the two stores: a hire, an Entra termination, a
    DELETE of another, each with its job."""
    app, _ = scim_app(any_store)
    scim = Scim(any_store, app, None)
    first = scim.create()
    second = scim.create(user_name="grace@example.com", employee_number="E1")
    assert scim.patch(first["id"], {"op": "Replace", "path": "active", "value": "False"}).status_code == 200
    assert scim.call("DELETE", f"Users/{second['id']}").status_code == 204
    assert [j.kind for j in scim.jobs()] == ["leaver", "leaver"]
    assert len(scim.call("GET", "Users").json()["Resources"]) == 1


def test_a_new_employee_number_rekeys_the_person_unless_another_holds_it(scim: Scim) -> None:
    made = scim.create()
    scim.create(user_name="grace@example.com", employee_number="E1")
    answer = scim.call("PUT", f"Users/{made['id']}", json=user(employee_number="E100-B"))
    assert answer.status_code == 200, answer.text
    person = scim.person("E100-B")
    assert person.email == "ada@example.com"
    before = scim.snapshot()
    taken = scim.call("PUT", f"Users/{made['id']}", json=user(employee_number="E1"))
    assert "belongs to another person" in _error(taken, 409, "uniqueness")
    assert scim.snapshot() == before
    # later events still find them
    assert scim.patch(made["id"], {"op": "replace", "path": "active", "value": "false"}).status_code == 200
    assert scim.jobs()[-1].person_id == person.id
