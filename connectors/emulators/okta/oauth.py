"""What the org's users have granted OAuth clients: scope consent grants (``/users/{id}/grants``) and
refresh tokens (``/users/{id}/clients/{clientId}/tokens``), the clients they were issued to, and how
Okta renders and revokes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connectors.emulators.okta.records import OktaData, iso, not_found, okta_id


@dataclass
class OAuthClient:
    client_id: str
    name: str


@dataclass
class Consent:
    """One scope a user consented to give one client (``OAuth2ScopeConsentGrant``)."""

    id: str
    client_id: str
    scope_id: str
    created: datetime


@dataclass
class RefreshToken:
    """A refresh token issued to one client for the user (``OAuth2RefreshToken``)."""

    id: str
    client_id: str
    scopes: list[str]
    created: datetime

    @property
    def expires_at(self) -> datetime:
        return self.created + timedelta(days=90)


class OktaOAuth(OktaData):
    """Consent grants and refresh tokens per user (user id -> id -> record, in issue order)."""

    def __init__(self, base_url: str) -> None:
        super().__init__(base_url)
        self.oauth_clients: dict[str, OAuthClient] = {}
        self.consents: dict[str, dict[str, Consent]] = {}
        self.refresh_tokens: dict[str, dict[str, RefreshToken]] = {}

    def issue_oauth(self, uid: str, client_id: str, name: str, scopes: list[str], created: datetime) -> None:
        """The user signs in to ``client_id`` and consents to ``scopes``: one grant per scope and a
        refresh token (as ``offline_access`` gives)."""
        self.oauth_clients.setdefault(client_id, OAuthClient(client_id, name))
        grants = self.consents.setdefault(uid, {})
        for scope in scopes:
            gid = okta_id("oag", f"{uid}:{client_id}:{scope}")
            grants[gid] = Consent(gid, client_id, scope, created)
        tid = okta_id("oar", f"{uid}:{client_id}:{len(self.refresh_tokens.get(uid, {}))}")
        self.refresh_tokens.setdefault(uid, {})[tid] = RefreshToken(tid, client_id, list(scopes), created)

    # -- reads ---------------------------------------------------------------------------

    def user_clients(self, uid: str) -> list[str]:
        """Clients the user has grants or tokens for, in first-issued order."""
        seen: dict[str, None] = {}
        for grant in self.consents.get(uid, {}).values():
            seen[grant.client_id] = None
        for token in self.refresh_tokens.get(uid, {}).values():
            seen[token.client_id] = None
        return list(seen)

    def consent(self, uid: str, grant_id: str) -> Consent:
        grant = self.consents.get(uid, {}).get(grant_id)
        if grant is None:
            raise not_found(grant_id, "OAuth2ScopeConsentGrant")
        return grant

    def refresh_token(self, uid: str, client_id: str, token_id: str) -> RefreshToken:
        token = self.refresh_tokens.get(uid, {}).get(token_id)
        if token is None or token.client_id != client_id:
            raise not_found(token_id, "OAuth2RefreshToken")
        return token

    def oauth_client(self, client_id: str) -> OAuthClient:
        client = self.oauth_clients.get(client_id)
        if client is None:
            raise not_found(client_id, "OAuth2Client")
        return client

    # -- rendering -----------------------------------------------------------------------

    def consent_json(self, uid: str, grant: Consent, *, expand_scope: bool = False) -> dict[str, Any]:
        base = f"{self.base_url}/api/v1"
        body: dict[str, Any] = {
            "id": grant.id,
            "status": "ACTIVE",
            "created": iso(grant.created),
            "createdBy": {"id": uid, "type": "User"},
            "lastUpdated": iso(grant.created),
            "issuer": self.base_url,
            "clientId": grant.client_id,
            "userId": uid,
            "scopeId": grant.scope_id,
            "source": "END_USER",
            "_links": {
                "app": {
                    "href": f"{base}/apps/{grant.client_id}",
                    "title": self._client_name(grant.client_id),
                },
                "self": {"href": f"{base}/users/{uid}/grants/{grant.id}"},
                "client": {"href": f"{self.base_url}/oauth2/v1/clients/{grant.client_id}"},
                "user": {"href": f"{base}/users/{uid}"},
                "issuer": {"href": f"{base}/authorizationServers/default"},
            },
        }
        if expand_scope:
            body["_embedded"] = {"scope": {"id": grant.scope_id}}
        return body

    def refresh_token_json(self, uid: str, token: RefreshToken) -> dict[str, Any]:
        base = f"{self.base_url}/api/v1"
        return {
            "id": token.id,
            "status": "ACTIVE",
            "created": iso(token.created),
            "lastUpdated": iso(token.created),
            "expiresAt": iso(token.expires_at),
            "issuer": self.base_url,
            "clientId": token.client_id,
            "userId": uid,
            "scopes": list(token.scopes),
            "createdBy": {"id": token.client_id, "type": "Client"},
            "_links": {
                "self": {"href": f"{base}/users/{uid}/clients/{token.client_id}/tokens/{token.id}"},
                "client": {"href": f"{self.base_url}/oauth2/v1/clients/{token.client_id}"},
                "user": {"href": f"{base}/users/{uid}"},
            },
        }

    def client_json(self, uid: str, client_id: str) -> dict[str, Any]:
        return {
            "client_id": client_id,
            "client_name": self._client_name(client_id),
            "logo_uri": f"{self.base_url}/img/logos/default.png",
            "_links": {
                "grants": {"href": f"{self.base_url}/api/v1/users/{uid}/clients/{client_id}/grants"},
                "tokens": {"href": f"{self.base_url}/api/v1/users/{uid}/clients/{client_id}/tokens"},
            },
        }

    def _client_name(self, client_id: str) -> str:
        client = self.oauth_clients.get(client_id)
        return client.name if client else client_id

    # -- revocation (the caller holds the lock and writes the System Log) -------------------

    def drop_consents(self, uid: str, *, client_id: str | None = None, grant_id: str | None = None) -> int:
        return _drop(self.consents.get(uid, {}), client_id, grant_id)

    def drop_refresh_tokens(
        self, uid: str, *, client_id: str | None = None, token_id: str | None = None
    ) -> int:
        return _drop(self.refresh_tokens.get(uid, {}), client_id, token_id)


def _drop(
    records: dict[str, Consent] | dict[str, RefreshToken], client_id: str | None, key: str | None
) -> int:
    """Remove the records of ``client_id`` (None: any) with id ``key`` (None: any); how many went."""
    doomed = [r.id for r in records.values() if client_id in (None, r.client_id) and key in (None, r.id)]
    for rid in doomed:
        del records[rid]
    return len(doomed)
