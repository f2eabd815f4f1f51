"""Graph groups: listing, lookup, (transitive) members, owners, membership changes, delta."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from connectors.emulators.entra.delta import Position, delta_response
from connectors.emulators.entra.graph import (
    GraphRoutesBase,
    _body,
    ok,
)
from connectors.emulators.entra.odata import parse_select, select
from connectors.emulators.entra.permissions import ROLE_WRITE
from connectors.emulators.entra.schema import GROUP


class GroupRoutes(GraphRoutesBase):
    """Graph groups: listing, lookup, (transitive) members, owners, membership changes, delta."""

    async def list_groups(self, request: Request) -> Response:
        state = self.state
        fields = parse_select(request.query_params.get("$select"), GROUP)
        with state.lock:
            return self._list(
                request,
                "groups",
                state.group_order,
                lambda gid: state.groups[gid].props,
                lambda _, p: select(p, fields),
                entity=GROUP,
            )

    async def count_groups(self, request: Request) -> Response:
        state = self.state
        with state.lock:
            return self._count(request, state.group_order, lambda gid: state.groups[gid].props, GROUP)

    async def get_group(self, request: Request) -> Response:
        with self.state.lock:
            group = self.state.group(request.path_params["group"])
            return ok(select(group.props, parse_select(request.query_params.get("$select"), GROUP)))

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

    def _require_role_write_for(self, request: Request) -> None:
        """Changing a role-assignable group's members also needs RoleManagement.ReadWrite.Directory."""
        with self.state.lock:
            group = self.state.groups.get(request.path_params["group"])
            if group is not None and group.props.get("isAssignableToRole"):
                self._require(request, ROLE_WRITE)

    async def remove_member(self, request: Request) -> Response:
        self._require_role_write_for(request)
        self.state.remove_member(request.path_params["group"], request.path_params["member"])
        return Response(status_code=204)

    async def add_member(self, request: Request) -> Response:
        body = await _body(request)
        self._require_role_write_for(request)
        reference = str(body.get("@odata.id", ""))
        self.state.add_member(request.path_params["group"], reference.rstrip("/").split("/")[-1])
        return Response(status_code=204)

    async def groups_delta(self, request: Request) -> Response:
        """``/groups/delta``: every group with its members in the first round, then the groups whose
        membership changed since, with the members added and removed (``@removed``)."""
        state = self.state

        def changed(position: Position) -> list[str]:
            since, start = position["since"], position["start"]
            if since is None:
                return list(state.group_order)
            touched = {gid for seq, gid, *_ in state.member_changes if since < seq <= start}
            return [gid for gid in state.group_order if gid in touched]

        def render(gid: str, position: Position) -> dict[str, Any]:
            fields = parse_select(position.get("select"), GROUP)
            props = state.groups[gid].props
            body = {"id": gid, **(select(props, [f for f in fields if f != "members"]) if fields else props)}
            if fields and "members" not in fields:
                return body
            since, start = position["since"], position["start"]
            if since is None:
                members = state.groups[gid].members.items()
                body["members@delta"] = [
                    {"@odata.type": f"#microsoft.graph.{k}", "id": m} for m, k in members
                ]
                return body
            entries = []
            for seq, group, member, kind, added in state.member_changes:
                if group == gid and since < seq <= start:
                    entry: dict[str, Any] = {"@odata.type": f"#microsoft.graph.{kind}", "id": member}
                    if not added:
                        entry["@removed"] = {"reason": "deleted"}
                    entries.append(entry)
            body["members@delta"] = entries
            return body

        with state.lock:
            parse_select(request.query_params.get("$select"), GROUP)
            return delta_response(request, state, GROUP, changed, render)
