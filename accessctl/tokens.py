"""The service API's bearer tokens: made, listed, revoked (audited) and checked.

A token reads ``actk_<key_id>_<secret>``: ``key_id`` finds its row, and only the SHA-256 of the
random ``secret`` is stored, compared in constant time.  The whole token is shown once, by
:func:`create_token`; nothing can show it again.  A token has one scope: ``admin`` (the admin API,
reads included), ``read`` (reads only) or ``hr`` (the HR intake only).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from accessctl import audit
from accessctl.store.models import ApiToken
from accessctl.timestamps import utc

TOKENS: sa.Table = ApiToken.__table__  # type: ignore[attr-defined]
PREFIX = "actk"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
_TOKEN_PATTERN = re.compile(rf"^{PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{43}})$")
#: last_used_at is written at most this often per token (a busy client does not write on every call)
LAST_USED_EVERY = timedelta(seconds=60)


class Scope(StrEnum):
    ADMIN = "admin"
    READ = "read"
    HR = "hr"


#: what a token of each scope may do: an admin token reads too; an HR token only feeds the intake
GRANTS: dict[Scope, frozenset[Scope]] = {
    Scope.ADMIN: frozenset({Scope.ADMIN, Scope.READ}),
    Scope.READ: frozenset({Scope.READ}),
    Scope.HR: frozenset({Scope.HR}),
}


class TokenError(Exception):
    """A token cannot be made or revoked as asked (nothing changed)."""


class AuthFailure(Exception):
    """A presented token is not accepted; ``reason`` is one word (metrics label, log)."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


@dataclass(frozen=True)
class TokenInfo:
    name: str
    scope: Scope
    key_id: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None

    @property
    def state(self) -> str:
        return "revoked" if self.revoked_at else "active"

    def allows(self, needed: Scope) -> bool:
        return self.revoked_at is None and needed in GRANTS[self.scope]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(row: sa.Row) -> TokenInfo:
    def ts(value: datetime | None) -> datetime | None:
        return None if value is None else utc(value)

    return TokenInfo(
        name=row.name,
        scope=Scope(row.scope),
        key_id=row.key_id,
        created_by=row.created_by,
        created_at=utc(row.created_at),
        last_used_at=ts(row.last_used_at),
        revoked_at=ts(row.revoked_at),
        revoked_by=row.revoked_by,
    )


def create_token(engine: Engine, *, name: str, scope: Scope, by: str, now: datetime) -> tuple[TokenInfo, str]:
    """Make a token; returns it with the token itself (to show once: only its hash is kept)."""
    if not NAME_PATTERN.match(name):
        raise TokenError(
            f"token name {name!r}: 1 to 100 letters, digits and . _ @ -, starting with a letter or digit"
        )
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    at = utc(now)
    with engine.begin() as conn:
        taken = conn.execute(sa.select(TOKENS.c.id).where(TOKENS.c.name == name)).first()
        if taken is not None:
            raise TokenError(f"a token named {name!r} exists already (names stay taken after a revoke)")
        conn.execute(
            sa.insert(TOKENS).values(
                name=name,
                key_id=key_id,
                secret_sha256=_digest(secret),
                scope=scope.value,
                created_by=by,
                created_at=at,
            )
        )
        audit.record(
            conn,
            actor=by,
            action="token.created",
            target_type="api_token",
            target_id=name,
            details={"name": name, "scope": scope.value, "key_id": key_id},
            occurred_at=at,
        )
        row = conn.execute(sa.select(TOKENS).where(TOKENS.c.name == name)).one()
    return _info(row), f"{PREFIX}_{key_id}_{secret}"


def list_tokens(conn: Connection) -> list[TokenInfo]:
    return [_info(row) for row in conn.execute(sa.select(TOKENS).order_by(TOKENS.c.name))]


def revoke_token(engine: Engine, *, name: str, by: str, now: datetime) -> TokenInfo:
    """Revoke the token named ``name``: from now on it is refused (audited)."""
    at = utc(now)
    with engine.begin() as conn:
        row = conn.execute(sa.select(TOKENS).where(TOKENS.c.name == name)).first()
        if row is None:
            raise TokenError(f"no token named {name!r} (`accessctl token list` shows them)")
        if row.revoked_at is not None:
            raise TokenError(f"token {name!r} was revoked already, at {utc(row.revoked_at):%Y-%m-%d %H:%M}Z")
        conn.execute(sa.update(TOKENS).where(TOKENS.c.id == row.id).values(revoked_at=at, revoked_by=by))
        audit.record(
            conn,
            actor=by,
            action="token.revoked",
            target_type="api_token",
            target_id=name,
            details={"name": name, "scope": row.scope, "key_id": row.key_id},
            occurred_at=at,
        )
        row = conn.execute(sa.select(TOKENS).where(TOKENS.c.id == row.id)).one()
    return _info(row)


def authenticate(engine: Engine, presented: str | None, *, needed: Scope, now: datetime) -> TokenInfo:
    """The token ``presented`` if it may do what ``needed`` names; else :class:`AuthFailure` with its
    reason: ``missing``, ``malformed``, ``unknown``, ``wrong_secret``, ``revoked``, ``scope``."""
    if not presented:
        raise AuthFailure("missing", "no bearer token: send 'Authorization: Bearer <token>'")
    match = _TOKEN_PATTERN.match(presented)
    if match is None:
        raise AuthFailure("malformed", "not an accessctl API token")
    key_id, secret = match.groups()
    with engine.connect() as conn:
        row = conn.execute(sa.select(TOKENS).where(TOKENS.c.key_id == key_id)).first()
    if row is None:
        raise AuthFailure("unknown", "unknown token")
    if not hmac.compare_digest(row.secret_sha256, _digest(secret)):
        raise AuthFailure("wrong_secret", "unknown token")
    token = _info(row)
    if token.revoked_at is not None:
        raise AuthFailure("revoked", f"token {token.name!r} has been revoked")
    if not token.allows(needed):
        raise AuthFailure("scope", f"token {token.name!r} has scope {token.scope}; this needs {needed}")
    _note_use(engine, token, utc(now))
    return token


def _note_use(engine: Engine, token: TokenInfo, at: datetime) -> None:
    if token.last_used_at is not None and at - token.last_used_at < LAST_USED_EVERY:
        return
    with engine.begin() as conn:
        conn.execute(sa.update(TOKENS).where(TOKENS.c.key_id == token.key_id).values(last_used_at=at))
