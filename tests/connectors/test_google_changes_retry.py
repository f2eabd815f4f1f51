"""The Google changes feed's users phase retried as the sync runner retries it: same cursor, same page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.base import AccountStatus, TransientError
from connectors.emulators.generate import generate_org
from connectors.emulators.model import SyntheticOrg
from connectors.emulators.runner import RunningEmulators, start_emulators
from connectors.google import GoogleConnector
from connectors.google.connector import READ_PAGE_WHOLE_ABOVE
from tests.connectors.helpers import drain_changes, google_connector, run

USERS = "/admin/directory/v1/users"


@pytest.fixture(scope="module")
def org() -> SyntheticOrg:
    return generate_org(160, seed=8)


@pytest.fixture
def google(tmp_path: Path, org: SyntheticOrg) -> Iterator[RunningEmulators]:
    running = start_emulators(org, workdir=tmp_path, tls=True, strict_auth=True, providers=("google",))
    yield running
    running.stop()


def connect(running: RunningEmulators) -> GoogleConnector:
    return google_connector(running, page_size=50)


def test_a_much_changed_page_whose_second_read_failed_is_read_again_with_the_same_cursor(
    google: RunningEmulators,
) -> None:
    """The second page has more than READ_PAGE_WHOLE_ABOVE changed users, so it is read twice (ids
    and etags, then whole); the whole read fails (503).  The runner retries with the cursor it gave:
    the retry reads the page again and reports every changed user, suspended."""
    state = google.providers["google"].server.app.app.state.google
    control = google.providers["google"].control
    listed = sorted(state.users.values(), key=lambda u: u.body["primaryEmail"])
    second_page = [u.id for u in listed[50:100] if not u.body["suspended"]][: READ_PAGE_WHOLE_ABOVE + 3]

    async def body(c: GoogleConnector) -> Any:
        start = await drain_changes(c, None)
        for uid in second_page:
            state.patch_user(uid, {"suspended": True})
        first = await c.changes_since(start.cursor)  # page 1 of the listing: unchanged
        assert first.more and not first.accounts and not first.account_ids
        # counted from here: page 2's ids and etags are a "page 1", its whole read a "page 2"
        control.set_faults(f"page:{USERS}:2:503")
        with pytest.raises(TransientError):
            await c.changes_since(first.cursor)
        control.set_faults(None)
        return await c.changes_since(first.cursor)

    page = run(connect(google), body)
    assert sorted(a.external_id for a in page.accounts) == sorted(second_page)
    assert all(a.status is AccountStatus.SUSPENDED for a in page.accounts) and not page.account_ids
    assert page.more and page.requests == 2
