"""The reviewer's pages (``/review/<token>``) and the admin's campaign pages (``/admin/...``), rendered
on the server from :mod:`accessctl.reviews` use cases; no JavaScript.

- The link's token names one reviewer of one campaign (:func:`resolve_token`); a GET only renders, a
  decision is a POST carrying a CSRF token: an HMAC, keyed by the link token, of a random value this
  browser also holds in an HttpOnly, SameSite=Strict cookie.  A missing or wrong one: 403, nothing done.
- Every page says: CSP without inline script, no framing, no referrer (the token stays in the URL
  bar), no caching.  A refusal is an HTML page with its 4xx status, never a traceback.
- Admin pages take the admin token as a bearer header, or from the HttpOnly cookie the login form sets.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable
from datetime import datetime
from functools import cache
from importlib import resources
from itertools import groupby
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from accessctl.reviews import decide as decisions
from accessctl.reviews.campaigns import (
    campaign_detail,
    get_campaign,
    items_for_reviewer,
    list_campaigns,
    plan_close,
)
from accessctl.reviews.errors import ReviewError, SelfReview
from accessctl.reviews.tokens import resolve_token
from accessctl.sync import clock
from accessctl.timestamps import utc
from accessctl.tokens import AuthFailure, Scope, authenticate

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

CSRF_COOKIE = "accessctl_csrf"
ADMIN_COOKIE = "accessctl_admin"
MAX_FORM_BYTES = 256 * 1024
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}


class PageError(Exception):
    """A refusal shown as an HTML page."""

    def __init__(self, status: int, title: str, message: str) -> None:
        self.status, self.title, self.message = status, title, message
        super().__init__(message)


_TITLES = {401: "This link does not work", 403: "Not allowed", 404: "Not found", 409: "Already closed"}


@cache
def _templates() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("accessctl.web", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda value: "" if value is None else f"{utc(value):%a %d %b %Y %H:%M} UTC"
    return env


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates().get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def _error_page(error: PageError) -> HTMLResponse:
    return _page("error.html", error.status, title=error.title, message=error.message)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=SECURITY_HEADERS)


def _from_review(error: ReviewError) -> PageError:
    status = error.status if 400 <= error.status < 500 else 400
    return PageError(status, _TITLES.get(status, "That did not work"), str(error))


def _guarded(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``handler``; a refusal becomes its HTML page."""

    @functools.wraps(handler)
    async def run(*args: Any, **kwargs: Any) -> Response:
        try:
            return await handler(*args, **kwargs)
        except PageError as refused:
            return _error_page(refused)
        except ReviewError as refused:
            return _error_page(_from_review(refused))
        except Exception:
            log.exception("internal error answering %s", handler.__name__)
            return _error_page(PageError(500, "Something went wrong", "the service's log has the details"))

    return run


async def _form(request: Request) -> dict[str, str]:
    """A urlencoded form (the only kind these pages send); each field's last value."""
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        raise PageError(413, "Too much", "that form is larger than any review needs")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PageError(413, "Too much", "that form is larger than any review needs")
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[-1] for name, values in fields.items()}


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _same_origin(request: Request) -> None:
    """A POST from another site's page (its Origin says so) is refused before anything else; this
    site is where the request arrived or ``web.base_url`` (behind a proxy)."""
    origin = request.headers.get("origin")
    ours = {_origin(str(request.base_url)), _origin(request.app.state.settings.web.base_url)}
    if origin and origin != "null" and _origin(origin) not in ours:
        raise PageError(403, "Not allowed", "this form was sent from another site")


def _secure(request: Request) -> bool:
    """Cookies are Secure when the page is served over HTTPS (here or at the proxy)."""
    return request.url.scheme == "https" or request.app.state.settings.web.base_url.startswith("https:")


# --- the reviewer's link and its CSRF token ----------------------------------------------------------


