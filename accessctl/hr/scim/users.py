"""The SCIM User use cases over the store: get, list, create, replace (PUT), patch, delete.

Web-free: the router hands in parsed JSON and gets stored Users back.  Each mutation runs in one
write transaction that changes the ``scim_user`` row, records the HR events it means (source
``scim``) through :func:`accessctl.hr.store.record_event` -- the same dedupe, matching, decisions,
leaver and restore jobs as the signed webhooks -- and audits it; a refusal changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import unicodedata
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from scim2_models import Context, PatchOp, SCIMException, ScimPolicy, SearchRequest
from scim2_models.path import AttrPath, CompareOperator, Comparison
from sqlalchemy.engine import Connection, Engine

from accessctl import audit
from accessctl.hr.decide import RehireMode
from accessctl.hr.events import Employee
from accessctl.hr.scim import wire
from accessctl.hr.scim.errors import (
    ScimError,
    from_scim_exception,
    from_validation_error,
    invalid_value,
    not_found,
)
from accessctl.hr.scim.hr_view import HrView, canonical, changes, view_of
from accessctl.hr.scim.models import ScimUser
from accessctl.hr.store import EVENTS, PEOPLE, SCIM_SOURCE, Lifecycle, match_person, record_event
from accessctl.jobs.tables import lock_for_update, write_tx
from accessctl.store.models import ScimUser as ScimUserRow
from accessctl.timestamps import utc

log = logging.getLogger("accessctl.hr.scim")
USERS: sa.Table = ScimUserRow.__table__  # type: ignore[attr-defined]
SOURCE = SCIM_SOURCE
#: PATCH as Microsoft Entra sends it: an ``add`` to ``emails[type eq "work"].value`` when there is no
#: work email yet creates the entry; a ``remove`` carrying a value removes that value
PATCH_POLICY = ScimPolicy(
    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create,
    remove_value_as_filter=ScimPolicy.RemoveValue.apply,
)


def _now() -> datetime:
    return datetime.now(UTC)


def name_key(user_name: str) -> str:
    """userName as compared (caseExact false): NFC, lower case."""
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", user_name).lower())


@dataclass(frozen=True, slots=True)
class StoredUser:
    id: str
    resource: dict[str, Any]
    version: int
    created: datetime
    last_modified: datetime

    @property
    def etag(self) -> str:
        return f'W/"{self.version}"'

    def model(self, location: str) -> ScimUser:
        user = ScimUser.model_validate(self.resource)
        user.id = self.id
        user.meta = {  # type: ignore[assignment]
            "resourceType": "User",
            "created": self.created,
            "lastModified": self.last_modified,
            "location": location,
            "version": self.etag,
        }
        return user


def _stored(row: sa.Row) -> StoredUser:
    return StoredUser(row.id, dict(row.resource), row.version, utc(row.created_at), utc(row.updated_at))


def _validate(payload: dict[str, Any], context: Context) -> ScimUser:
    try:
        user = ScimUser.model_validate(payload, scim_ctx=context)
    except ValidationError as exc:
        raise from_validation_error(exc) from None
    except SCIMException as exc:
        raise from_scim_exception(exc) from None
    view_of(user)  # what HR needs is there and usable
    return user


def _dump(user: ScimUser) -> dict[str, Any]:
    dumped = user.model_dump(scim_ctx=Context.DEFAULT)
    dumped.pop("id", None)
    dumped.pop("meta", None)
    return dumped


def _check_version(stored: StoredUser, if_match: str | None) -> None:
    """``If-Match`` (RFC 7644 §3.14): the version the client last saw, or 412."""
    if if_match is None or if_match.strip() == "*":
        return
    wanted = {tag.strip().removeprefix("W/") for tag in if_match.split(",")}
    if f'"{stored.version}"' not in wanted:
        raise ScimError(412, f"the User is at version {stored.etag}; read it again before changing it")


@dataclass
class ScimUsers:
    """Everything the SCIM use cases need, passed in: the store, where leavers and restores become
    jobs, the rehire policy, a clock, and the most Users one answer lists."""

    engine: Engine
    lifecycle: Lifecycle
    rehire: RehireMode = "restore"
    clock: Callable[[], datetime] = _now
    max_results: int = 200

    # --- reading -----------------------------------------------------------------------------

    def get(self, user_id: str) -> StoredUser:
        with self.engine.connect() as conn:
            return self._live(conn, user_id)

    def _live(self, conn: Connection, user_id: str, *, lock: bool = False) -> StoredUser:
        query = sa.select(USERS).where(USERS.c.id == user_id, USERS.c.deleted_at.is_(None))
        row = conn.execute(lock_for_update(conn, query) if lock else query).first()
        if row is None:
            raise not_found(f"no User {user_id}")
        return _stored(row)

    def search_request(self, params: Mapping[str, Any]) -> SearchRequest[ScimUser]:
        """The query parameters (or a /.search body) as a checked SearchRequest; a filter naming an
        attribute Users lack, or not SCIM filter syntax, is ``invalidFilter``."""
        try:
            return SearchRequest[ScimUser].model_validate(dict(params), scim_ctx=Context.SEARCH_REQUEST)
        except ValidationError as exc:
            raise from_validation_error(exc) from None
        except SCIMException as exc:
            raise from_scim_exception(exc) from None

    def search(self, request: SearchRequest[ScimUser]) -> tuple[int, int, list[StoredUser]]:
        """(total results, start index, the page) of the live Users matching the filter."""
        start = max(1, request.start_index or 1)
        count = self.max_results if request.count is None else max(0, min(request.count, self.max_results))
        query = sa.select(USERS).where(USERS.c.deleted_at.is_(None)).order_by(USERS.c.created_at, USERS.c.id)
        with self.engine.connect() as conn:
            if request.filter is None:
                total = conn.execute(
                    sa.select(sa.func.count()).select_from(USERS).where(USERS.c.deleted_at.is_(None))
                ).scalar_one()
                rows = conn.execute(query.offset(start - 1).limit(count)).all() if count else []
                return total, start, [_stored(r) for r in rows]
            rows = conn.execute(_narrowed(query, request.filter.ast)).all()
        matched = []
        for row in rows:
            stored = _stored(row)
            if request.filter.match(stored.model("")):
                matched.append(stored)
        return len(matched), start, matched[start - 1 : start - 1 + count]

    # --- writing -----------------------------------------------------------------------------

    def create(self, payload: dict[str, Any], *, actor: str) -> StoredUser:
        user = _validate(wire.user_body(payload), Context.RESOURCE_CREATION_REQUEST)
        view = view_of(user)
        now = self.clock()
        user_id = str(uuid.uuid4())
        with write_tx(self.engine) as conn:
            self._unique_name(conn, user.user_name or "", None)
            manager = self._manager_employee_id(conn, view, None)
            person_id = match_person(conn, view.employee_number, view.email)
            rehire = False
            if person_id is not None:
                taken = conn.execute(
                    sa.select(USERS.c.id).where(USERS.c.person_id == person_id, USERS.c.deleted_at.is_(None))
                ).scalar()
                if taken is not None:
                    raise ScimError(
                        409,
                        f"employee {view.employee_number} is already provisioned as User {taken}",
                        "uniqueness",
                    )
                self._rekey(conn, person_id, view.employee_number, actor=actor, now=now)
                status = conn.execute(sa.select(PEOPLE.c.status).where(PEOPLE.c.id == person_id)).scalar()
                rehire = status == "terminated"
            conn.execute(
                USERS.insert().values(
                    id=user_id,
                    person_id=person_id,
                    employee_id=view.employee_number,
                    user_name=user.user_name,
                    live_user_name=name_key(user.user_name or ""),
                    external_id=user.external_id,
                    resource=_dump(user),
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
            )
            employee = _employee(view, manager)
            events = self._record(
                conn, user_id, 1, changes(None, view, rehire_on_create=rehire), employee, now
            )
            self._audit(conn, "hr.scim.user.created", user_id, actor, now, version=1, events=events)
            stored = self._live(conn, user_id)
        return stored

    def replace(
        self, user_id: str, payload: dict[str, Any], *, actor: str, if_match: str | None
    ) -> StoredUser:
        new = _validate(wire.user_body(payload), Context.RESOURCE_REPLACEMENT_REQUEST)

        def change(old: ScimUser) -> ScimUser:
            try:
                new.replace(old)
            except SCIMException as exc:
                raise from_scim_exception(exc) from None
            return new

        return self._change(user_id, change, actor=actor, if_match=if_match, action="replaced")

    def patch(self, user_id: str, payload: dict[str, Any], *, actor: str, if_match: str | None) -> StoredUser:
        cleaned = wire.patch_body({k: v for k, v in payload.items() if k != "id"})
        try:
            patch = PatchOp[ScimUser].model_validate(
                cleaned, scim_ctx=Context.RESOURCE_PATCH_REQUEST, scim_policy=PATCH_POLICY
            )
        except ValidationError as exc:
            raise from_validation_error(exc) from None
        except SCIMException as exc:
            raise from_scim_exception(exc) from None

        def change(old: ScimUser) -> ScimUser:
            patched = old.model_copy(deep=True)
            try:
                patch.patch(patched, scim_policy=PATCH_POLICY)
                checked = ScimUser.model_validate(_dump(patched))
            except ValidationError as exc:
                raise from_validation_error(exc) from None
            except SCIMException as exc:
                raise from_scim_exception(exc) from None
            view_of(checked)
            return checked

        return self._change(user_id, change, actor=actor, if_match=if_match, action="patched")

    def delete(self, user_id: str, *, actor: str, if_match: str | None) -> None:
        """Terminate the person (if still active) and retire the User: it is then 404 and left out
        of every list, and its userName may be provisioned again.  Nothing is purged."""
        now = self.clock()
        with write_tx(self.engine) as conn:
            stored = self._live(conn, user_id, lock=True)
            _check_version(stored, if_match)
            old = view_of(ScimUser.model_validate(stored.resource))
            version = stored.version + 1
            conn.execute(
                USERS.update()
                .where(USERS.c.id == user_id)
                .values(live_user_name=None, deleted_at=now, updated_at=now, version=version)
            )
            employee = _employee(old, self._manager_employee_id(conn, old, user_id, strict=False))
            employee = self._employee_of_person(conn, user_id, employee)
            events = self._record(conn, user_id, version, changes(old, None), employee, now)
            self._audit(conn, "hr.scim.user.deleted", user_id, actor, now, version=version, events=events)

    def _change(
        self,
        user_id: str,
        change: Callable[[ScimUser], ScimUser],
        *,
        actor: str,
        if_match: str | None,
        action: str,
    ) -> StoredUser:
        now = self.clock()
        with write_tx(self.engine) as conn:
            stored = self._live(conn, user_id, lock=True)
            _check_version(stored, if_match)
            old_user = ScimUser.model_validate(stored.resource)
            new_user = change(old_user.model_copy(deep=True))
            resource = _dump(new_user)
            if resource == stored.resource:
                return stored  # nothing changed: same version, no event
            old, new = view_of(old_user), view_of(new_user)
            self._unique_name(conn, new_user.user_name or "", user_id)
            manager = self._manager_employee_id(conn, new, user_id)
            person_id = conn.execute(sa.select(USERS.c.person_id).where(USERS.c.id == user_id)).scalar()
            if person_id is not None and new.employee_number != old.employee_number:
                self._rekey(conn, person_id, new.employee_number, actor=actor, now=now)
            version = stored.version + 1
            conn.execute(
                USERS.update()
                .where(USERS.c.id == user_id)
                .values(
                    user_name=new_user.user_name,
                    live_user_name=name_key(new_user.user_name or ""),
                    employee_id=new.employee_number,
                    external_id=new_user.external_id,
                    resource=resource,
                    version=version,
                    updated_at=now,
                )
            )
            employee = self._employee_of_person(conn, user_id, _employee(new, manager))
            events = self._record(conn, user_id, version, changes(old, new), employee, now)
            self._audit(conn, f"hr.scim.user.{action}", user_id, actor, now, version=version, events=events)
            return self._live(conn, user_id)

    # --- helpers -----------------------------------------------------------------------------

    def _unique_name(self, conn: Connection, user_name: str, user_id: str | None) -> None:
        holder = conn.execute(
            sa.select(USERS.c.id).where(USERS.c.live_user_name == name_key(user_name))
        ).scalar()
        if holder is not None and holder != user_id:
            raise ScimError(409, f"userName {user_name!r} is already taken by User {holder}", "uniqueness")

    def _manager_employee_id(
        self, conn: Connection, view: HrView, user_id: str | None, *, strict: bool = True
    ) -> str | None:
        """The employee id of the manager a User names by their User ``id``."""
        if view.manager_user_id is None:
            return None
        if view.manager_user_id == user_id:
            raise invalid_value("manager.value names the User itself")
        row = conn.execute(
            sa.select(PEOPLE.c.employee_id)
            .select_from(USERS.join(PEOPLE, PEOPLE.c.id == USERS.c.person_id))
            .where(USERS.c.id == view.manager_user_id, USERS.c.deleted_at.is_(None))
        ).first()
        if row is None:
            if not strict:
                return None
            raise invalid_value(f"manager.value {view.manager_user_id!r} is not the id of a User here")
        return str(row.employee_id)

    def _rekey(
        self, conn: Connection, person_id: int, employee_id: str, *, actor: str, now: datetime
    ) -> None:
        """HR gave this person another employee id (employeeNumber changed): the roster follows."""
        current = conn.execute(sa.select(PEOPLE.c.employee_id).where(PEOPLE.c.id == person_id)).scalar()
        if current == employee_id:
            return
        other = conn.execute(sa.select(PEOPLE.c.id).where(PEOPLE.c.employee_id == employee_id)).scalar()
        if other is not None:
            raise ScimError(
                409, f"employeeNumber {employee_id} already belongs to another person", "uniqueness"
            )
        conn.execute(
            PEOPLE.update().where(PEOPLE.c.id == person_id).values(employee_id=employee_id, updated_at=now)
        )
        audit.record(
            conn,
            actor=actor,
            action="hr.person.rekeyed",
            target_type="person",
            target_id=str(person_id),
            details={"old_employee_id": current, "new_employee_id": employee_id, "source": SOURCE},
            occurred_at=now,
        )

    def _employee_of_person(self, conn: Connection, user_id: str, employee: Employee) -> Employee:
        """The event's employee id is the linked person's (what :func:`match_person` finds)."""
        row = conn.execute(
            sa.select(PEOPLE.c.employee_id)
            .select_from(USERS.join(PEOPLE, PEOPLE.c.id == USERS.c.person_id))
            .where(USERS.c.id == user_id)
        ).first()
        if row is None or row.employee_id == employee.employee_id:
            return employee
        return Employee(
            row.employee_id, employee.email, employee.manager_employee_id, employee.department, employee.title
        )

    def _record(
        self, conn: Connection, user_id: str, version: int, made: list[Any], employee: Employee, now: datetime
    ) -> list[dict[str, Any]]:
        """Record each event as the HR intake does; link the User to its person."""
        recorded = []
        for change in made:
            event = canonical(change, user_id=user_id, version=version, employee=employee, now=now)
            digest = hashlib.sha256(
                json.dumps([event.id, event.type.value, employee.__repr__()], sort_keys=True).encode()
            ).hexdigest()
            accepted = record_event(
                conn,
                source=SOURCE,
                webhook_id=None,
                event=event,
                digest=digest,
                now=now,
                rehire=self.rehire,
                lifecycle=self.lifecycle,
            )
            person_id = conn.execute(
                sa.select(EVENTS.c.person_id).where(EVENTS.c.id == accepted.event_id)
            ).scalar()
            if person_id is not None:
                conn.execute(
                    USERS.update()
                    .where(USERS.c.id == user_id, USERS.c.person_id.is_(None))
                    .values(person_id=person_id)
                )
            recorded.append(
                {"event_id": accepted.event_id, "type": event.type.value, "status": accepted.status}
            )
            log.info(
                "SCIM User %s v%d: HR event %s %s: %s",
                user_id,
                version,
                accepted.event_id,
                event.type,
                accepted.status,
            )
        return recorded

    def _audit(
        self, conn: Connection, action: str, user_id: str, actor: str, now: datetime, **details: Any
    ) -> None:
        audit.record(
            conn,
            actor=actor,
            action=action,
            target_type="scim_user",
            target_id=user_id,
            details=details,
            occurred_at=now,
        )


def _employee(view: HrView, manager_employee_id: str | None) -> Employee:
    return Employee(view.employee_number, view.email, manager_employee_id, view.department, view.title)


def _narrowed(query: sa.Select, node: Any) -> sa.Select:
    """Let the store pick the candidates for the common exact lookups (``userName eq``, what Entra
    and Okta send before each create; ``externalId eq``); the filter still decides."""
    if (
        not isinstance(node, Comparison)
        or node.op is not CompareOperator.eq
        or not isinstance(node.value, str)
    ):
        return query
    path: AttrPath = node.attr_path
    if path.sub_attr is not None or (
        path.uri and path.uri.lower() != "urn:ietf:params:scim:schemas:core:2.0:user"
    ):
        return query
    if path.attr.lower() == "username":
        return query.where(USERS.c.live_user_name == name_key(node.value))
    if path.attr.lower() == "externalid":
        return query.where(USERS.c.external_id == node.value)
    return query
