"""Graph delta queries (``/users/delta``, ``/groups/delta``, also called as ``delta()`` and
``microsoft.graph.delta()``, as the SDKs do): a round of pages (``@odata.nextLink``) ending in an
``@odata.deltaLink`` that the next round starts from.

The tokens carry the round's state: what it reports changes since (``since``; None for the first,
full round), the sequence number it started at (``start``, where its deltaLink resumes so nothing that
changed mid-round is lost), the ``$select`` of the first request, the offset and the page size
(``Prefer: odata.maxpagesize``, capped at the maximum; a later request's preference overrides it).
``$filter`` takes only ``id`` (``id eq '...' or id eq '...'``), as Graph documents for delta.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from connectors.emulators.entra.graph import _token, _untoken, applied, max_page_size, ok
from connectors.emulators.entra.odata import compile_filter
from connectors.emulators.entra.schema import EntityType
from connectors.emulators.entra.state import EntraState

DELTA_DEFAULT_PAGE = 200
DELTA_MAX_PAGE = 999

Position = dict[str, Any]


def delta_response(
    request: Request,
    state: EntraState,
    entity: EntityType,
    changed: Callable[[Position], list[str]],
    render: Callable[[str, Position], dict[str, Any]],
) -> Response:
    """One page of a delta round over the ids ``changed`` lists for the position (call under the lock)."""
    q = request.query_params
    context = f"{entity.name.rsplit('.', 1)[-1]}s"
    link = f"{state.base_url}{request.url.path}"
    preferred = max_page_size(request)
    preferred = min(preferred, DELTA_MAX_PAGE) if preferred is not None else None
    body: dict[str, Any] = {"@odata.context": f"{state.base_url}/v1.0/$metadata#{context}"}
    if q.get("$deltatoken") == "latest":
        position: Position = {
            "since": state.seq,
            "select": q.get("$select"),
            "filter": q.get("$filter"),
            "n": preferred,
        }
        compile_filter(position["filter"], entity, only=frozenset({"id"}))
        body["value"] = []
        body["@odata.deltaLink"] = f"{link}?{urlencode({'$deltatoken': _token(position)}, safe='$')}"
        return ok(body, headers=applied(preferred))
    if q.get("$skiptoken"):
        position = {"since": None, "start": state.seq, **_untoken(q["$skiptoken"])}
    elif q.get("$deltatoken"):
        position = {"since": None, **_untoken(q["$deltatoken"]), "o": 0, "start": state.seq}
    else:
        position = {
            "since": None,
            "select": q.get("$select"),
            "filter": q.get("$filter"),
            "o": 0,
            "start": state.seq,
        }
    if preferred is not None:
        position["n"] = preferred
    size = position.get("n") or DELTA_DEFAULT_PAGE
    predicate = compile_filter(position.get("filter"), entity, only=frozenset({"id"}))
    ids = [i for i in changed(position) if predicate is None or predicate({"id": i})]
    offset = int(position.get("o", 0))
    body["value"] = [render(i, position) for i in ids[offset : offset + size]]
    if offset + size < len(ids):
        following = {**position, "o": offset + size}
        body["@odata.nextLink"] = f"{link}?{urlencode({'$skiptoken': _token(following)}, safe='$')}"
    else:
        final = {
            "since": position["start"],
            "select": position.get("select"),
            "filter": position.get("filter"),
            "n": position.get("n"),
        }
        body["@odata.deltaLink"] = f"{link}?{urlencode({'$deltatoken': _token(final)}, safe='$')}"
    return ok(body, headers=applied(preferred))
