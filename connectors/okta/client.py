"""Okta over the official SDK's request executor: auth, user agent and transport are the SDK's;
responses stay raw JSON (no model object per user), and every failure is classified here, once."""

from __future__ import annotations

import asyncio
import html
import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from connectors.base import AuthError, ConnectorError, NotFoundError, PermissionDeniedError, TransientError
from connectors.okta.config import OktaConfig
from connectors.okta.governor import RateGovernor, bucket
from connectors.okta.mapping import rate_from_headers

PROVIDER = "okta"


@dataclass
class OktaResponse:
    status: int
    body: Any
    headers: Mapping[str, str]


class OktaClient:
    """One SDK client and one pooled aiohttp session per connector, created on first use."""

    def __init__(self, config: OktaConfig) -> None:
        self.config = config
        self._executor: Any = None
        self._session: Any = None
        self._lock = asyncio.Lock()
        #: its requests paced by the budgets Okta's answers state
        self.governor = RateGovernor()

    def __repr__(self) -> str:
        return f"OktaClient(org_url={self.config.org_url!r})"

    async def _ready(self) -> Any:
        if self._executor is not None:
            return self._executor
        async with self._lock:
            if self._executor is None:
                import aiohttp

                context = (
                    ssl.create_default_context(cafile=self.config.ca_bundle)
                    if self.config.ca_bundle
                    else None
                )
                self._session = aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(
                        ssl=context if context else True, limit=self.config.max_connections
                    ),
                    timeout=aiohttp.ClientTimeout(total=self.config.timeout_s),
                )
                try:
                    executor = build_executor(
                        {
                            "orgUrl": self.config.org_url.rstrip("/"),
                            "token": self.config.api_token,
                            "requestTimeout": int(self.config.timeout_s),
                            # retries belong to the sync runner, which knows the whole budget
                            "rateLimit": {"maxRetries": 0},
                        }
                    )
                except ValueError as exc:  # the SDK's config validator: missing token, http URL, ...
                    await self._session.close()
                    self._session = None
                    # the SDK HTML-escapes its messages (&#39;https&#39;): plain text for a terminal
                    reasons = [html.unescape(line) for line in str(exc).splitlines()[2:] if line.strip()][:1]
                    raise ConnectorError(
                        f"the okta SDK refused the configuration: {' '.join(reasons) or 'invalid'}"
                    ) from None
                executor.set_session(self._session)
                self._executor = executor
        return self._executor

    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        """An absolute URL on the org for ``path`` (a path, or a full URL from a Link header)."""
        if path.startswith("http"):
            parts = urlsplit(path)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
        base = self.config.org_url.rstrip("/")
        return base + path + (("&" if "?" in path else "?") + urlencode(params) if params else "")

    async def request(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None
    ) -> OktaResponse:
        executor = await self._ready()
        url = self.url(path, params)
        request, error = await executor.create_request(method, url, body, {})
        if error is not None:
            raise ConnectorError(f"cannot build the request {method} {path}: {error}", provider=PROVIDER)
        key = bucket(method, path)
        await self.governor.turn(key)
        try:
            response, text, error = await _execute(executor, request)
        except (TimeoutError, asyncio.TimeoutError) as exc:  # noqa: UP041 - aiohttp raises either
            raise TransientError(f"{method} {path}: timed out", provider=PROVIDER) from exc
        headers = response.headers if response is not None else getattr(error, "headers", None)
        if headers:
            throttled = response is not None and response.status == 429
            self.governor.observe(key, rate_from_headers(headers), throttled=throttled)
        if error is not None:
            raise classify(method, path, error)
        parsed = json.loads(text) if text else None
        return OktaResponse(response.status, parsed, response.headers)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
            self._executor = None


async def _execute(executor: Any, request: dict[str, Any]) -> tuple[Any, str | None, Any]:
    """``RequestExecutor.execute`` without its two parses of every successful body.

    ``execute`` parses a 2xx GET's JSON once to decide whether to cache it (the executor's cache
    is the no-op one) and once more to look for an error in it, then returns the text, which the
    client parses a third time: with the users and members listings that was most of the JSON
    decoding of a sync.  This sends the request through the SDK's own ``fire_request_helper``
    (auth headers, DPoP, user agent, transport: the SDK's) and lets the SDK build its error object
    only for a response that is not a success.  Should the SDK reorganise these internals, it
    falls back to ``execute``.
    """
    helper = getattr(executor, "fire_request_helper", None)
    http_client = getattr(executor, "_http_client", None)
    if helper is None or http_client is None:
        return await executor.execute(request)  # type: ignore[no-any-return]
    _, response, text, error = await helper(request, 0, time.time())
    if error is not None:
        return None, None, error
    if not 200 <= response.status <= 299:
        _, error = http_client.check_response_for_error(request["url"], response, text)
    return response, text, error


def build_executor(user_config: dict[str, Any]) -> Any:
    """The SDK's request executor, configured and validated exactly as ``okta.client.Client`` does.

    ``okta.client`` imports every API and model of the SDK (about 5 s); the executor with the SDK's
    config setter and validator takes about 1 s.  Should the SDK reorganise these internals, fall
    back to the full client.
    """
    try:
        from okta.cache.no_op_cache import NoOpCache
        from okta.config.config_setter import ConfigSetter
        from okta.config.config_validator import ConfigValidator
        from okta.request_executor import RequestExecutor

        setter = ConfigSetter()
        setter._apply_config({"client": user_config})
        config = setter._prune_config(setter.get_config())
        ConfigValidator(config)
        return RequestExecutor(config, NoOpCache(), None)
    except (ImportError, AttributeError, TypeError):
        from okta.client import Client

        return Client(user_config).get_request_executor()


def classify(method: str, path: str, error: Any) -> ConnectorError:
    """The one place SDK and transport failures become the connector error tree."""
    status = getattr(error, "status", None)
    where = f"{method} {path}"
    if status is None:
        return TransientError(f"{where}: {type(error).__name__}: {error}", provider=PROVIDER)
    code = getattr(error, "error_code", "")
    # the SDK keeps Okta's text as sent, HTML-escaped (&#39;): plain text for a terminal and a log
    summary = html.unescape(getattr(error, "error_summary", "") or str(error))
    causes = "; ".join(
        html.unescape(str(c.get("errorSummary", "")))
        for c in getattr(error, "error_causes", None) or []
        if isinstance(c, dict) and c.get("errorSummary")
    )
    message = f"{where}: HTTP {status} {code} {summary}".strip() + (f" ({causes})" if causes else "")
    headers = getattr(error, "headers", None) or getattr(error, "response_headers", None) or {}
    if status == 429:
        rate = rate_from_headers(headers)
        retry_after = None
        if rate is not None:
            # reset_at is already on the safe side: counted from the Date header, which is truncated
            # to the second and stamped before the response travelled
            retry_after = max(0.5, rate.reset_at - time.time())
        return TransientError(message, provider=PROVIDER, status=status, retry_after=retry_after)
    if status >= 500:
        return TransientError(message, provider=PROVIDER, status=status)
    if status == 401:
        return AuthError(message, provider=PROVIDER, status=status)
    if status == 403:
        return PermissionDeniedError(message, provider=PROVIDER, status=status)
    if status == 404:
        return NotFoundError(message, provider=PROVIDER, status=status)
    return ConnectorError(message, provider=PROVIDER, status=status)
