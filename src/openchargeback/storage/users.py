"""Users, server-side sessions and login attempts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, insert, select, update

from openchargeback.storage.auth_tables import login_attempts, sessions, users
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


# -- login attempts ----------------------------------------------------------------------
def record_attempt(conn: Connection, username: str, ip: str, success: bool, now: datetime) -> None:
    conn.execute(insert(login_attempts).values(at=now, username=username[:64], ip=ip[:64], success=success))


def recent_failures(
    conn: Connection, *, since: datetime, username: str | None = None, ip: str | None = None
) -> tuple[int, datetime | None]:
    """Failed attempts since ``since`` (after the last success for a user), and the oldest."""
    conds = [login_attempts.c.at >= since, login_attempts.c.success.is_(False)]
    if username is not None:
        last_ok = conn.execute(
            select(func.max(login_attempts.c.at)).where(
                login_attempts.c.username == username, login_attempts.c.success.is_(True)
            )
        ).scalar()
        if last_ok is not None:
            conds.append(login_attempts.c.at > last_ok)
        conds.append(login_attempts.c.username == username)
    if ip is not None:
        conds.append(login_attempts.c.ip == ip)
    n, oldest = conn.execute(select(func.count(), func.min(login_attempts.c.at)).where(and_(*conds))).one()
    return n, oldest
