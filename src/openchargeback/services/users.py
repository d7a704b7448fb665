"""Users: Argon2id password hashes, roles, bootstrap users from the config.

Passwords are hashed with Argon2id (argon2-cffi's defaults: 64 MiB, 3 passes). A
disabled user cannot log in and their sessions end; so do a user's other sessions
when the password changes.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING

from openchargeback.config import EXAMPLE_PASSWORD_HASHES
from openchargeback.domain.errors import Conflict, InvalidInput, NotFound
from openchargeback.domain.roles import TooManyAttempts, parse_role
from openchargeback.services import audit
from openchargeback.services.context import Context
from openchargeback.storage import users as repo

if TYPE_CHECKING:
    from argon2 import PasswordHasher

MIN_PASSWORD = 10
# Each Argon2id check takes 64 MiB: a burst of logins must not take the server's memory.
HASHING_AT_ONCE = 4  # per process
HASHING_WAIT_SECONDS = 5.0
_hashing = threading.BoundedSemaphore(HASHING_AT_ONCE)
_NAME_OK = re.compile(r"^[a-z0-9_.@-]{1,64}$")


@cache
def _hasher() -> PasswordHasher:
    """argon2 is loaded on first use, not by every command that imports this module."""
    from argon2 import PasswordHasher

    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    """Verified against when the user is unknown, so that a miss costs as long as a hit.
    Made on the first verification (of a hit or a miss alike), not at import time."""
    return _hasher().hash("not a password of anybody")


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    role: str
    disabled: bool
    from_config: bool
    created_at: datetime
    password_changed_at: datetime
    active_sessions: int = 0

    def as_json(self) -> dict:
        return {
            "username": self.username,
            "role": self.role,
            "disabled": self.disabled,
            "from_config": self.from_config,
            "created_at": self.created_at.isoformat(),
            "password_changed_at": self.password_changed_at.isoformat(),
            "active_sessions": self.active_sessions,
        }


def _info(row, sessions: int = 0) -> UserInfo:
    return UserInfo(
        row.id,
        row.username,
        row.role,
        bool(row.disabled),
        bool(row.from_config),
        row.created_at,
        row.password_changed_at,
        sessions,
    )


@contextmanager
def _hash_slot() -> Iterator[None]:
    """One of HASHING_AT_ONCE hashing slots; the excess waits briefly, then is refused."""
    if not _hashing.acquire(timeout=HASHING_WAIT_SECONDS):
        raise TooManyAttempts("too many logins at this moment; try again in a few seconds")
    try:
        yield
    finally:
        _hashing.release()


def hash_password(password: str) -> str:
    check_password(password)
    with _hash_slot():
        return _hasher().hash(password)


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(f"password too short: {len(password)} characters, at least {MIN_PASSWORD} needed")


def verify(password_hash: str | None, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    with _hash_slot():
        dummy = _dummy_hash()  # before the branch: the first hit pays for it as the first miss does
        try:
            return _hasher().verify(password_hash or dummy, password) and password_hash is not None
        except (VerificationError, InvalidHashError):
            return False


def is_example_hash(password_hash: str) -> bool:
    return password_hash in EXAMPLE_PASSWORD_HASHES


def _key(username: str) -> str:
    key = username.strip().lower()
    if not _NAME_OK.match(key):
        raise InvalidInput(f"user name {username!r}: use 1-64 letters, digits, '.', '_', '@' or '-'")
    return key


def list_users(ctx: Context) -> list[UserInfo]:
    with ctx.read() as conn:
        counts = repo.active_session_counts(conn, ctx.clock())
        return [_info(r, counts.get(r.id, 0)) for r in repo.list_all(conn)]


def get_user(ctx: Context, username: str) -> UserInfo:
    with ctx.read() as conn:
        row = repo.get(conn, username)
        if row is None:
            raise NotFound(f"user {username!r} does not exist")
        return _info(row)


def add_user(
    ctx: Context, username: str, password: str, role: str = "viewer", *, ip: str | None = None
) -> UserInfo:
    key, r = _key(username), parse_role(role)
    password_hash = hash_password(password)
    with ctx.write() as conn:
        if repo.get(conn, key) is not None:
            raise Conflict(f"user {key!r} exists already")
        repo.add(conn, key, password_hash, r.value, from_config=False, now=ctx.clock())
        audit.record_in(conn, ctx, "user.add", key, f"role {r.value}", ip)
        return _info(repo.get(conn, key))


def set_password(
    ctx: Context, username: str, password: str, *, ip: str | None = None, keep_session: int | None = None
) -> UserInfo:
    """Set a password (an admin's reset, or the user's own change) and end the user's
    sessions, except ``keep_session`` (the one making the change)."""
    password_hash = hash_password(password)
    with ctx.write() as conn:
        row = _existing(conn, username)
        now = ctx.clock()
        repo.update_user(conn, row.id, password_hash=password_hash, password_changed_at=now)
        ended = repo.revoke_sessions(conn, user_id=row.id, now=now, keep=keep_session)
        audit.record_in(conn, ctx, "user.password", row.username, f"{ended} session(s) ended", ip)
        return _info(repo.get(conn, row.username))


def change_own_password(
    ctx: Context, username: str, current: str, new: str, *, session_id: int | None, ip: str | None = None
) -> UserInfo:
    with ctx.read() as conn:
        row = _existing(conn, username)
    if not verify(row.password_hash, current):
        raise InvalidInput("the current password is not correct")
    return set_password(ctx, username, new, ip=ip, keep_session=session_id)


def set_role(ctx: Context, username: str, role: str, *, ip: str | None = None) -> UserInfo:
    r = parse_role(role)
    with ctx.write() as conn:
        row = _existing(conn, username)
        if row.role == "admin" and r.value != "admin":
            _keep_an_admin(conn, row.id)
        repo.update_user(conn, row.id, role=r.value)
        audit.record_in(conn, ctx, "user.role", row.username, f"{row.role} -> {r.value}", ip)
        return _info(repo.get(conn, row.username))


def set_disabled(ctx: Context, username: str, disabled: bool, *, ip: str | None = None) -> UserInfo:
    with ctx.write() as conn:
        row = _existing(conn, username)
        if disabled and row.role == "admin":
            _keep_an_admin(conn, row.id)
        repo.update_user(conn, row.id, disabled=disabled)
        ended = repo.revoke_sessions(conn, user_id=row.id, now=ctx.clock()) if disabled else 0
        audit.record_in(
            conn,
            ctx,
            "user.disable" if disabled else "user.enable",
            row.username,
            f"{ended} session(s) ended" if disabled else None,
            ip,
        )
        return _info(repo.get(conn, row.username))


def bootstrap(ctx: Context) -> list[str]:
    """Create the config's users that do not exist yet; the database is authoritative
    for users that do (their passwords may have been changed since)."""
    wanted = ctx.settings.users
    if not wanted:
        return []
    with ctx.read() as conn:
        missing = [u for u in wanted if repo.get(conn, u.username) is None]
    if not missing:
        return []
    with ctx.write() as conn:
        made = []
        for u in missing:
            if repo.get(conn, u.username) is None:
                repo.add(conn, u.username, u.password_hash, u.role, from_config=True, now=ctx.clock())
                audit.record_in(conn, ctx, "user.add", u.username.lower(), f"role {u.role}, from config")
                made.append(u.username.lower())
        return made


def _existing(conn, username: str):
    row = repo.get(conn, username)
    if row is None:
        raise NotFound(f"user {username!r} does not exist")
    return row


def _keep_an_admin(conn, user_id: int) -> None:
    others = [r for r in repo.list_all(conn) if r.role == "admin" and not r.disabled and r.id != user_id]
    if not others:
        raise Conflict("this is the last enabled admin; make another user admin first")
