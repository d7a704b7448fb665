"""Logins, server-side sessions and throttling.

The session cookie holds a random token; the database holds only its HMAC (keyed by
``server.secret_key``), so a copy of the database gives no usable cookie. A session
ends at logout, when its user's password changes or the user is disabled, or after
``server.session_lifetime_minutes``. Failed logins slow further attempts per user
name and per client address (see :func:`login`).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from itsdangerous import BadSignature, TimestampSigner

from openchargeback.config import Settings
from openchargeback.domain.periods import Period
from openchargeback.domain.roles import NotAuthenticated, TooManyAttempts
from openchargeback.services import audit
from openchargeback.services.context import Context
from openchargeback.services.users import is_example_hash, verify
from openchargeback.storage import users as repo

WINDOW = timedelta(minutes=15)  # failures older than this are forgotten
FREE_PER_USER = 3  # failures of a user name before each attempt must wait
FREE_PER_ADDRESS = 10  # real failures from one address before each of its attempts waits
MAX_DELAY = timedelta(seconds=60)
HOLD = timedelta(seconds=15)  # an attempt's claim on its keys while the password is checked
TOUCH_EVERY = timedelta(minutes=5)
LOGIN_FORM_LIFETIME = timedelta(hours=1)
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


def delay(failures: int, free: int) -> timedelta:
    """How long after the last failure the next attempt waits: nothing after the first
    ``free`` failures, then 1 s, 2 s, 4 s ... up to MAX_DELAY."""
    if failures <= free:
        return timedelta(0)
    return min(MAX_DELAY, timedelta(seconds=2 ** min(failures - free - 1, 16)))


def _live(row, now: datetime) -> int:
    """A throttle row's failures still inside the window."""
    if row is None or row.last_failure_at is None or now - row.last_failure_at >= WINDOW:
        return 0
    return int(row.failures)


def _refuse(until: datetime, now: datetime) -> TooManyAttempts:
    wait = max(1, math.ceil((until - now).total_seconds()))
    return TooManyAttempts(
        f"too many failed logins for this user name or from this address; try again in {wait} second(s)"
    )


def _claim(ctx: Context, keys: tuple[str, str], now: datetime) -> dict[str, Any]:
    """Claim the right to check one password for this user name (always) and this address
    (past FREE_PER_ADDRESS failures): the claimed rows as they were. Refused
    (TooManyAttempts, nothing written) while a delay runs or another attempt holds a key."""
    user_key, ip_key = keys
    with ctx.write() as conn:
        before = {k: repo.throttle_state(conn, k) for k in keys}
        claimed = {user_key: before[user_key]}
        if _live(before[ip_key], now) > FREE_PER_ADDRESS:
            claimed[ip_key] = before[ip_key]
        for key in claimed:
            if not repo.throttle_claim(conn, key, now=now, hold_until=now + HOLD):
                held = repo.throttle_state(conn, key)
                raise _refuse(held.next_at if held is not None else now, now)  # rolls back every claim
    return claimed


def _settle(
    ctx: Context, claimed: dict[str, Any], keys: tuple[str, str], failed: bool, now: datetime
) -> None:
    """After a password was checked: count a failure for both keys (their delay starts),
    or on success forget the user name's failures; release the claims."""
    user_key, ip_key = keys
    with ctx.write() as conn:
        if failed:
            for key, free in ((user_key, FREE_PER_USER), (ip_key, FREE_PER_ADDRESS)):
                n = repo.throttle_fail(conn, key, now=now, window_start=now - WINDOW)
                repo.throttle_release(conn, key, next_at=now + delay(n, free))
        else:
            repo.throttle_forget(conn, user_key)
            if ip_key in claimed:  # a success does not wipe an address's failures
                row = repo.throttle_state(conn, ip_key)
                n = _live(row, now)
                last = row.last_failure_at if row is not None and n else now
                repo.throttle_release(conn, ip_key, next_at=last + delay(n, FREE_PER_ADDRESS))


