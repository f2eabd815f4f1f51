"""google-api-python-client under asyncio: one Directory service per worker thread (httplib2 is not
thread-safe), credentials shared, every failure classified here, once."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from connectors.base import AuthError, ConnectorError, NotFoundError, PermissionDeniedError, TransientError
from connectors.google.config import SCOPES, GoogleConfig

PROVIDER = "google"
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
                    self._credentials = service_account.Credentials.from_service_account_info(
                        info, scopes=list(SCOPES)
                    ).with_subject(self.config.admin_email)
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

    async def call(self, build_request: Callable[[Any], Any]) -> Any:
        """Run ``build_request(service).execute()`` on a worker thread; failures become connector errors."""

        def run() -> Any:
            return build_request(self._service()).execute(num_retries=0)

        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, run)
        except ConnectorError:
            raise
        except Exception as exc:  # the one place SDK failures are classified
            raise classify(exc) from exc

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def classify(exc: Exception) -> ConnectorError:
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
    if isinstance(exc, TransportError | socket.timeout | OSError) or type(exc).__module__.startswith(
        "httplib2"
    ):
        return TransientError(f"{type(exc).__name__}: {exc}", provider=PROVIDER)
    return ConnectorError(f"{type(exc).__name__}: {exc}", provider=PROVIDER)
