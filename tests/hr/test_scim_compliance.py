"""scim2-tester's RFC 7643/7644 checks against /scim/v2/ (discovery, create, read, list, attribute
selection, PUT, PATCH add/remove/replace on every attribute, DELETE, errors): every check that
applies passes; the only ones skipped are those the server says it does not support."""

from __future__ import annotations

from collections import Counter

from scim2_models import ScimProvider
from scim2_tester import Status, check_server

from tests.hr.test_scim_support import FIXTURES, InProcessScimClient, Scim

globals().update(FIXTURES)


def test_every_scim2_tester_check_that_applies_passes(scim: Scim) -> None:
    scim.http.headers["Authorization"] = f"Bearer {scim.tokens['hr']}"
    client = InProcessScimClient(scim.http, provider=ScimProvider())
    results = check_server(client)
    failed = [r for r in results if r.status not in (Status.SUCCESS, Status.SKIPPED)]
    assert failed == [], "\n".join(f"{r.title} [{r.resource_type}]: {r.reason}" for r in failed)
    skipped = {r.title: r.reason for r in results if r.status is Status.SKIPPED}
    # the one thing not served: a search across every resource type at once (answered 501)
    assert set(skipped) == {"search_with_attributes"}, skipped
    counted = Counter(r.title for r in results if r.status is Status.SUCCESS)
    for title in ("object_creation", "object_query", "object_replacement", "object_deletion", "random_url"):
        assert counted[title] >= 1, title
    assert counted["check_replace_attribute"] >= 10  # each attribute of User and its extension
