"""Personal access tokens for the API. The secret is shown once; the database keeps its
SHA-256 (256 random bits need no slow hash) and the first characters to name it. A
token acts as its user, with their role and scope, limited to reading unless its scope
is ``write``; it stops working when it expires, is revoked or its user is disabled."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from openchargeback.domain.errors import InvalidInput, NotFound
from openchargeback.domain.jsonable import Jsonable
from openchargeback.domain.roles import Forbidden, NotAuthenticated
from openchargeback.services import audit
from openchargeback.services.context import Context
from openchargeback.storage import portal as repo
from openchargeback.storage import users as users_repo

PREFIX = "ocb_"
SCOPES = ("read", "write")
TOUCH_EVERY = timedelta(minutes=1)  # last use is written at most this often


@dataclass(frozen=True)
class TokenInfo(Jsonable):
    id: int
    username: str
    name: str
    prefix: str
    scope: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class Created:
    secret: str  # shown once, never stored
    token: TokenInfo


@dataclass(frozen=True)
class TokenUser:
    token_id: int
    user_id: int
    username: str
    role: str
    scope: str

    def require_write(self) -> None:
        if self.scope != "write":
            raise Forbidden(f"token {self.token_id} has scope read; this operation needs a write token")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _info(r) -> TokenInfo:
    return TokenInfo(
        r.id,
        r.username,
        r.name,
        r.prefix,
        r.scope,
        r.created_by,
        r.created_at,
        r.expires_at,
        r.last_used_at,
        r.revoked_at,
    )


def parse_expiry(text: str | None) -> datetime | None:
    """A date (the token works through that day, UTC) or an ISO time with its zone."""
    if not text:
        return None
    try:
        if len(text.strip()) == 10:
            return datetime.combine(date.fromisoformat(text.strip()), time(), UTC) + timedelta(days=1)
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"expiry {text!r}: expected a date YYYY-MM-DD or an ISO time with zone") from None
    if when.tzinfo is None:
        raise InvalidInput(f"expiry {text!r} has no time zone; add Z or +00:00")
    return when.astimezone(UTC)


def create(
    ctx: Context,
    username: str,
    scope: str,
    *,
    name: str = "",
    expires_at: datetime | None = None,
    ip: str | None = None,
) -> Created:
    if scope not in SCOPES:
        raise InvalidInput(f"token scope {scope!r}: expected read or write")
    now = ctx.clock()
    if expires_at is not None and expires_at <= now:
        raise InvalidInput(f"expiry {expires_at.isoformat()} is in the past")
    secret = PREFIX + secrets.token_urlsafe(32)
    with ctx.write() as conn:
        user = users_repo.get(conn, username)
        if user is None:
            raise NotFound(f"user {username!r} does not exist")
        tid = repo.add_token(
            conn,
            {
                "user_id": user.id,
                "name": (name.strip() or f"{scope} token")[:100],
                "prefix": secret[:12],
                "token_hash": _hash(secret),
                "scope": scope,
                "created_by": ctx.actor,
                "created_at": now,
                "expires_at": expires_at,
            },
        )
        audit.record_in(conn, ctx, "token.create", user.username, f"token {tid} scope {scope}", ip)
        row = next(r for r in repo.tokens(conn, user.id) if r.id == tid)
    return Created(secret, _info(row))


def list_tokens(ctx: Context, username: str | None = None) -> tuple[TokenInfo, ...]:
    with ctx.read() as conn:
        uid = None
        if username is not None:
            user = users_repo.get(conn, username)
            if user is None:
                raise NotFound(f"user {username!r} does not exist")
            uid = user.id
        return tuple(_info(r) for r in repo.tokens(conn, uid))


def revoke(ctx: Context, token_id: int, *, username: str | None = None, ip: str | None = None) -> None:
    """Revoke a token (only one of ``username``'s, when given: a user revokes their own)."""
    with ctx.write() as conn:
        uid = None
        if username is not None:
            user = users_repo.get(conn, username)
            uid = user.id if user is not None else -1
        if not repo.revoke_token(conn, token_id, ctx.clock(), uid):
            raise NotFound(f"token {token_id} does not exist or is revoked already")
        audit.record_in(conn, ctx, "token.revoke", f"token {token_id}", None, ip)


def authenticate(ctx: Context, secret: str | None) -> TokenUser:
    """The token's user, or NotAuthenticated (unknown, expired, revoked, user disabled)."""
    if not secret or not secret.startswith(PREFIX) or len(secret) > 200:
        raise NotAuthenticated("send a personal access token: Authorization: Bearer ocb_...")
    now = ctx.clock()
    with ctx.read() as conn:
        r = repo.token_by_hash(conn, _hash(secret))
    if r is None or r.disabled:
        raise NotAuthenticated("the token is not valid")
    if r.revoked_at is not None:
        raise NotAuthenticated(f"token {r.id} was revoked")
    if r.expires_at is not None and r.expires_at <= now:
        raise NotAuthenticated(f"token {r.id} expired at {r.expires_at.isoformat()}")
    if r.last_used_at is None or now - r.last_used_at >= TOUCH_EVERY:
        with ctx.write() as conn:
            repo.touch_token(conn, r.id, now)
    return TokenUser(r.id, r.user_id, r.username, r.role, r.scope)
