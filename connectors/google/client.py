"""google-api-python-client under asyncio: one Directory service per worker thread (httplib2 is not
thread-safe), credentials shared, every failure classified here, once."""

from __future__ import annotations

import asyncio
import http.client
import json
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

from connectors.base import AuthError, ConnectorError, NotFoundError, PermissionDeniedError, TransientError
from connectors.google.config import GoogleConfig

PROVIDER = "google"
#: a call (token refresh included) may take this many times the socket timeout before it is abandoned
CALL_DEADLINE_FACTOR = 3
THROTTLE_REASONS = {"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded"}


class DirectoryClient:
    def __init__(self, config: GoogleConfig) -> None:
        self.config = config
        self._local = threading.local()
        self._credentials: Any = None
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix="google-directory")

    def __repr__(self) -> str:
        return f"DirectoryClient(api_endpoint={self.config.api_endpoint!r})"

    def _service(self) -> Any:
        service = getattr(self._local, "service", None)
        if service is None:
            import google_auth_httplib2
            import httplib2
            from google.oauth2 import service_account
            from googleapiclient.discovery import build

            with self._lock:
                if self._credentials is None:
                    try:
                        info = json.loads(self.config.service_account_key_json)
                    except json.JSONDecodeError:
                        raise AuthError(
                            "the service account key is not valid JSON", provider=PROVIDER
                        ) from None
                    try:
                        credentials = service_account.Credentials.from_service_account_info(
                            info, scopes=list(self.config.scopes)
                        )
                    except ValueError as exc:  # google-auth: "not in the expected format", MalformedError
                        raise AuthError(
                            f"the service account key is not usable: {exc}", provider=PROVIDER
                        ) from None
                    self._credentials = credentials.with_subject(self.config.admin_email)
            http = httplib2.Http(ca_certs=self.config.ca_bundle, timeout=self.config.timeout_s)
            authorized = google_auth_httplib2.AuthorizedHttp(self._credentials, http=http)
            service = build(
                "admin",
                "directory_v1",
                http=authorized,
                static_discovery=True,
                cache_discovery=False,
                client_options={"api_endpoint": self.config.api_endpoint},
            )
            self._local.service = service
        return service

    def _reports_service(self) -> Any:
        """The Reports API (reports_v1) on this worker thread, with the Directory service's credentials."""
        service = getattr(self._local, "reports", None)
        if service is None:
            import google_auth_httplib2
            import httplib2
            from googleapiclient.discovery import build

            self._service()  # makes the shared credentials
            http = httplib2.Http(ca_certs=self.config.ca_bundle, timeout=self.config.timeout_s)
            service = build(
                "admin",
                "reports_v1",
                http=google_auth_httplib2.AuthorizedHttp(self._credentials, http=http),
                static_discovery=True,
                cache_discovery=False,
                client_options={"api_endpoint": self.config.api_endpoint},
            )
            self._local.reports = service
        return service

    async def call(self, build_request: Callable[[Any], Any], *, api: str = "directory") -> Any:
        """Run ``build_request(service).execute()`` on a worker thread; failures become connector errors.
        ``api`` is "directory" (directory_v1) or "reports" (reports_v1)."""

        def run() -> Any:
            service = self._reports_service() if api == "reports" else self._service()
            return build_request(service).execute(num_retries=0)

        # httplib2's timeout bounds each socket operation, not the call (a token refresh and the
        # request, a response that trickles in): the call as a whole has its own deadline
        deadline = CALL_DEADLINE_FACTOR * self.config.timeout_s
        timeout = asyncio.timeout(deadline)
        try:
            async with timeout:
                return await asyncio.get_running_loop().run_in_executor(self._pool, run)
        except sdk_errors() as exc:  # the one place SDK and transport failures are classified
            if timeout.expired():  # the worker thread finishes on its own; its answer is dropped
                raise TransientError(f"no answer within {deadline:g}s", provider=PROVIDER) from exc
            raise classify(exc) from exc

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@cache
def sdk_errors() -> tuple[type[BaseException], ...]:
    """What the Directory client, google-auth, httplib2 and the socket layer raise for a failed call.

    Anything else (TypeError from a wrong argument, KeyError in our code) is a bug, and surfaces as
    itself.  Imported on first use: the SDK costs time to import.
    """
    import httplib2
    from google.auth.exceptions import RefreshError, TransportError
    from googleapiclient.errors import HttpError

    return (
        HttpError,
        RefreshError,
        TransportError,
        httplib2.HttpLib2Error,
        http.client.HTTPException,
        OSError,
    )


def classify(exc: BaseException) -> ConnectorError:
    """Turn one of :func:`sdk_errors` into the connector error tree."""
    import httplib2
    from google.auth.exceptions import RefreshError, TransportError
    from googleapiclient.errors import HttpError

    if isinstance(exc, HttpError):
        status = exc.status_code
        details = exc.error_details if isinstance(exc.error_details, list) else []
        reasons = {d.get("reason") for d in details if isinstance(d, dict)}
        message = f"HTTP {status} {', '.join(sorted(r for r in reasons if r))}: {exc.reason}".strip()
        retry_after = None
        raw = exc.resp.get("retry-after") if exc.resp is not None else None
        if raw:
            try:
                retry_after = float(raw)
            except ValueError:
                retry_after = None
        if status == 429 or (status == 403 and reasons & THROTTLE_REASONS):
            return TransientError(message, provider=PROVIDER, status=429, retry_after=retry_after)
        if status >= 500:
            return TransientError(message, provider=PROVIDER, status=status, retry_after=retry_after)
        if status == 401:
            return AuthError(message, provider=PROVIDER, status=status)
        if status == 403:
            return PermissionDeniedError(message, provider=PROVIDER, status=status)
        if status == 404:
            return NotFoundError(message, provider=PROVIDER, status=status)
        return ConnectorError(message, provider=PROVIDER, status=status)
    if isinstance(exc, RefreshError):
        if getattr(exc, "retryable", False):
            return TransientError(f"token: {exc}", provider=PROVIDER)
        return AuthError(f"token: {exc.args[0] if exc.args else exc}", provider=PROVIDER, status=401)
    if isinstance(exc, ssl.SSLCertVerificationError):
        # the endpoint's certificate is not trusted: configuration (CA bundle) or interception, not a blip
        return ConnectorError(f"TLS: {exc}", provider=PROVIDER)
    if isinstance(exc, TransportError | httplib2.HttpLib2Error | http.client.HTTPException | OSError):
        # token endpoint unreachable, DNS, connection refused or reset, timeouts (socket.timeout is an
        # OSError), TLS handshake failures, a response cut short
        return TransientError(f"{type(exc).__name__}: {exc}", provider=PROVIDER)
    raise TypeError(f"classify() got {type(exc).__name__}, which is not one of sdk_errors()") from exc
