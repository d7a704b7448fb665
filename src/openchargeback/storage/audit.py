"""The audit log: who did what, when, from where."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, insert, select

from openchargeback.storage.auth_tables import audit_log
from openchargeback.storage.types import AnyRow


def record(
    conn: Connection,
    *,
    at: datetime,
    actor: str,
    action: str,
    target: str | None = None,
    detail: str | None = None,
    ip: str | None = None,
) -> None:
    conn.execute(
        insert(audit_log).values(
            at=at,
            actor=actor[:200],
            action=action,
            target=target[:300] if target else None,
            detail=detail,
            ip=ip[:64] if ip else None,
        )
    )


def listing(
    conn: Connection,
    *,
    action: str | None = None,
    actor: str | None = None,
    text: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> Sequence[AnyRow]:
    """Newest first, ``limit`` at a time before ``before_id`` (key pagination)."""
    conds: list[ColumnElement[bool]] = []
    if action:
        conds.append(audit_log.c.action.startswith(action, autoescape=True))
    if actor:
        conds.append(audit_log.c.actor == actor)
    if text:
        pat = f"%{text.lower()}%"
        conds.append(audit_log.c.target.ilike(pat) | audit_log.c.detail.ilike(pat))
    if before_id is not None:
        conds.append(audit_log.c.id < before_id)
    q = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if conds:
        q = q.where(and_(*conds))
    return conn.execute(q).all()


def actions(conn: Connection) -> list[str]:
    return list(conn.execute(select(audit_log.c.action).distinct().order_by(audit_log.c.action)).scalars())
