"""Reading request bodies the way every provider does: a JSON object, or the provider's own error."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request


async def json_object(request: Request, malformed: Callable[[], Exception]) -> dict[str, Any]:
    """The body as a JSON object ({} when empty); ``malformed()`` is raised for anything else."""
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError:
        raise malformed() from None
    if not isinstance(body, dict):
        raise malformed()
    return body