def _csrf_for(token: str, nonce: str) -> str:
    return hmac.new(token.encode(), f"csrf:{nonce}".encode(), hashlib.sha256).hexdigest()


def _csrf_nonce(request: Request) -> tuple[str, bool]:
    """This browser's CSRF nonce (from its cookie), or a new one (True: set the cookie)."""
    nonce = request.cookies.get(CSRF_COOKIE, "")
    if len(nonce) >= 32:
        return nonce, False
    return secrets.token_urlsafe(32), True


def _set_csrf_cookie(request: Request, response: Response, nonce: str) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        nonce,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/review/",
    )


def _check_csrf(request: Request, token: str, form: dict[str, str]) -> None:
    nonce = request.cookies.get(CSRF_COOKIE, "")
    sent = form.get("csrf", "")
    if not nonce or not sent or not hmac.compare_digest(sent, _csrf_for(token, nonce)):
        raise PageError(
            403,
            "Please try again",
            "this form has expired or did not come from your review page: open your link again",
        )


def _who(request: Request) -> dict[str, str | None]:
    agent = request.headers.get("user-agent")
    return {
        "ip": request.client.host if request.client else None,
        "user_agent": agent[:400] if agent else None,
    }


def _reviewer(request: Request, token: str) -> Any:
    """The assignment the link is for; :class:`BadToken` (401) when the link does not work."""
    with request.app.state.engine.connect() as conn:
        return resolve_token(conn, token, now=clock.now())


def _review_context(request: Request, token: str) -> dict[str, Any]:
    now = clock.now()
    with request.app.state.engine.connect() as conn:
        assignment = resolve_token(conn, token, now=now)
        campaign = get_campaign(conn, assignment.campaign_id)
        items = items_for_reviewer(conn, assignment.campaign_id, assignment.reviewer_email)
    people = [
        {"name": person or "No person (shared or orphan account)", "items": list(group)}
        for person, group in groupby(items, key=lambda item: item.person)
    ]
    return {
        "token": token,
        "reviewer": assignment.reviewer_name or assignment.reviewer_email,
        "reviewer_email": assignment.reviewer_email,
        "campaign": campaign,
        "items": items,
        "people": people,
        "decided": sum(1 for item in items if item.decision is not None),
        "unflagged_open": sum(1 for item in items if not item.flagged and item.decision is None),
        "flagged": sum(1 for item in items if item.flagged),
        "overdue": utc(campaign.due_at) < now,
    }


def _review_page(
    request: Request, token: str, status: int = 200, **extra: Any
) -> HTMLResponse:  # a GET: renders only
    context = _review_context(request, token)
    nonce, fresh = _csrf_nonce(request)
    extra = {
        "notice": None,
        "problems": {},
        "submitted": {},
        "reassign_problem": None,
        "reassign_to": "",
        **extra,
    }
    response = _page("review.html", status, csrf=_csrf_for(token, nonce), **context, **extra)
    if fresh:
        _set_csrf_cookie(request, response, nonce)
    return response


@router.get("/review/{token}", response_class=HTMLResponse)
@_guarded
async def review_page(
    request: Request, token: str, kept: str | None = None, passed: str | None = None
) -> Response:
    notice = PASSED_NOTICE if passed == "1" else _kept_notice(kept)
    return await run_in_threadpool(_review_page, request, token, notice=notice)


PASSED_NOTICE = "Passed on: that item is theirs now, and they will get an email with their own link."


def _kept_notice(kept: str | None) -> str | None:
    if kept is None or not kept.isdigit():
        return None
    return f"Kept {kept} unflagged item{'s' if kept != '1' else ''}."


def _chosen(form: dict[str, str]) -> dict[int, tuple[str, str]]:
    """item id -> (decision, justification) for each item the form decides."""
    out = {}
    for name, value in form.items():
        if not name.startswith("decision-") or value == "":
            continue
        try:
            item_id = int(name.removeprefix("decision-"))
        except ValueError:
            raise PageError(422, "That did not work", f"{name!r} is not an item of this page") from None
        out[item_id] = (value, form.get(f"justification-{item_id}", ""))
    return out


