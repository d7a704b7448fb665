"""Logins, server-side sessions and throttling.

The session cookie holds a random token; the database holds only its HMAC (keyed by
``server.secret_key``), so a copy of the database gives no usable cookie. A session
ends at logout, when its user's password changes or the user is disabled, or after
``server.session_lifetime_minutes``. Failed logins are throttled per user name and
per client address over a sliding window.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from openchargeback.config import Settings
from openchargeback.domain.periods import Period
from openchargeback.domain.roles import NotAuthenticated, TooManyAttempts
from openchargeback.services import audit
from openchargeback.services.context import Context
from openchargeback.services.users import is_example_hash, verify
from openchargeback.storage import users as repo

WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_ADDRESS = 20
TOUCH_EVERY = timedelta(minutes=5)
_PROCESS_KEY = secrets.token_bytes(32)  # dev mode without a secret_key: this process only
_FAILED = "wrong user name or password"


@dataclass(frozen=True)
class Session:
    id: int
    user_id: int
    username: str
    role: str
    csrf_token: str
    created_at: datetime
    expires_at: datetime
    period: str | None


@dataclass(frozen=True)
class Login:
    token: str  # the cookie value; never stored
    session: Session


def _hash(settings: Settings, token: str) -> str:
    key = settings.server.secret_key.encode() if settings.server.secret_key else _PROCESS_KEY
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def _throttled(ctx: Context, username: str, ip: str) -> int | None:
    """Minutes to wait, when the user name or the address has too many recent failures."""
    now = ctx.clock()
    with ctx.read() as conn:
        n_user, oldest_user = repo.recent_failures(conn, since=now - WINDOW, username=username)
        n_ip, oldest_ip = repo.recent_failures(conn, since=now - WINDOW, ip=ip)
    for n, limit, oldest in (
        (n_user, MAX_FAILURES_PER_USER, oldest_user),
        (n_ip, MAX_FAILURES_PER_ADDRESS, oldest_ip),
    ):
        if n >= limit and oldest is not None:
            return max(1, int((oldest + WINDOW - now).total_seconds() // 60) + 1)
    return None


def login(ctx: Context, username: str, password: str, *, ip: str, user_agent: str | None = None) -> Login:
    key = (username or "").strip().lower()[:64]
    wait = _throttled(ctx, key, ip)
    if wait is not None:
        with ctx.write() as conn:
            repo.record_attempt(conn, key, ip, False, ctx.clock())
            audit.record_in(conn, ctx.as_actor(key or "-"), "login.throttled", key, None, ip)
        raise TooManyAttempts(
            f"too many failed logins for this user name or address; try again in {wait} minute(s)"
        )
    with ctx.read() as conn:
        row = repo.get(conn, key) if key else None
    ok = verify(row.password_hash if row else None, password or "")
    why: str | None = None
    if row is None:
        why = "unknown user"  # verify() has spent the same time on a dummy hash
    elif not ok:
        why = "wrong password"
    elif row.disabled:
        why = "user disabled"
    elif is_example_hash(row.password_hash) and not ctx.settings.dev_mode:
        why = "example password refused outside dev_mode"
    now = ctx.clock()
    with ctx.write() as conn:
        repo.record_attempt(conn, key, ip, why is None, now)
        if why is not None or row is None:
            audit.record_in(conn, ctx.as_actor(key or "-"), "login.failure", key, why, ip)
        else:
            token = secrets.token_urlsafe(32)
            expires = now + timedelta(minutes=ctx.settings.server.session_lifetime_minutes)
            sid = repo.add_session(
                conn,
                {
                    "token_hash": _hash(ctx.settings, token),
                    "user_id": row.id,
                    "csrf_token": secrets.token_urlsafe(32),
                    "created_at": now,
                    "expires_at": expires,
                    "last_seen_at": now,
                    "ip": ip[:64],
                    "user_agent": (user_agent or "")[:300],
                    "period": None,
                },
            )
            audit.record_in(conn, ctx.as_actor(row.username), "login.success", row.username, None, ip)
    if why is not None:
        raise NotAuthenticated(_FAILED)
    found = session(ctx, token)
    assert found is not None and found.id == sid
    return Login(token, found)


def session(ctx: Context, token: str | None) -> Session | None:
    """The live session for a cookie value, or None (unknown, expired, revoked, disabled)."""
    if not token or len(token) > 200:
        return None
    now = ctx.clock()
    with ctx.read() as conn:
        row = repo.session_with_user(conn, _hash(ctx.settings, token))
    if row is None or row.revoked_at is not None or row.expires_at <= now or row.disabled:
        return None
    if now - row.last_seen_at > TOUCH_EVERY:
        with ctx.write() as conn:
            repo.touch_session(conn, row.id, last_seen_at=now)
    return Session(
        row.id,
        row.user_id,
        row.username,
        row.role,
        row.csrf_token,
        row.created_at,
        row.expires_at,
        row.period,
    )


def logout(ctx: Context, s: Session, *, ip: str | None = None) -> None:
    with ctx.write() as conn:
        repo.revoke_sessions(conn, session_id=s.id, now=ctx.clock())
        audit.record_in(conn, ctx, "logout", s.username, None, ip)


def choose_period(ctx: Context, s: Session, period: str) -> str:
    name = Period.parse(period).name
    with ctx.write() as conn:
        repo.touch_session(conn, s.id, period=name)
    return name


def csrf_ok(s: Session, token: str | None) -> bool:
    if not token:
        return False
    return hmac.compare_digest(s.csrf_token, token)
