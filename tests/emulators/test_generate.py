"""The synthetic-org generator: deterministic, messy the way real companies are, referentially sound."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from connectors.emulators.generate import REFERENCE, generate_org, okta_benchmark_directory
from connectors.emulators.model import Account, Directory, SyntheticOrg
from connectors.emulators.roster import read_roster, write_roster

PROVIDERS = ("okta", "entra", "google")


def _by_person(directory: Directory) -> dict[str, Account]:
    return {a.person_employee_id: a for a in directory.accounts if a.person_employee_id}


def _privileged_holders(directory: Directory) -> set[str]:
    holders = {k for g in directory.groups if g.privileged for k in g.member_keys}
    groups = {g.key: g for g in directory.groups}
    through = {k for r in directory.roles for g in r.assigned_group_keys for k in groups[g].member_keys}
    return holders | through | {k for r in directory.roles for k in r.assigned_keys}


def _grants(directory: Directory) -> int:
    return (
        sum(len(g.member_keys) for g in directory.groups)
        + sum(len(a.assigned_keys) for a in directory.apps)
        + sum(len(r.assigned_keys) for r in directory.roles)
    )


def test_same_seed_same_org_other_seed_different_org() -> None:
    first, again, other = generate_org(300, seed=5), generate_org(300, seed=5), generate_org(300, seed=6)
    assert first == again
    assert first.people != other.people
    assert [a.login for a in first.okta.accounts] != [a.login for a in other.okta.accounts]


def test_dates_come_from_the_fixed_reference_not_the_clock(org_1000: SyntheticOrg) -> None:
    assert all(p.hire_date <= REFERENCE.date() for p in org_1000.people)
    for provider in PROVIDERS:
        logins = [a.last_login for a in org_1000.directory(provider).accounts if a.last_login]
        assert max(logins) <= REFERENCE


def test_hierarchy_has_one_ceo_real_departments_and_sane_spans(org_1000: SyntheticOrg) -> None:
    people = org_1000.people
    ceos = [p for p in people if p.manager_employee_id is None]
    assert len(ceos) == 1 and ceos[0].title == "Chief Executive Officer"
    assert {"Engineering", "Sales", "Finance", "IT", "HR"} <= {p.department for p in people}
    reports: dict[str, int] = {}
    for person in people:
        if person.manager_employee_id:
            reports[person.manager_employee_id] = reports.get(person.manager_employee_id, 0) + 1
    spans = sorted(reports.values())
    assert 4 <= spans[len(spans) // 2] <= 9  # median span of control
    assert len({p.employee_id for p in people}) == len(people)
    assert len({p.email for p in people}) == len(people)


def test_contractors_and_terminated_people_with_lingering_accounts(org_1000: SyntheticOrg) -> None:
    people = org_1000.people
    contractors = sum(p.employment_type == "contractor" for p in people)
    assert 0.05 * len(people) <= contractors <= 0.15 * len(people)
    terminated = [p for p in people if p.status == "terminated"]
    assert terminated and all(p.termination_date is not None for p in terminated)
    assert all(p.termination_date is None for p in people if p.status == "active")
    lingering = {
        p.employee_id
        for provider in PROVIDERS
        for p in terminated
        if (acct := _by_person(org_1000.directory(provider)).get(p.employee_id)) and acct.status == "active"
    }
    assert lingering, "some leavers still have an active account somewhere"


def test_each_provider_misses_a_few_percent_of_active_people(org_1000: SyntheticOrg) -> None:
    active = {p.employee_id for p in org_1000.people if p.status == "active"}
    for provider in PROVIDERS:
        missing = active - set(_by_person(org_1000.directory(provider)))
        assert 0.005 * len(active) <= len(missing) <= 0.08 * len(active), provider


def test_orphans_shared_and_service_accounts(org_1000: SyntheticOrg) -> None:
    hr_ids = {p.employee_id for p in org_1000.people}
    for provider in PROVIDERS:
        accounts = org_1000.directory(provider).accounts
        orphans = [a for a in accounts if a.person_employee_id is None and not (a.is_shared or a.is_service)]
        assert orphans, provider
        assert all(a.person_employee_id in hr_ids for a in accounts if a.person_employee_id)
        shared = {a.login.split("@")[0] for a in accounts if a.is_shared}
        assert {"it-admin", "helpdesk", "shared-finance"} <= shared, provider
        assert any(a.is_service for a in accounts), provider
    services = {a.login.split("@")[0] for a in org_1000.okta.accounts if a.is_service}
    assert {"build-bot", "svc-backup"} <= services


def test_admins_without_mfa_and_varied_factors(org_1000: SyntheticOrg) -> None:
    for provider in PROVIDERS:
        directory = org_1000.directory(provider)
        by_key = {a.key: a for a in directory.accounts}
        admins = [by_key[k] for k in _privileged_holders(directory)]
        assert any(not a.mfa_factors for a in admins), provider
        humans = [a for a in directory.accounts if a.person_employee_id]
        without = sum(not a.mfa_factors for a in humans) / len(humans)
        assert 0.08 <= without <= 0.25, provider
        assert len({tuple(a.mfa_factors) for a in humans}) >= 4, provider


def test_accounts_inactive_for_ninety_days_or_never_used(org_1000: SyntheticOrg) -> None:
    cutoff = REFERENCE - timedelta(days=90)
    for provider in PROVIDERS:
        active = [a for a in org_1000.directory(provider).accounts if a.status == "active"]
        assert any(a.last_login is None for a in active), provider
        assert any(a.last_login is not None and a.last_login < cutoff for a in active), provider
        recent = sum(a.last_login is not None and a.last_login >= cutoff for a in active)
        assert recent > 0.7 * len(active), provider


def test_nested_groups_in_entra_and_google_only(org_1000: SyntheticOrg) -> None:
    assert not any(g.child_group_keys for g in org_1000.okta.groups)
    assert any(g.child_group_keys for g in org_1000.entra.groups)
    assert any(g.child_group_keys for g in org_1000.google.groups)
    assert [g.name for g in org_1000.okta.groups if g.kind == "BUILT_IN"] == ["Everyone"]


def test_privileged_groups_apps_and_roles(org_1000: SyntheticOrg) -> None:
    okta, entra, google = org_1000.okta, org_1000.entra, org_1000.google
    assert {"aws-prod-admins", "okta-super-admins"} <= {g.name for g in okta.groups if g.privileged}
    assert "Domain Admins" in {g.name for g in entra.groups if g.privileged}
    assert any(g.privileged for g in google.groups)
    for directory in (okta, entra):
        privileged_apps = {a.label for a in directory.apps if a.privileged}
        assert {"AWS Console", "GitHub Enterprise"} <= privileged_apps
        assert any(not a.privileged for a in directory.apps)
    roles = {p: {r.name for r in org_1000.directory(p).roles if r.assigned_keys} for p in PROVIDERS}
    assert {"SUPER_ADMIN", "ORG_ADMIN"} <= roles["okta"]
    assert {"Global Administrator", "Privileged Role Administrator"} <= roles["entra"]
    assert {"_SEED_ADMIN_ROLE", "_USER_MANAGEMENT_ADMIN_ROLE"} <= roles["google"]


def test_admin_roles_held_through_groups_and_an_okta_custom_role(org_1000: SyntheticOrg) -> None:
    expected = {
        "okta": ("helpdesk-admins", "HELP_DESK_ADMIN"),
        "entra": ("Helpdesk Admins", "Helpdesk Administrator"),
        "google": ("helpdesk-admins", "_HELP_DESK_ADMIN_ROLE"),
    }
    for provider, (group_name, role_name) in expected.items():
        directory = org_1000.directory(provider)
        groups = {g.key: g for g in directory.groups}
        held = [(r.name, groups[k]) for r in directory.roles for k in r.assigned_group_keys]
        assert [(name, group.name) for name, group in held] == [(role_name, group_name)], provider
        group = held[0][1]
        by_key = {a.key: a for a in directory.accounts}
        assert 3 <= len(group.member_keys) <= 5 and "shared-helpdesk" in group.member_keys, provider
        assert not group.child_group_keys and group.privileged, provider
        assert all(by_key[k].status == "active" for k in group.member_keys), provider
        assert group.role_assignable is (provider == "entra")
    entra_role = next(r for r in org_1000.entra.roles if r.name == "Helpdesk Administrator")
    assert len(entra_role.assigned_keys) == 1  # one member holds it directly as well
    (custom,) = [r for r in org_1000.okta.roles if r.custom]
    assert custom.name == "Access Reviewer" and custom.description and not custom.assigned_group_keys
    (reviewer,) = custom.assigned_keys
    assert next(a for a in org_1000.okta.accounts if a.key == reviewer).department == "Legal"
    assert not any(r.custom for p in ("entra", "google") for r in org_1000.directory(p).roles)


def test_the_same_person_has_different_addresses_in_different_providers(org_1000: SyntheticOrg) -> None:
    okta, entra, google = (_by_person(org_1000.directory(p)) for p in PROVIDERS)
    common = set(okta) & set(entra) & set(google)
    google_renamed = [e for e in common if google[e].login != okta[e].login]
    assert google_renamed
    assert all(okta[e].login in google[e].aliases for e in google_renamed)
    onmicrosoft = [e for e in common if entra[e].login.endswith(".onmicrosoft.com")]
    assert onmicrosoft
    assert all(entra[e].email == okta[e].login for e in onmicrosoft)
    for provider in PROVIDERS:
        accounts = _by_person(org_1000.directory(provider)).values()
        assert any(a.employee_id is None for a in accounts), f"{provider}: some lack an employee id"
        assert sum(a.employee_id is None for a in accounts) < 0.15 * len(accounts)


def test_referential_integrity(org_1000: SyntheticOrg) -> None:
    ids = {p.employee_id: p for p in org_1000.people}
    for person in org_1000.people:  # managers exist, no cycles
        seen: set[str] = set()
        current = person
        while current.manager_employee_id is not None:
            assert current.employee_id not in seen, "manager cycle"
            seen.add(current.employee_id)
            current = ids[current.manager_employee_id]
    for provider in PROVIDERS:
        directory = org_1000.directory(provider)
        keys = [a.key for a in directory.accounts]
        assert len(set(keys)) == len(keys)
        logins = [a.login.lower() for a in directory.accounts]
        assert len(set(logins)) == len(logins), provider
        accounts = set(keys)
        groups = {g.key: g for g in directory.groups}
        assert len(groups) == len(directory.groups)
        assert len({g.name for g in directory.groups}) == len(directory.groups)
        for account in directory.accounts:
            assert account.manager_key is None or account.manager_key in accounts
        for group in directory.groups:
            assert set(group.member_keys) <= accounts, group.name
            assert set(group.owner_keys) <= accounts, group.name
            assert set(group.child_group_keys) <= set(groups), group.name
        for app in directory.apps:
            assert set(app.assigned_keys) <= accounts and set(app.assigned_group_keys) <= set(groups)
        for role in directory.roles:
            assert set(role.assigned_keys) <= accounts
            assert set(role.assigned_group_keys) <= set(groups)
        _assert_no_group_cycles(groups)


def _assert_no_group_cycles(groups: dict) -> None:
    state: dict[str, int] = {}

    def visit(key: str) -> None:
        assert state.get(key) != 1, f"nesting cycle through {key}"
        if state.get(key) == 2:
            return
        state[key] = 1
        for child in groups[key].child_group_keys:
            visit(child)
        state[key] = 2

    for key in groups:
        visit(key)


def test_scale_ratios_at_two_thousand_people() -> None:
    org = generate_org(2000, seed=11)
    assert len(org.people) == 2000
    accounts = sum(len(org.directory(p).accounts) for p in PROVIDERS)
    assert 2.7 <= accounts / 2000 <= 3.3
    grants = sum(_grants(org.directory(p)) for p in PROVIDERS)
    assert 7 <= grants / accounts <= 14


def test_okta_benchmark_directory_shape() -> None:
    org = okta_benchmark_directory(users=2000, groups=100, group_size=100, seed=2)
    assert len(org.okta.accounts) == 2000
    everyone = [g for g in org.okta.groups if g.kind == "BUILT_IN"]
    assert len(everyone) == 1 and everyone[0].name == "Everyone" and len(everyone[0].member_keys) == 2000
    regular = [g for g in org.okta.groups if g.kind != "BUILT_IN"]
    assert len(regular) == 100 and all(len(g.member_keys) == 100 for g in regular)
    assert not org.entra.accounts and not org.google.accounts and not org.people
    assert okta_benchmark_directory(users=2000, groups=100, seed=2) == org


def test_default_benchmark_has_sixty_thousand_memberships() -> None:
    org = okta_benchmark_directory()
    assert sum(len(g.member_keys) for g in org.okta.groups) == 60_000


@pytest.mark.parametrize("name", ["roster.csv", "roster.jsonl"])
def test_roster_round_trips(tmp_path: Path, small_org: SyntheticOrg, name: str) -> None:
    path = write_roster(small_org.people, tmp_path / name)
    assert read_roster(path) == small_org.people
    if name.endswith(".csv"):
        header = path.read_text().splitlines()[0]
        assert header.startswith("employee_id,first_name,last_name,email,department,title")