def _apply(request: Request, token: str, chosen: dict[int, tuple[str, str]]) -> dict[int, str]:
    """Record the decisions in one transaction; the problems (item id -> why) if any was refused, in
    which case nothing is recorded.  Another reviewer's item refuses the whole form (403)."""
    now = clock.now()
    problems: dict[int, str] = {}
    with request.app.state.engine.connect() as conn, conn.begin() as tx:
        assignment = resolve_token(conn, token, now=now)
        current = {
            i.id: i for i in items_for_reviewer(conn, assignment.campaign_id, assignment.reviewer_email)
        }
        for item_id, (decision, justification) in sorted(chosen.items()):
            item = current.get(item_id)
            if item is not None and (item.decision, item.justification or "") == (
                decision,
                justification.strip(),
            ):
                continue  # unchanged: nothing to record again
            try:
                decisions.decide(
                    conn,
                    item_id=item_id,
                    reviewer_email=assignment.reviewer_email,
                    decision=decision,
                    justification=justification,
                    now=now,
                    campaign_id=assignment.campaign_id,
                    **_who(request),
                )
            except ReviewError as refused:
                if refused.status != 422 and not (refused.status == 400 and item is not None):
                    raise
                problems[item_id] = str(refused)
        if problems:
            tx.rollback()
    return problems


@router.post("/review/{token}/decisions")
@_guarded
async def submit_decisions(request: Request, token: str) -> Response:
    form = await _form(request)
    _same_origin(request)
    await run_in_threadpool(_reviewer, request, token)
    _check_csrf(request, token, form)
    chosen = _chosen(form)
    problems = await run_in_threadpool(_apply, request, token, chosen)
    if problems:
        return await run_in_threadpool(
            _review_page,
            request,
            token,
            422,
            problems=problems,
            submitted=chosen,
        )
    return _redirect(f"/review/{token}/done")


def _keep_unflagged(request: Request, token: str) -> int:
    with request.app.state.engine.begin() as conn:
        assignment = resolve_token(conn, token, now=clock.now())
        return decisions.keep_unflagged(
            conn,
            campaign_id=assignment.campaign_id,
            reviewer_email=assignment.reviewer_email,
            now=clock.now(),
            **_who(request),
        )


@router.post("/review/{token}/keep-unflagged")
@_guarded
async def keep_all_unflagged(request: Request, token: str) -> Response:
    form = await _form(request)
    _same_origin(request)
    await run_in_threadpool(_reviewer, request, token)
    _check_csrf(request, token, form)
    kept = await run_in_threadpool(_keep_unflagged, request, token)
    return _redirect(f"/review/{token}?kept={kept}")


def _reassign(request: Request, token: str, item_id: int, to: str) -> None:
    with request.app.state.engine.begin() as conn:
        assignment = resolve_token(conn, token, now=clock.now())
        decisions.reassign(
            conn,
            item_id=item_id,
            reviewer_email=assignment.reviewer_email,
            to_email=to,
            now=clock.now(),
            campaign_id=assignment.campaign_id,
        )


@router.post("/review/{token}/reassign")
@_guarded
async def reassign_item(request: Request, token: str) -> Response:
    """Pass one item to another reviewer (recorded on the item and audited); they are invited by the
    next round of emails.  A bad address or the item's own person: the page again, with why (422)."""
    form = await _form(request)
    _same_origin(request)
    await run_in_threadpool(_reviewer, request, token)
    _check_csrf(request, token, form)
    item = form.get("item", "")
    if not item.isdigit():
        raise PageError(422, "That did not work", "choose the item to pass on")
    try:
        await run_in_threadpool(_reassign, request, token, int(item), form.get("to", "")[:320])
    except ReviewError as refused:
        if refused.status == 400 or isinstance(refused, SelfReview):
            return await run_in_threadpool(
                _review_page,
                request,
                token,
                422,
                reassign_problem=str(refused),
                reassign_to=form.get("to", ""),
            )
        raise
    return _redirect(f"/review/{token}?passed=1")


