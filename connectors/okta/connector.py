"""The Okta connector: one page per call, raw JSON mapped by pure functions, idempotent actions."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta

from connectors.base import (
    AccountDetails,
    AccountRecord,
    AuthError,
    ChangeSet,
    ConnectorError,
    EntitlementKind,
    EntitlementRecord,
    EntitlementRef,
    GrantRecord,
    MfaRecord,
    MfaState,
    NotFoundError,
    Page,
    PermissionDeniedError,
    RateInfo,
    TransientError,
)
from connectors.okta import mapping
from connectors.okta.actions import OktaActions
from connectors.okta.client import OktaClient, OktaResponse
from connectors.okta.config import OktaConfig

LOG_PAGE = 1000
ROLE_HOLDERS_PAGE = 100  # the listing's documented default; Okta states no maximum
log = logging.getLogger(__name__)


def _page(response: OktaResponse, items: list, next_cursor: str | None) -> Page:  # type: ignore[type-arg]
    return Page(items, next_cursor, requests=1, rate=mapping.rate_from_headers(response.headers))


def _partial_failure(outcome: BaseException) -> bool:
    """A failure of one half of a per-account lookup that the other half survives: the provider
    answered, but not for this read.  Transient failures (the runner retries the whole lookup) and
    refused credentials (nothing else will work either) are not."""
    return isinstance(outcome, ConnectorError) and not isinstance(outcome, TransientError | AuthError)


def _tightest(*rates: RateInfo | None) -> RateInfo | None:
    known = [r for r in rates if r is not None]
    return min(known, key=lambda r: (r.reset_at, r.remaining)) if known else None


class OktaConnector(OktaActions):
    provider = "okta"
    mfa_source = "per_account"
    inherited_via = None  # /apps/{id}/users says scope GROUP, not which group
    #: runner operations that spend the same Okta rate-limit bucket (endpoint family)
    rate_buckets = {
        "accounts": "users",
        "details": "users",
        "account_grants": "users",
        "entitlements": "groups",
        "grants": "groups",
        "changes": "logs",
    }

    def __init__(self, config: OktaConfig, *, client: OktaClient | None = None) -> None:
        self.config = config
        self.client = client or OktaClient(config)
        self._role_holders = RoleHolders(self.client)
        self._groups_read = {}

    def __repr__(self) -> str:
        return f"OktaConnector(org_url={self.config.org_url!r})"

    # -- listings ------------------------------------------------------------------

    async def list_accounts(self, cursor: str | None) -> Page[AccountRecord]:
        """Users, then (a second listing Okta only gives when asked) the deprovisioned ones."""
        phase, _, url = (cursor or "active|").partition("|")
        if not url:
            params = {"limit": self.config.page_size}
            if phase == "deprovisioned":
                params["filter"] = 'status eq "DEPROVISIONED"'
            response = await self.client.request("GET", "/api/v1/users", params=params)
        else:
            response = await self.client.request("GET", url)
        items = [mapping.account_from_user(u) for u in response.body]
        following = mapping.next_link(response.headers.get("Link"))
        if following:
            next_cursor: str | None = f"{phase}|{following}"
        else:
            next_cursor = "deprovisioned|" if phase == "active" else None
        return _page(response, items, next_cursor)

    async def list_entitlements(self, cursor: str | None) -> Page[EntitlementRecord]:
        """Groups, then apps, then the standard admin role types, then the org's custom admin roles."""
        phase, _, url = (cursor or "groups|").partition("|")
        if phase == "roles":
            return Page(mapping.role_entitlements(), "custom|", requests=0)
        if phase == "custom":
            return await self._custom_roles(url or None)
        path = "/api/v1/groups" if phase == "groups" else "/api/v1/apps"
        params = {"limit": 10000 if phase == "groups" else 200}
        response = await (
            self.client.request("GET", url) if url else self.client.request("GET", path, params=params)
        )
        if phase == "groups":
            items = [mapping.entitlement_from_group(g) for g in response.body]
        else:
            items = [
                mapping.entitlement_from_app(a)
                for a in response.body
                if a.get("status", "ACTIVE") == "ACTIVE"
            ]
        following = mapping.next_link(response.headers.get("Link"))
        if following:
            next_cursor = f"{phase}|{following}"
        else:
            next_cursor = "apps|" if phase == "groups" else "roles|"
        return _page(response, items, next_cursor)

    async def _custom_roles(self, url: str | None) -> Page[EntitlementRecord]:
        """Custom admin roles (``GET /api/v1/iam/roles``: ``{"roles": [...], "_links": {"next": ...}}``).

        An org whose API has no such endpoint (404) has no custom roles to hold; any other failure
        propagates like every listing's.
        """
        try:
            response = await self.client.request("GET", url or "/api/v1/iam/roles")
        except NotFoundError:
            log.warning("okta: /api/v1/iam/roles not found: the org has no custom admin roles")
            return Page([], None)
        body = response.body or {}
        items = [mapping.entitlement_from_custom_role(r) for r in body.get("roles") or []]
        following = ((body.get("_links") or {}).get("next") or {}).get("href") or mapping.next_link(
            response.headers.get("Link")
        )
        return _page(response, items, f"custom|{following}" if following else None)

    async def list_grants(self, entitlement: EntitlementRef, cursor: str | None) -> Page[GrantRecord]:
        if entitlement.kind is EntitlementKind.GROUP:
            path, params = f"/api/v1/groups/{entitlement.external_id}/users", {"limit": 1000}
        elif entitlement.kind is EntitlementKind.APP:
            path, params = f"/api/v1/apps/{entitlement.external_id}/users", {"limit": 500}
        else:
            raise ConnectorError("Okta admin roles are read per user (get_account_details)", provider="okta")
        response = await (
            self.client.request("GET", cursor) if cursor else self.client.request("GET", path, params=params)
        )
        if entitlement.kind is EntitlementKind.GROUP:
            items = [mapping.grant_from_group_member(entitlement.external_id, u) for u in response.body]
        else:
            items = [mapping.grant_from_app_user(entitlement.external_id, u) for u in response.body]
        return _page(response, items, mapping.next_link(response.headers.get("Link")))

    async def list_account_grants(self, account_external_id: str) -> list[GrantRecord]:
        uid = account_external_id
        groups, apps, roles = await asyncio.gather(
            self.client.request("GET", f"/api/v1/users/{uid}/groups"),
            self._all("/api/v1/apps", {"filter": f'user.id eq "{uid}"', "limit": 200}),
            self.client.request("GET", f"/api/v1/users/{uid}/roles"),
        )
        grants = [GrantRecord(uid, EntitlementKind.GROUP, g["id"]) for g in groups.body]
        for app in apps:
            scope = ((app.get("_embedded") or {}).get("user") or {}).get("scope")
            grants.append(GrantRecord(uid, EntitlementKind.APP, app["id"], inherited=scope == "GROUP"))
        grants += [mapping.grant_from_role(uid, r) for r in roles.body]
        return grants

    async def _all(self, path: str, params: dict[str, object]) -> list[dict]:  # type: ignore[type-arg]
        response = await self.client.request("GET", path, params=params)
        items = list(response.body)
        following = mapping.next_link(response.headers.get("Link"))
        while following:
            response = await self.client.request("GET", following)
            items += response.body
            following = mapping.next_link(response.headers.get("Link"))
        return items

    async def list_mfa(self, cursor: str | None) -> Page[MfaRecord]:
        raise NotImplementedError("Okta has no bulk MFA report: use get_account_details")

    async def get_account_details(self, account_external_id: str, *, grants: bool = True) -> AccountDetails:
        """Factors and admin roles, read independently: one failing does not discard the other.

        Roles are read only for the users the org's role-holder listing names (``GET
        /api/v1/iam/assignees/users``, read once per connector, i.e. once per sync run); a user it
        does not name holds no role, so its lookup is one request and ends the role grants it had.
        Where the org refuses the listing (403, 404), every user's roles are read, as before.
        ``grants=False`` reads the factors only (the caller has just read the account's grants
        whole, roles included, with :meth:`list_account_grants`).

        A transient failure of either propagates (the runner retries the whole lookup).  Factors
        that cannot be read otherwise (403, 404 on the factor endpoint) give UNKNOWN MFA; roles that
        cannot be read keep the factor-based MFA and give ``complete=False``, so no role is swept.
        """
        uid = account_external_id
        listing_requests = 0
        read_roles = grants
        if grants:
            holders, listing_requests = await self._role_holders.get()
            read_roles = holders is None or uid in holders
        requests = [self.client.request("GET", f"/api/v1/users/{uid}/factors")]
        if read_roles:
            requests.append(self.client.request("GET", f"/api/v1/users/{uid}/roles"))
        factors, *role_reads = await asyncio.gather(*requests, return_exceptions=True)
        roles = role_reads[0] if role_reads else None
        for outcome in (factors, roles):
            if isinstance(outcome, BaseException) and not _partial_failure(outcome):
                raise outcome
        rates: list[RateInfo | None] = []
        if isinstance(factors, OktaResponse):
            mfa = mapping.mfa_from_factors(uid, factors.body)
            rates.append(mapping.rate_from_headers(factors.headers))
        else:
            log.warning("okta: factors of %s unreadable, MFA left UNKNOWN: %s", uid, factors)
            mfa = MfaRecord(uid, MfaState.UNKNOWN)
        complete = True
        role_grants: list[GrantRecord] = []
        if isinstance(roles, OktaResponse):
            role_grants = [mapping.grant_from_role(uid, r) for r in roles.body]
            rates.append(mapping.rate_from_headers(roles.headers))
        elif roles is not None:
            log.warning("okta: admin roles of %s unreadable, not swept: %s", uid, roles)
            complete = False
        return AccountDetails(
            uid,
            mfa,
            role_grants,
            complete=complete,
            requests=len(requests) + listing_requests,
            rate=_tightest(*rates),
        )

    async def changes_since(self, cursor: str | None) -> ChangeSet:
        """System Log events since the cursor (``{"since", "after"}``); None marks 'now'."""
        if cursor is None:
            start = datetime.now(UTC) - timedelta(seconds=5)  # a little overlap: events are idempotent
            stamp = start.strftime("%Y-%m-%dT%H:%M:%S.") + f"{start.microsecond // 1000:03d}Z"
            return ChangeSet(cursor=json.dumps({"since": stamp}), requests=0)
        position = json.loads(cursor)
        params: dict[str, object] = {"since": position["since"], "limit": LOG_PAGE, "sortOrder": "ASCENDING"}
        if position.get("after"):
            params["after"] = position["after"]
        response = await self.client.request("GET", "/api/v1/logs", params=params)
        events = response.body
        accounts, entitlements = mapping.changes_from_events(events)
        if events:
            position = {"since": position["since"], "after": events[-1]["uuid"]}
        return ChangeSet(
            cursor=json.dumps(position),
            account_ids=accounts,
            entitlement_ids=entitlements,
            more=len(events) == LOG_PAGE,
        )

    async def find_account(
        self, *, email: str | None = None, external_id: str | None = None
    ) -> AccountRecord | None:
        key = external_id or email
        if not key:
            raise ValueError("find_account needs an email or an external id")
        try:
            response = await self.client.request("GET", f"/api/v1/users/{key}")
        except NotFoundError:
            return None
        return mapping.account_from_user(response.body)

    async def aclose(self) -> None:
        self._role_holders.forget()
        await self.client.aclose()


