"""Graph groups: listing, lookup, (transitive) members, owners, membership changes, delta."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from connectors.emulators.entra.graph import (
    GraphRoutesBase,
    _body,
    _token,
    _untoken,
    ok,
)
from connectors.emulators.entra.odata import parse_select, select


class GroupRoutes(GraphRoutesBase):
    """Graph groups: listing, lookup, (transitive) members, owners, membership changes, delta."""

    async def list_groups(self, request: Request) -> Response:
        state = self.state
        fields = parse_select(request.query_params.get("$select"))
        with state.lock:
            return self._list(
                request,
                "groups",
                state.group_order,
                lambda gid: state.groups[gid].props,
                lambda _, p: select(p, fields),
            )

    async def get_group(self, request: Request) -> Response:
        with self.state.lock:
            group = self.state.group(request.path_params["group"])
            return ok(select(group.props, parse_select(request.query_params.get("$select"))))

    async def group_members(self, request: Request) -> Response:
        state = self.state
        transitive = request.url.path.endswith("transitiveMembers")
        fields = parse_select(request.query_params.get("$select"))
        with state.lock:
            group = state.group(request.path_params["group"])
            members = state.transitive_members(group.id) if transitive else dict(group.members)

            def raw(member_id: str) -> dict[str, Any] | None:
                if members[member_id] == "user":
                    user = state.users.get(member_id)
                    return user.props if user else None
                return state.groups[member_id].props

            def render(member_id: str, props: dict[str, Any]) -> dict[str, Any]:
                if members[member_id] == "user":
                    return {
                        "@odata.type": "#microsoft.graph.user",
                        **state.user_json(state.users[member_id], fields),
                    }
                return {"@odata.type": "#microsoft.graph.group", **select(props, fields)}

            return self._list(request, "directoryObjects", list(members), raw, render)

    async def group_owners(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            group = state.group(request.path_params["group"])
            return self._list(
                request,
                "directoryObjects",
                [o for o in group.owners if o in state.users],
                lambda uid: state.users[uid].props,
                lambda uid, _: {
                    "@odata.type": "#microsoft.graph.user",
                    **state.user_json(state.users[uid], None),
                },
            )

    async def remove_member(self, request: Request) -> Response:
        self.state.remove_member(request.path_params["group"], request.path_params["member"])
        return Response(status_code=204)

    async def add_member(self, request: Request) -> Response:
        body = await _body(request)
        reference = str(body.get("@odata.id", ""))
        self.state.add_member(request.path_params["group"], reference.rstrip("/").split("/")[-1])
        return Response(status_code=204)

    async def groups_delta(self, request: Request) -> Response:
        state = self.state
        q = request.query_params
        with state.lock:
            if q.get("$deltatoken") == "latest":
                token = _token({"since": state.seq})
                return ok(
                    {
                        "value": [],
                        "@odata.deltaLink": f"{state.base_url}/v1.0/groups/delta?$deltatoken={token}",
                    }
                )
            since = _untoken(q["$deltatoken"])["since"] if q.get("$deltatoken") else None
            value = []
            if since is None:
                for gid in state.group_order:
                    group = state.groups[gid]
                    members = [
                        {"@odata.type": f"#microsoft.graph.{k}", "id": m} for m, k in group.members.items()
                    ]
                    value.append({**select(group.props, ["displayName"]), "members@delta": members})
            else:
                changes: dict[str, list[dict[str, Any]]] = {}
                for seq, gid, member, kind, added in state.member_changes:
                    if seq > since:
                        entry: dict[str, Any] = {"@odata.type": f"#microsoft.graph.{kind}", "id": member}
                        if not added:
                            entry["@removed"] = {"reason": "deleted"}
                        changes.setdefault(gid, []).append(entry)
                for gid, members in changes.items():
                    value.append(
                        {**select(state.groups[gid].props, ["displayName"]), "members@delta": members}
                    )
            token = _token({"since": state.seq})
            return ok(
                {
                    "@odata.context": f"{state.base_url}/v1.0/$metadata#groups",
                    "value": value,
                    "@odata.deltaLink": f"{state.base_url}/v1.0/groups/delta?$deltatoken={token}",
                }
            )
