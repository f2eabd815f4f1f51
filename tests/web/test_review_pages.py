"""The reviewer's pages and the admin's campaign pages: every link rule in-process (httpx through
Starlette's TestClient), and the whole path in a real headless Chromium: the invitation email from a
real SMTP server, its link opened against a real uvicorn server, decisions submitted, confirmed."""

from __future__ import annotations

import asyncio
import html
import io
import json
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from accessctl.reviews.campaigns import ASSIGNMENTS, CAMPAIGNS, ITEMS, start_campaign
from accessctl.reviews.tokens import issue_token
from accessctl.settings import CampaignSettings, Settings
from accessctl.sync import clock
from accessctl.tokens import Scope, create_token
from accessctl.web import create_app
from tests.conftest import in_ci
from tests.reviews.org import NOW, seed

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(autouse=True)
def _campaign_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pages' clock reads the seeded org's 'now' (the campaign runs two weeks from it)."""
    monkeypatch.setattr(clock, "now", lambda: NOW + timedelta(hours=1))


def _start(engine: Engine) -> int:
    with engine.begin() as conn:
        seed(conn)
        settings = CampaignSettings(name="q1", owner="owner@example.com")
        campaign_id = start_campaign(conn, settings, actor="t", now=NOW).campaign_id
    assert campaign_id is not None
    return campaign_id


def _links(engine: Engine, campaign_id: int) -> dict[str, str]:
    """A fresh link token per reviewer (what each invitation email carries)."""
    with engine.begin() as conn:
        rows = conn.execute(sa.select(ASSIGNMENTS).where(ASSIGNMENTS.c.campaign_id == campaign_id)).all()
        return {r.reviewer_email: issue_token(conn, r.id, expires_at=NOW + timedelta(days=14)) for r in rows}


def _items(engine: Engine, reviewer: str) -> dict[str, Any]:
    """entitlement@login -> item row, of one reviewer."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(ITEMS).where(ITEMS.c.reviewer_email == reviewer)).all()
    return {f"{r.snapshot['entitlement']}@{r.snapshot['login']}": r for r in rows}


def _decide_audits(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT * FROM audit_event WHERE action = 'review.decide' ORDER BY seq")
        ).all()


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)


class Browser:
    """The app in-process over httpx, keeping cookies between requests like a browser."""

    def __init__(self, app: Any) -> None:
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        self.client = httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30)
        self.cookies = self.client.cookies

    def request(self, method: str, path: str, *, follow_redirects: bool = True, **kw: Any) -> httpx.Response:
        call = self.client.request(method, path, follow_redirects=follow_redirects, **kw)
        return self.loop.run_until_complete(call)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@pytest.fixture
def site(engine: Engine) -> Iterator[tuple[Browser, Engine, int, dict[str, str]]]:
    campaign_id = _start(engine)
    browser = Browser(create_app(Settings(), engine))
    try:
        yield browser, engine, campaign_id, _links(engine, campaign_id)
    finally:
        browser.close()


ADMINS_ANN = "Admins@ann@example.com"
ENG_BOB = "Engineering@bob@example.com"
ENG_LEFT = "Engineering@left@example.com"


