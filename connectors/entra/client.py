"""Microsoft Graph over httpx with tokens from msal; every failure is classified here, once."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from connectors.base import AuthError, ConnectorError, NotFoundError, PermissionDeniedError, TransientError
from connectors.entra.config import EntraConfig

PROVIDER = "entra"
#: a request (or a token) may take this many times the per-phase timeout before it is abandoned
CALL_DEADLINE_FACTOR = 3
MICROSOFT_AUTHORITY_HOSTS = (
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
)


def _ca_session(ca_bundle: str) -> Any:
    """A requests session for msal that trusts ``ca_bundle`` even when REQUESTS_CA_BUNDLE says otherwise."""
    import requests

    class CaSession(requests.Session):
        def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
            kwargs.setdefault("verify", ca_bundle)
            return super().request(method, url, **kwargs)

    return CaSession()


class GraphClient:
    def __init__(self, config: EntraConfig, http: httpx.AsyncClient | None = None) -> None:
        self.config = config
        self.base = config.graph_url.rstrip("/") + "/v1.0"
        verify: Any = ssl.create_default_context(cafile=config.ca_bundle) if config.ca_bundle else True
        self.http = http or httpx.AsyncClient(
            timeout=config.timeout_s,
            verify=verify,
            limits=httpx.Limits(
                max_connections=config.max_connections, max_keepalive_connections=config.max_connections
            ),
        )
        self._app: Any = None
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"GraphClient(tenant_id={self.config.tenant_id!r})"

    def _msal_app(self) -> Any:
        if self._app is None:
            import msal

            host = urlsplit(self.config.authority_host).hostname or ""
            self._app = msal.ConfidentialClientApplication(
                self.config.client_id,
                client_credential=self.config.client_secret,
                authority=f"{self.config.authority_host.rstrip('/')}/{self.config.tenant_id}",
                http_client=_ca_session(self.config.ca_bundle) if self.config.ca_bundle else None,
                instance_discovery=host in MICROSOFT_AUTHORITY_HOSTS,
                timeout=self.config.timeout_s,
            )
        return self._app

    async def token(self) -> str:
        async with self._lock:
            if self._token is None or time.time() > self._expires_at - 300:
                scope = [self.config.graph_url.rstrip("/") + "/.default"]
                deadline = CALL_DEADLINE_FACTOR * self.config.timeout_s
                try:
                    async with asyncio.timeout(deadline):  # msal's timeout is per request it makes
                        result = await asyncio.to_thread(
                            lambda: self._msal_app().acquire_token_for_client(scopes=scope)
                        )
                except TimeoutError as exc:
                    raise TransientError(f"token: no answer within {deadline:g}s", provider=PROVIDER) from exc
                except ValueError as exc:  # msal raises ValueError for an unreachable or invalid authority
                    raise TransientError(f"token: {exc}", provider=PROVIDER) from exc
                except OSError as exc:
                    raise TransientError(f"token: {type(exc).__name__}: {exc}", provider=PROVIDER) from exc
                if "access_token" not in result:
                    error = result.get("error", "unknown_error")
                    description = (result.get("error_description") or "").split(" Trace ID")[0]
                    if error in ("invalid_client", "unauthorized_client", "invalid_request", "invalid_grant"):
                        raise AuthError(f"token: {error}: {description}", provider=PROVIDER)
                    raise TransientError(f"token: {error}: {description}", provider=PROVIDER)
                self._token = result["access_token"]
                self._expires_at = time.time() + float(result.get("expires_in", 3599))
            return self._token

    def url(self, path: str) -> str:
        return path if path.startswith("http") else self.base + path

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        token = await self.token()
        deadline = CALL_DEADLINE_FACTOR * self.config.timeout_s
        try:
            # httpx's timeout bounds each phase (pool, connect, each read), not the whole request
            async with asyncio.timeout(deadline):
                response = await self.http.request(
                    method,
                    self.url(path),
                    params=params,
                    json=json,
                    headers={"Authorization": f"Bearer {token}", **(headers or {})},
                )
        except TimeoutError as exc:
            message = f"{method} {path}: no answer within {deadline:g}s"
            raise TransientError(message, provider=PROVIDER) from exc
        except httpx.TimeoutException as exc:
            raise TransientError(f"{method} {path}: timed out", provider=PROVIDER) from exc
        except httpx.TransportError as exc:
            raise TransientError(f"{method} {path}: {type(exc).__name__}: {exc}", provider=PROVIDER) from exc
        if response.status_code >= 400:
            raise classify(method, path, response.status_code, response.headers, _error_body(response))
        return response

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return (await self.request("GET", path, params=params)).json()

    async def batch(self, requests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """One $batch call (at most 20 requests); responses by id.  A throttled item raises."""
        body = (await self.request("POST", "/$batch", json={"requests": requests})).json()
        responses = {r["id"]: r for r in body["responses"]}
        for item in responses.values():
            if item["status"] >= 400:
                error = item.get("body") or {}
                raise classify("BATCH", str(item["id"]), item["status"], item.get("headers") or {}, error)
        return responses

    async def aclose(self) -> None:
        await self.http.aclose()


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def classify(
    method: str, path: str, status: int, headers: Mapping[str, str], body: Mapping[str, Any]
) -> ConnectorError:
    """The one place Graph failures become the connector error tree."""
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    code = error.get("code", "")
    message = f"{method} {path}: HTTP {status} {code} {error.get('message', '')}".strip()
    retry_after = None
    raw_retry = headers.get("Retry-After") or headers.get("retry-after")
    if raw_retry:
        try:
            retry_after = float(raw_retry)
        except ValueError:
            retry_after = None
    if status in (429, 503, 504) or status >= 500:
        return TransientError(message, provider=PROVIDER, status=status, retry_after=retry_after)
    if status == 401:
        return AuthError(message, provider=PROVIDER, status=status)
    if status == 403:
        return PermissionDeniedError(message, provider=PROVIDER, status=status)
    if status == 404:
        return NotFoundError(message, provider=PROVIDER, status=status)
    return ConnectorError(message, provider=PROVIDER, status=status)