class RoleHolders:
    """Who holds an admin role, from ``GET /api/v1/iam/assignees/users`` (listUsersWithRoleAssignments:
    ``{"value": [{"id", ...}], "_links": {"next"}}``, paged by ``after``/``limit``), read whole on
    first use and kept until :meth:`forget`.  Concurrent callers wait for the one read.

    None means the org refuses the listing (403: the token's admin may not read it; 404: an org
    without the API): then every user's roles must be read.  Any other failure propagates and the
    next caller reads the listing again.
    """

    def __init__(self, client: OktaClient) -> None:
        self.client = client
        self._lock = asyncio.Lock()
        self._read = False
        self._holders: frozenset[str] | None = None

    async def get(self) -> tuple[frozenset[str] | None, int]:
        """(the holders or None, the requests this call spent reading them)."""
        if self._read:
            return self._holders, 0
        async with self._lock:
            if self._read:
                return self._holders, 0
            holders, requests = await self._list()
            self._holders, self._read = holders, True
            return holders, requests

    async def _list(self) -> tuple[frozenset[str] | None, int]:
        ids: set[str] = set()
        url: str | None = None
        requests = 0
        while True:
            try:
                if url is None:
                    response = await self.client.request(
                        "GET", "/api/v1/iam/assignees/users", params={"limit": ROLE_HOLDERS_PAGE}
                    )
                else:
                    response = await self.client.request("GET", url)
            except (PermissionDeniedError, NotFoundError) as exc:
                log.warning("okta: the role-holder listing is refused, reading every user's roles: %s", exc)
                return None, requests + 1
            requests += 1
            body = response.body or {}
            ids.update(str(u["id"]) for u in body.get("value") or [])
            url = ((body.get("_links") or {}).get("next") or {}).get("href") or mapping.next_link(
                response.headers.get("Link")
            )
            if not url:
                return frozenset(ids), requests

    def forget(self) -> None:
        self._read, self._holders = False, None
