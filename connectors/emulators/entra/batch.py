"""Graph JSON $batch: up to 20 requests, answered through the app itself (control middleware included)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from connectors.emulators.entra.graph import (
    BATCH_LIMIT,
    GraphRoutesBase,
    _body,
    ok,
)
from connectors.emulators.entra.state import GraphError


class BatchRoutes(GraphRoutesBase):
    """Graph JSON $batch: up to 20 requests, answered through the app itself (control middleware included)."""

    async def batch(self, request: Request) -> Response:
        import httpx

        body = await _body(request)
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise GraphError(400, "BadRequest", "Invalid batch payload: 'requests' is required.")
        if len(requests) > BATCH_LIMIT:
            raise GraphError(400, "BadRequest", f"Limit of {BATCH_LIMIT} requests per batch exceeded.")
        ids = [str(r.get("id")) for r in requests]
        if len(set(ids)) != len(ids):
            raise GraphError(400, "BadRequest", "Batch request ids must be unique.")
        headers = {"authorization": request.headers.get("authorization", "")}
        responses: list[dict[str, Any]] = []
        failed: set[str] = set()
        transport = httpx.ASGITransport(app=self.wrapped_app)
        async with httpx.AsyncClient(transport=transport, base_url=self.state.base_url) as client:
            for item in requests:
                item_id = str(item.get("id"))
                if any(str(d) in failed for d in item.get("dependsOn") or []):
                    failed.add(item_id)
                    responses.append(
                        {
                            "id": item_id,
                            "status": 424,
                            "body": {
                                "error": {"code": "FailedDependency", "message": "A dependency failed."}
                            },
                        }
                    )
                    continue
                url = str(item.get("url", ""))
                path = url if url.startswith("/v1.0") else f"/v1.0{url if url.startswith('/') else '/' + url}"
                sub = await client.request(
                    str(item.get("method", "GET")).upper(),
                    path,
                    headers={**headers, **(item.get("headers") or {})},
                    json=item.get("body") if item.get("body") is not None else None,
                )
                if sub.status_code >= 400:
                    failed.add(item_id)
                entry: dict[str, Any] = {"id": item_id, "status": sub.status_code, "headers": {}}
                for name in ("Retry-After", "Content-Type", "Location"):
                    if name in sub.headers:
                        entry["headers"][name] = sub.headers[name]
                if sub.content:
                    entry["body"] = sub.json()
                responses.append(entry)
        return ok({"responses": responses})
