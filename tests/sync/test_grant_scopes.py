"""A grant's scopes in the store: the resource sets an Okta custom role is held over, each
assignment's own, kept together on the one grant row (direct ones win over inherited ones)."""

from __future__ import annotations

from datetime import UTC, datetime

from accessctl.sync.writer import resolve_grants
from connectors.base import EntitlementKind, GrantRecord

ROLE = EntitlementKind.ROLE
SEEN = datetime(2026, 12, 2, tzinfo=UTC)


def _scopes(*records: GrantRecord) -> list[tuple[bool, list[str] | None]]:
    batch = resolve_grants(records, {"00u1": 1}, {("role", "cr0a"): 7, ("role", "SUPER_ADMIN"): 8}, SEEN)
    return [(row["inherited"], row["scopes"]) for row in batch.rows]


def test_a_custom_role_held_over_two_resource_sets_keeps_both() -> None:
    assert _scopes(
        GrantRecord("00u1", ROLE, "cr0a", scope="iamB"),
        GrantRecord("00u1", ROLE, "cr0a", scope="iamA"),
        GrantRecord("00u1", ROLE, "cr0a", scope="iamA"),
    ) == [(False, ["iamA", "iamB"])]


def test_direct_assignments_decide_the_scopes_over_one_through_a_group() -> None:
    through_group = GrantRecord("00u1", ROLE, "cr0a", inherited=True, scope="iamG")
    direct = GrantRecord("00u1", ROLE, "cr0a", scope="iamA")
    assert _scopes(through_group, direct) == [(False, ["iamA"])]
    assert _scopes(direct, through_group) == [(False, ["iamA"])]
    assert _scopes(through_group) == [(True, ["iamG"])]


def test_a_standard_role_has_no_scopes() -> None:
    assert _scopes(GrantRecord("00u1", ROLE, "SUPER_ADMIN")) == [(False, None)]