def _unclaim(ctx: Context, claimed: dict[str, Any], now: datetime) -> None:
    """The check did not happen (hashing busy, a fault): give the keys back as they were."""
    with ctx.write() as conn:
        for key, row in claimed.items():
            if row is None:
                repo.throttle_forget(conn, key)
            else:
                repo.throttle_release(conn, key, next_at=row.next_at)


def login(ctx: Context, username: str, password: str, *, ip: str, user_agent: str | None = None) -> Login:
    """Check a password and open a session.

    Throttling slows guessing without locking the owner out: after a few failures each
    attempt on that user name (and, after more, from that address) waits a growing
    delay (1 s doubling to a minute) after the last failure, and then is checked like any
    other, so the right password always gets in after the wait. Attempts refused during
    a delay are not failures and change nothing; only checked wrong passwords count."""
    key = (username or "").strip().lower()[:64]
    keys = (f"user:{key}", f"ip:{ip[:64]}")
    now = ctx.clock()
    claimed = _claim(ctx, keys, now)
    try:
        with ctx.read() as conn:
            row = repo.get(conn, key) if key else None
        ok = verify(row.password_hash if row else None, password or "")
    except BaseException:
        _unclaim(ctx, claimed, now)
        raise
    why: str | None = None
    if row is None:
        why = "unknown user"  # verify() has spent the same time on a dummy hash
    elif not ok:
        why = "wrong password"
    elif row.disabled:
        why = "user disabled"
    elif is_example_hash(row.password_hash) and not ctx.settings.dev_mode:
        why = "example password refused outside dev_mode"
    elif not ctx.settings.sso.local_passwords and row.role != "admin":
        why = "local passwords are off (sso.local_passwords); only an admin may use one"
    now = ctx.clock()
    _settle(ctx, claimed, keys, why is not None, now)
    if why is not None:
        with ctx.write() as conn:  # its own transaction: it locks rows of other attempts
            repo.throttle_prune(conn, before=now - WINDOW)
    with ctx.write() as conn:
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


def open_session(ctx: Context, username: str, *, ip: str, user_agent: str | None, how: str) -> Login:
    """A session for a user who signed in elsewhere (single sign-on; ``how`` says which,
    for the audit log): no password is checked here. Refused for a disabled user."""
    now = ctx.clock()
    token = secrets.token_urlsafe(32)
    with ctx.read() as conn:
        row = repo.get(conn, username)
    if row is None or row.disabled:
        audit.record(ctx.as_actor(username), "login.failure", username, f"{how}: user disabled", ip)
        raise NotAuthenticated(f"user {username!r} is disabled; ask an admin")
    with ctx.write() as conn:
        repo.add_session(
            conn,
            {
                "token_hash": _hash(ctx.settings, token),
                "user_id": row.id,
                "csrf_token": secrets.token_urlsafe(32),
                "created_at": now,
                "expires_at": now + timedelta(minutes=ctx.settings.server.session_lifetime_minutes),
                "last_seen_at": now,
                "ip": ip[:64],
                "user_agent": (user_agent or "")[:300],
                "period": None,
            },
        )
        audit.record_in(conn, ctx.as_actor(row.username), "login.success", row.username, how, ip)
    found = session(ctx, token)
    assert found is not None
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


def _login_signer(settings: Settings) -> TimestampSigner:
    key = settings.server.secret_key.encode() if settings.server.secret_key else _PROCESS_KEY
    return TimestampSigner(key, salt="openchargeback.login-form")


def login_token(settings: Settings, nonce: str) -> str:
    """The login form's CSRF token: the login cookie's nonce, signed and dated."""
    return _login_signer(settings).sign(nonce).decode()


def login_token_ok(settings: Settings, nonce: str | None, token: str | None) -> bool:
    """The token was signed by this server, for this cookie's nonce, less than
    LOGIN_FORM_LIFETIME ago."""
    if not nonce or not token or len(token) > 300:
        return False
    try:
        signed = _login_signer(settings).unsign(token, max_age=int(LOGIN_FORM_LIFETIME.total_seconds()))
    except BadSignature:  # also SignatureExpired
        return False
    return hmac.compare_digest(signed, nonce.encode())


def csrf_ok(s: Session, token: str | None) -> bool:
    if not token:
        return False
    return hmac.compare_digest(s.csrf_token, token)