@router.get("/review/{token}/done", response_class=HTMLResponse)
@_guarded
async def confirmation(request: Request, token: str) -> Response:
    context = await run_in_threadpool(_review_context, request, token)
    return _page("done.html", **context)


@router.get("/static/review.css")
async def stylesheet() -> Response:
    css = resources.files("accessctl.web").joinpath("static/review.css").read_text()
    return Response(
        css,
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


# --- admin pages ---------------------------------------------------------------------------------------


def _admin(request: Request) -> str:
    """The admin token's name; the bearer header or the login cookie carries it."""
    header = request.headers.get("authorization", "")
    presented = header[7:].strip() if header.lower().startswith("bearer ") else None
    presented = presented or request.cookies.get(ADMIN_COOKIE)
    try:
        token = authenticate(request.app.state.engine, presented, needed=Scope.ADMIN, now=clock.now())
    except AuthFailure as refused:
        request.app.state.metrics.auth_failures.labels(refused.reason).inc()
        status = 403 if refused.reason == "scope" else 401
        raise PageError(status, "Sign in as an admin", "these pages need an admin token") from None
    return token.name


def _admin_page(request: Request, render: Callable[[Any], dict[str, Any]], name: str) -> HTMLResponse:
    try:
        admin = _admin(request)
    except PageError as refused:
        return _page("admin_login.html", refused.status, message=refused.message)
    with request.app.state.engine.connect() as conn:
        context = render(conn)
    return _page(name, admin=admin, **context)


@router.get("/admin/login", response_class=HTMLResponse)
async def admin_login_form() -> Response:
    return _page("admin_login.html", message=None)


@router.post("/admin/login")
@_guarded
async def admin_login(request: Request) -> Response:
    form = await _form(request)
    _same_origin(request)
    presented = form.get("token", "").strip()
    try:
        await run_in_threadpool(
            authenticate, request.app.state.engine, presented, needed=Scope.ADMIN, now=clock.now()
        )
    except AuthFailure:
        request.app.state.metrics.auth_failures.labels("login").inc()
        return _page("admin_login.html", 401, message="that is not a live admin token")
    response = _redirect("/admin/campaigns")
    response.set_cookie(
        ADMIN_COOKIE,
        presented,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/admin/",
        max_age=8 * 3600,
    )
    return response


@router.post("/admin/logout")
@_guarded
async def admin_logout(request: Request) -> Response:
    _same_origin(request)
    response = _redirect("/admin/login")
    response.delete_cookie(ADMIN_COOKIE, path="/admin/")
    return response


@router.get("/admin/campaigns", response_class=HTMLResponse)
def admin_campaigns(request: Request) -> Response:
    return _admin_page(request, lambda conn: {"campaigns": list_campaigns(conn)}, "admin_campaigns.html")


def _campaign_context(conn: Any, campaign_id: int, now: datetime) -> dict[str, Any]:
    detail = campaign_detail(conn, campaign_id)
    overdue = detail.due_at < now and detail.status == "open"
    return {
        "detail": detail,
        "overdue": [r for r in detail.reviewers if overdue and r.open > 0],
        "plan": plan_close(conn, campaign_id),
    }


@router.get("/admin/campaigns/{campaign_id}", response_class=HTMLResponse)
def admin_campaign(request: Request, campaign_id: int) -> Response:
    try:
        return _admin_page(
            request, lambda conn: _campaign_context(conn, campaign_id, clock.now()), "admin_campaign.html"
        )
    except ReviewError as refused:
        return _error_page(_from_review(refused))