def test_the_page_groups_items_by_person_highlights_flags_and_a_get_changes_nothing(site: Any) -> None:
    client, engine, _, links = site
    before = _items(engine, "mia@example.com")
    page = client.get(f"/review/{links['mia@example.com']}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    body = page.text
    assert '<h2 id="person-1">ANN Test</h2>' in body
    assert body.index("ANN Test") < body.index("BOB Test") < body.index("LEFT Test")
    assert "no MFA enrolled on an account holding privileged access" in body
    assert "terminated in HR" in body
    assert "0 of 4</strong> decided" in body
    assert "Keep all 2 unflagged items" in body
    ann_admins = before[ADMINS_ANN].id
    assert f'<label for="justification-{ann_admins}" class="why">Why keep it?' in body
    # every control has a label
    for control in re.findall(r'<(?:input|textarea)[^>]*id="([^"]+)"', body):
        assert f'for="{control}"' in body, control
    assert "<script" not in body
    client.get(f"/review/{links['mia@example.com']}/done")  # the confirmation page is a GET too
    after = _items(engine, "mia@example.com")
    assert [r.decision for r in after.values()] == [None] * 4 and _decide_audits(engine) == []


def test_pages_say_no_inline_script_no_framing_no_referrer_and_no_caching(site: Any) -> None:
    client, _, _, links = site
    for path in (f"/review/{links['mia@example.com']}", "/review/not-a-token", "/admin/campaigns"):
        response = client.get(path)
        csp = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp, path
        assert "unsafe-inline" not in csp and "script-src" not in csp, path
        assert response.headers["referrer-policy"] == "no-referrer", path
        assert response.headers["cache-control"] == "no-store", path
        assert response.headers["x-frame-options"] == "DENY", path
    client.cookies.clear()
    cookie = client.get(f"/review/{links['vp@example.com']}").headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/review/" in cookie


def test_a_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing(site: Any) -> None:
    client, engine, _, links = site
    mia, vp = links["mia@example.com"], links["vp@example.com"]
    bob = _items(engine, "mia@example.com")[ENG_BOB].id
    good = _csrf(client.get(f"/review/{mia}").text)
    vp_csrf = _csrf(client.get(f"/review/{vp}").text)  # the same browser's token for another link
    attempts = [
        (f"/review/{mia}/decisions", {f"decision-{bob}": "revoke"}),
        (f"/review/{mia}/decisions", {"csrf": "0" * 64, f"decision-{bob}": "revoke"}),
        (f"/review/{mia}/decisions", {"csrf": vp_csrf, f"decision-{bob}": "revoke"}),
        (f"/review/{mia}/keep-unflagged", {}),
        (f"/review/{mia}/keep-unflagged", {"csrf": good[:-1] + ("0" if good[-1] != "0" else "1")}),
    ]
    for path, form in attempts:
        response = client.post(path, data=form)
        assert response.status_code == 403, (path, form)
        assert "did not come from your review page" in response.text and "Traceback" not in response.text
    # the right token from another browser (no cookie of its own) does not work either
    client.cookies.clear()
    response = client.post(f"/review/{mia}/decisions", data={"csrf": good, f"decision-{bob}": "revoke"})
    assert response.status_code == 403
    # nor a form posted from another site's page
    client.get(f"/review/{mia}")
    fresh = _csrf(client.get(f"/review/{mia}").text)
    response = client.post(
        f"/review/{mia}/decisions",
        data={"csrf": fresh, f"decision-{bob}": "revoke"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert all(r.decision is None for r in _items(engine, "mia@example.com").values())
    assert _decide_audits(engine) == []


def test_one_reviewers_link_cannot_decide_another_reviewers_items(site: Any) -> None:
    client, engine, _, links = site
    mia = links["mia@example.com"]
    page = client.get(f"/review/{mia}").text
    vp_items = _items(engine, "vp@example.com")
    assert vp_items and all(f'item-{r.id}"' not in page for r in vp_items.values())  # nor read them
    bob = _items(engine, "mia@example.com")[ENG_BOB].id
    theirs = next(iter(vp_items.values())).id
    form = {"csrf": _csrf(page), f"decision-{bob}": "revoke", f"decision-{theirs}": "keep"}
    response = client.post(f"/review/{mia}/decisions", data=form)
    assert response.status_code == 403
    assert "is not mia@example.com's to decide" in html.unescape(response.text)
    assert _items(engine, "mia@example.com")[ENG_BOB].decision is None  # the whole form: nothing
    assert all(r.decision is None for r in _items(engine, "vp@example.com").values())
    response = client.post(f"/review/{mia}/decisions", data={"csrf": _csrf(page), "decision-999999": "keep"})
    assert response.status_code == 404 and _decide_audits(engine) == []


def test_deciding_records_who_when_ip_and_user_agent_and_shows_the_confirmation(site: Any) -> None:
    client, engine, _, links = site
    mia = links["mia@example.com"]
    items = _items(engine, "mia@example.com")
    page = client.get(f"/review/{mia}").text
    form = {
        "csrf": _csrf(page),
        f"decision-{items[ADMINS_ANN].id}": "keep",
        f"justification-{items[ADMINS_ANN].id}": "on-call admin until March",
        f"decision-{items[ENG_LEFT].id}": "revoke",
        f"decision-{items[ENG_BOB].id}": "",  # left open
    }
    response = client.post(
        f"/review/{mia}/decisions",
        data=form,
        # the Origin of web.base_url (a proxy in front) is this site too
        headers={"User-Agent": "ReviewBrowser/1.0", "Origin": "http://127.0.0.1:8080"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == f"/review/{mia}/done"
    done = client.get(response.headers["location"])
    assert done.status_code == 200 and "Thank you, your decisions are saved" in done.text
    assert "2 of 4</strong> decided" in done.text and "2 items still to decide" in done.text
    assert "on-call admin until March" in done.text
    after = _items(engine, "mia@example.com")
    assert (
        after[ADMINS_ANN].decision == "keep"
        and after[ADMINS_ANN].justification == "on-call admin until March"
    )
    assert after[ENG_LEFT].decision == "revoke" and after[ENG_LEFT].decided_by == "mia@example.com"
    assert after[ENG_BOB].decision is None
    audits = _decide_audits(engine)
    assert len(audits) == 2
    for audit in audits:
        details = (
            audit.details if isinstance(audit.details, dict) else __import__("json").loads(audit.details)
        )
        assert audit.actor == "mia@example.com"
        assert details["ip"] == "203.0.113.7" and details["user_agent"] == "ReviewBrowser/1.0"
    # submitting the same page again records nothing new (a replay changes nothing)
    client.post(f"/review/{mia}/decisions", data=form)
    assert len(_decide_audits(engine)) == 2


def test_keeping_flagged_privileged_access_needs_a_justification_and_then_nothing_is_saved(site: Any) -> None:
    client, engine, _, links = site
    mia = links["mia@example.com"]
    items = _items(engine, "mia@example.com")
    form = {
        "csrf": _csrf(client.get(f"/review/{mia}").text),
        f"decision-{items[ADMINS_ANN].id}": "keep",
        f"justification-{items[ADMINS_ANN].id}": "   ",
        f"decision-{items[ENG_BOB].id}": "revoke",
    }
    response = client.post(f"/review/{mia}/decisions", data=form)
    assert response.status_code == 422
    assert "Nothing was saved" in response.text and "needs a justification" in response.text
    assert f'id="problem-{items[ADMINS_ANN].id}"' in response.text
    assert re.search(rf'id="revoke-{items[ENG_BOB].id}"[^>]*checked', response.text)  # the choice is kept
    assert all(r.decision is None for r in _items(engine, "mia@example.com").values())


def test_keep_all_unflagged_keeps_only_the_open_unflagged_items(site: Any) -> None:
    client, engine, _, links = site
    mia = links["mia@example.com"]
    response = client.post(
        f"/review/{mia}/keep-unflagged", data={"csrf": _csrf(client.get(f"/review/{mia}").text)}
    )
    assert response.status_code == 200 and "Kept 2 unflagged items." in response.text
    decided = {key: r.decision for key, r in _items(engine, "mia@example.com").items()}
    assert decided == {
        ADMINS_ANN: None,
        ENG_LEFT: None,
        ENG_BOB: "keep",
        "Engineering@ann@example.com": "keep",
    }
    assert "Keep all" not in response.text  # nothing left to keep in bulk


def test_expired_revoked_unknown_and_closed_links_get_a_friendly_page_and_change_nothing(site: Any) -> None:
    client, engine, campaign_id, links = site
    mia, vp, ceo = links["mia@example.com"], links["vp@example.com"], links["ceo@example.com"]
    csrf = _csrf(client.get(f"/review/{mia}").text)
    with engine.begin() as conn:
        conn.execute(
            sa.update(ASSIGNMENTS)
            .where(ASSIGNMENTS.c.reviewer_email == "mia@example.com")
            .values(token_expires_at=NOW)
        )
        conn.execute(
            sa.update(ASSIGNMENTS)
            .where(ASSIGNMENTS.c.reviewer_email == "vp@example.com")
            .values(token_revoked_at=NOW)
        )
    for token, why in ((mia, "has expired"), (vp, "was revoked"), ("x" * 43, "is not valid")):
        page = client.get(f"/review/{token}")
        assert page.status_code == 401 and f"This review link {why}." in page.text
        assert "<h1>This link does not work</h1>" in page.text and "Traceback" not in page.text
    bob = _items(engine, "mia@example.com")[ENG_BOB].id
    assert (
        client.post(f"/review/{mia}/decisions", data={"csrf": csrf, f"decision-{bob}": "keep"}).status_code
        == 401
    )
    with engine.begin() as conn:
        conn.execute(sa.update(CAMPAIGNS).where(CAMPAIGNS.c.id == campaign_id).values(status="closed"))
    assert "This campaign is closed" in client.get(f"/review/{ceo}").text
    assert _decide_audits(engine) == []


def test_admin_pages_need_an_admin_token_as_a_header_or_from_the_login_form(site: Any) -> None:
    client, engine, campaign_id, _ = site
    admin = create_token(engine, name="ops", scope=Scope.ADMIN, by="t", now=NOW)[1]
    reader = create_token(engine, name="auditor", scope=Scope.READ, by="t", now=NOW)[1]
    refused = client.get("/admin/campaigns")
    assert refused.status_code == 401 and "Admin sign-in" in refused.text
    assert client.get("/admin/campaigns", headers={"Authorization": f"Bearer {reader}"}).status_code == 403
    listed = client.get("/admin/campaigns", headers={"Authorization": f"Bearer {admin}"})
    assert listed.status_code == 200 and f'href="/admin/campaigns/{campaign_id}">q1</a>' in listed.text
    wrong = client.post("/admin/login", data={"token": "acc_nope"})
    assert (
        wrong.status_code == 401
        and "not a live admin token" in wrong.text
        and "set-cookie" not in wrong.headers
    )
    login = client.post("/admin/login", data={"token": admin}, follow_redirects=False)
    assert login.status_code == 303
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin/" in cookie
    page = client.get(f"/admin/campaigns/{campaign_id}")
    assert page.status_code == 200 and "Progress per reviewer" in page.text
    assert "mia@example.com" in page.text and "0 / 4" in page.text
    assert "Overdue reviewers</h2>\n<p>None.</p>" in page.text
    assert "Undecided items: policy <strong>keep</strong>" in page.text
    assert client.get("/admin/campaigns/999").status_code == 404
    client.post("/admin/logout")
    assert client.get(f"/admin/campaigns/{campaign_id}").status_code == 401


def test_the_admin_page_lists_overdue_reviewers_after_the_due_date(site: Any, monkeypatch: Any) -> None:
    client, engine, campaign_id, _ = site
    admin = create_token(engine, name="ops", scope=Scope.ADMIN, by="t", now=NOW)[1]
    monkeypatch.setattr(clock, "now", lambda: NOW + timedelta(days=15))
    page = client.get(f"/admin/campaigns/{campaign_id}", headers={"Authorization": f"Bearer {admin}"}).text
    overdue = page.split('<ul class="overdue">')[1].split("</ul>")[0]
    assert "mia@example.com&gt;: 4 open" in overdue and "ceo@example.com" in overdue


# --- in a real browser ---------------------------------------------------------------------------------


def _chromium_or_skip() -> Any:
    """Playwright's sync API, with Debian's chromium there; missing in CI is a failure, not a skip."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        problem = "the playwright package is not installed (pip install -e '.[test]')"
    else:
        if Path(CHROMIUM).exists():
            return sync_playwright
        problem = f"{CHROMIUM} is missing (apt-get install -y chromium; .ci/run does it)"
    if in_ci():
        pytest.fail(problem)
    pytest.skip(problem)


@contextmanager
def _uvicorn(app: Any) -> Iterator[str]:
    import uvicorn

    from tests.reviews.smtp_server import free_port

    port = free_port()
    # as `accessctl serve` runs it: uvicorn's access log goes through accessctl's (redacting) logging
    server = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    server = uvicorn.Server(server)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
def test_a_reviewer_opens_the_emailed_link_in_chromium_decides_and_sees_the_confirmation(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync_playwright = _chromium_or_skip()
    from accessctl.logs import configure_logging
    from accessctl.notify.render import Templates
    from accessctl.notify.smtp import SmtpMailer
    from accessctl.reviews.mailing import Mailing, send_invitations
    from accessctl.settings import SmtpSettings
    from tests.reviews.smtp_server import parts, smtp_server

    log = io.StringIO()
    configure_logging(level="INFO", stream=log)
    # as in a fresh `accessctl serve` process: an earlier test's uvicorn may have given "uvicorn" (the
    # access log's parent) its own handler and propagate=False, and then nothing would reach our log
    for logger_name in ("uvicorn", "uvicorn.access"):
        logger = logging.getLogger(logger_name)
        for name, value in (
            ("handlers", []),
            ("propagate", True),
            ("disabled", False),
            ("level", logging.INFO),
        ):
            monkeypatch.setattr(logger, name, value)
    campaign_id = _start(engine)
    items = _items(engine, "mia@example.com")
    app = create_app(Settings(), engine)
    with _uvicorn(app) as base_url, smtp_server() as (inbox, smtp_port):
        smtp = SmtpSettings(host="127.0.0.1", port=smtp_port, retry_delay_s=0, timeout_s=5)
        with SmtpMailer(smtp) as mailer:
            mailing = Mailing(mailer.send, Templates(), base_url, "accessctl@example.com")
            assert send_invitations(engine, campaign_id, mailing, now=NOW).failed == []
        text = parts(inbox.to("mia@example.com")[0])["text/plain"]
        link = next(line for line in text.splitlines() if line.startswith(f"{base_url}/review/"))

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
            try:
                context = browser.new_context(
                    java_script_enabled=False, viewport={"width": 390, "height": 844}
                )
                page = context.new_page()
                page.set_default_timeout(10_000)
                assert page.goto(link).status == 200
                assert page.title() == "Access review q1 · accessctl"
                # readable on a phone: nothing wider than the screen
                assert page.evaluate("document.documentElement.scrollWidth") <= 390
                page.screenshot(path=str(tmp_path / "review-page-phone.png"), full_page=True)
                page.set_viewport_size({"width": 1280, "height": 900})
                page.screenshot(path=str(tmp_path / "review-page-desktop.png"), full_page=True)

                ann = page.locator(f"#item-{items[ADMINS_ANN].id}")
                ann.locator("label.keep").click()
                ann.get_by_label("Why keep it?").fill("on-call admin until March")
                # by keyboard: focus Bob's Keep, an arrow key moves the choice to Revoke
                page.focus(f"#keep-{items[ENG_BOB].id}")
                page.keyboard.press("Space")
                page.keyboard.press("ArrowRight")
                assert page.is_checked(f"#revoke-{items[ENG_BOB].id}")
                page.locator(f"#item-{items[ENG_LEFT].id} label.revoke").click()
                page.get_by_role("button", name="Submit decisions").click()
                page.wait_for_url(f"{link}/done")
                assert (
                    page.get_by_role("heading", level=1).inner_text() == "Thank you, your decisions are saved"
                )
                assert "3 of 4" in page.locator(".progress").inner_text()
                assert "1 item still to decide" in page.inner_text("main")
                context.close()
            finally:
                browser.close()

    after = _items(engine, "mia@example.com")
    assert (
        after[ADMINS_ANN].decision == "keep"
        and after[ADMINS_ANN].justification == "on-call admin until March"
    )
    assert after[ENG_BOB].decision == "revoke" and after[ENG_LEFT].decision == "revoke"
    token = link.rsplit("/", 1)[1]
    assert '"POST /review/ [redacted]/decisions HTTP/1.1" 303' in log.getvalue()
    assert token not in log.getvalue()  # the access log never carries a link's token
    audits = _decide_audits(engine)
    assert len(audits) == 3 and {a.actor for a in audits} == {"mia@example.com"}
    for audit in audits:
        details = (
            audit.details if isinstance(audit.details, dict) else __import__("json").loads(audit.details)
        )
        assert details["ip"] == "127.0.0.1" and "Chrome" in details["user_agent"]
    for name in ("review-page-phone.png", "review-page-desktop.png"):
        shot = tmp_path / name
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5_000
        if os.environ.get("SCREENSHOTS_DIR"):  # refresh docs/ by hand: SCREENSHOTS_DIR=docs
            shutil.copyfile(shot, Path(os.environ["SCREENSHOTS_DIR"]) / name)


def test_a_reviewer_passes_an_item_to_another_person_with_the_reassign_form(site: Any) -> None:
    client, engine, _, links = site
    mia, vp = links["mia@example.com"], links["vp@example.com"]
    page = client.get(f"/review/{mia}").text
    assert f'action="/review/{mia}/reassign"' in page and '<label for="reassign-to">' in page
    bob = _items(engine, "mia@example.com")[ENG_BOB].id
    ann_admins = _items(engine, "mia@example.com")[ADMINS_ANN].id
    theirs = next(iter(_items(engine, "vp@example.com").values())).id

    def reassigns() -> list[Any]:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT * FROM audit_event WHERE action = 'review.reassign'")).all()

    # no CSRF token, another reviewer's item: refused, nothing moves
    assert (
        client.post(f"/review/{mia}/reassign", data={"item": bob, "to": "vp@example.com"}).status_code == 403
    )
    refused = client.post(
        f"/review/{mia}/reassign", data={"csrf": _csrf(page), "item": theirs, "to": "x@example.com"}
    )
    assert refused.status_code == 403
    # a bad address, or the item's own person: the page again with why, nothing moves
    for to, why in (("not-an-address", "is not an email address"), ("ann@example.com", "their own access")):
        again = client.post(
            f"/review/{mia}/reassign", data={"csrf": _csrf(page), "item": ann_admins, "to": to}
        )
        assert again.status_code == 422 and why in html.unescape(again.text) and "Not passed on" in again.text
    assert (
        reassigns() == []
        and _items(engine, "mia@example.com")[ADMINS_ANN].reviewer_email == "mia@example.com"
    )

    done = client.post(
        f"/review/{mia}/reassign",
        data={"csrf": _csrf(page), "item": bob, "to": " VP@example.com "},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == f"/review/{mia}?passed=1"
    after = client.get(done.headers["location"]).text
    assert "Passed on: that item is theirs now" in after and f'id="item-{bob}"' not in after
    with engine.connect() as conn:
        item = conn.execute(sa.select(ITEMS).where(ITEMS.c.id == bob)).one()
    assert (item.reviewer_email, item.reassigned_from) == ("vp@example.com", "mia@example.com")
    [audit] = reassigns()
    details = audit.details if isinstance(audit.details, dict) else json.loads(audit.details)
    assert audit.actor == "mia@example.com" and details["to"] == "vp@example.com"
    theirs_now = client.get(f"/review/{vp}").text
    assert f'id="item-{bob}"' in theirs_now and "Passed to you by mia@example.com" in theirs_now
