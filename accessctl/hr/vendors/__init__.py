"""HR vendors' own webhooks, verified their way and mapped to the canonical event.

Each vendor module (``bamboohr``, ``hibob``, ``gusto``) has the same shape: a frozen ``*Source``
(its keys and API credentials), ``verify(headers, body, sources, now=...)`` returning the source whose
key signed the delivery, ``parse_notice(raw)`` for the vendor's payload, and ``read_event(client,
source, notice, ...)`` that reads the employee back from the vendor's API and returns the canonical
event.  A read-back that fails is retried, then raises :class:`FetchBackFailed`: nothing is stored and
the web layer answers 503 with ``Retry-After``, so the vendor delivers the webhook again; the intake
never acts on a guess.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

#: the vendors served at ``POST /v1/hr/{vendor}`` (``vendor = ...`` in ``[hr.sources.NAME]``)
VENDORS = ("bamboohr", "hibob", "gusto")


class FetchBackFailed(Exception):
    """The vendor's API did not answer with the record (after retries); nothing was stored."""


def fetch_json(
    send: Callable[[], httpx.Response],
    *,
    what: str,
    attempts: int = 3,
    backoff_s: float = 0.2,
) -> Any | None:
    """The JSON body of ``send()``'s 200 answer; None on a 404.  Network errors, 5xx, 429 and bodies
    that are not JSON are retried with exponential backoff; 401/403 are not (our credential is wrong,
    retrying cannot help).  Raise :class:`FetchBackFailed` when no attempt succeeded."""
    why = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(backoff_s * 2 ** (attempt - 1))
        try:
            response = send()
        except httpx.HTTPError as exc:
            why = type(exc).__name__
            continue
        if response.status_code == 404:
            return None
        if response.status_code == 200:
            try:
                return response.json()
            except ValueError:
                why = "a body that is not JSON"
                continue
        why = f"HTTP {response.status_code}"
        if response.status_code in (401, 403):
            break
    raise FetchBackFailed(f"{what}: {why}")
