"""Users, server-side sessions and the login throttle."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from openchargeback.storage.auth_tables import login_throttle, sessions, users
from openchargeback.storage.types import AnyRow, inserted_id


def get(conn: Connection, username: str) -> AnyRow | None:
    return conn.execute(select(users).where(users.c.username == username.strip().lower())).first()


def get_by_id(conn: Connection, user_id: int) -> AnyRow | None:
    return conn.execute(select(users).where(users.c.id == user_id)).first()


def list_all(conn: Connection) -> Sequence[AnyRow]:
    return conn.execute(select(users).order_by(users.c.username)).all()


def count(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(users)).scalar_one()


def add(
    conn: Connection, username: str, password_hash: str, role: str, *, from_config: bool, now: datetime
) -> int:
    return inserted_id(
        conn.execute(
            insert(users).values(
                username=username.strip().lower(),
                password_hash=password_hash,
                role=role,
                disabled=False,
                from_config=from_config,
                created_at=now,
                password_changed_at=now,
            )
        )
    )


def update_user(conn: Connection, user_id: int, **values: Any) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(**values))


# -- sessions ----------------------------------------------------------------------------
def add_session(conn: Connection, values: dict[str, Any]) -> int:
    return inserted_id(conn.execute(insert(sessions).values(**values)))


def session_with_user(conn: Connection, token_hash: str) -> AnyRow | None:
    return conn.execute(
        select(sessions, users.c.username, users.c.role, users.c.disabled)
        .join(users, users.c.id == sessions.c.user_id)
        .where(sessions.c.token_hash == token_hash)
    ).first()


def touch_session(conn: Connection, session_id: int, **values: Any) -> None:
    conn.execute(update(sessions).where(sessions.c.id == session_id).values(**values))


def revoke_sessions(
    conn: Connection,
    *,
    user_id: int | None = None,
    session_id: int | None = None,
    now: datetime,
    keep: int | None = None,
) -> int:
    conds: list[ColumnElement[bool]] = [sessions.c.revoked_at.is_(None)]
    if user_id is not None:
        conds.append(sessions.c.user_id == user_id)
    if session_id is not None:
        conds.append(sessions.c.id == session_id)
    if keep is not None:
        conds.append(sessions.c.id != keep)
    return conn.execute(update(sessions).where(and_(*conds)).values(revoked_at=now)).rowcount


def active_session_counts(conn: Connection, now: datetime) -> dict[int, int]:
    rows = conn.execute(
        select(sessions.c.user_id, func.count())
        .where(sessions.c.revoked_at.is_(None), sessions.c.expires_at > now)
        .group_by(sessions.c.user_id)
    ).all()
    return {uid: n for uid, n in rows}


# -- login throttle ---------------------------------------------------------------------
def throttle_state(conn: Connection, key: str) -> AnyRow | None:
    return conn.execute(select(login_throttle).where(login_throttle.c.key == key)).first()


def throttle_claim(conn: Connection, key: str, *, now: datetime, hold_until: datetime) -> bool:
    """Take the right to evaluate one attempt for ``key``: True when its row was free
    (``next_at`` passed) and is now held until ``hold_until``; False when another attempt
    holds it or its delay runs. The row's update (or its unique key) decides, not a read."""
    held = conn.execute(
        update(login_throttle)
        .where(login_throttle.c.key == key, login_throttle.c.next_at <= now)
        .values(next_at=hold_until)
    ).rowcount
    if held:
        return True
    if throttle_state(conn, key) is not None:
        return False
    try:
        with conn.begin_nested():
            conn.execute(insert(login_throttle).values(key=key, failures=0, next_at=hold_until))
    except IntegrityError:
        return False  # claimed by a concurrent attempt
    return True


def throttle_fail(conn: Connection, key: str, *, now: datetime, window_start: datetime) -> int:
    """Count one real failure for ``key`` (failures before ``window_start`` are
    forgotten) in one UPDATE, so concurrent failures all count; the new count."""
    fresh = or_(login_throttle.c.last_failure_at.is_(None), login_throttle.c.last_failure_at < window_start)
    bumped = conn.execute(
        update(login_throttle)
        .where(login_throttle.c.key == key)
        .values(
            failures=case((fresh, 1), else_=login_throttle.c.failures + 1),
            last_failure_at=now,
        )
    ).rowcount
    if not bumped:
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(login_throttle).values(key=key, failures=1, last_failure_at=now, next_at=now)
                )
        except IntegrityError:
            return throttle_fail(conn, key, now=now, window_start=window_start)
    return int(
        conn.execute(select(login_throttle.c.failures).where(login_throttle.c.key == key)).scalar_one()
    )


def throttle_release(conn: Connection, key: str, *, next_at: datetime) -> None:
    conn.execute(update(login_throttle).where(login_throttle.c.key == key).values(next_at=next_at))


def throttle_forget(conn: Connection, key: str) -> None:
    conn.execute(delete(login_throttle).where(login_throttle.c.key == key))


def throttle_prune(conn: Connection, *, before: datetime) -> int:
    """Drop rows with no failure since ``before`` and no running delay (made-up user
    names must not pile up). Rows another attempt has locked are skipped, not waited
    for (PostgreSQL's SKIP LOCKED; SQLite has one writer), so pruning never deadlocks."""
    stale = (
        select(login_throttle.c.key)
        .where(
            login_throttle.c.next_at < before,
            or_(login_throttle.c.last_failure_at.is_(None), login_throttle.c.last_failure_at < before),
        )
        .limit(1000)
        .with_for_update(skip_locked=True)
    )
    return conn.execute(delete(login_throttle).where(login_throttle.c.key.in_(stale))).rowcount
