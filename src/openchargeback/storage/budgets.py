"""Budget alerts raised: one row per (holder, span, threshold), so each is raised once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from openchargeback.storage.registry_tables import budget_alerts
from openchargeback.storage.types import AnyRow, inserted_id


def raised(conn: Connection, holder_kind: str, holder: str, span: str) -> set[int]:
    return set(
        conn.execute(
            select(budget_alerts.c.threshold).where(
                budget_alerts.c.holder_kind == holder_kind,
                budget_alerts.c.holder == holder,
                budget_alerts.c.span == span,
            )
        ).scalars()
    )


def all_raised(conn: Connection) -> dict[tuple[str, str, str], set[int]]:
    out: dict[tuple[str, str, str], set[int]] = {}
    for r in conn.execute(
        select(
            budget_alerts.c.holder_kind,
            budget_alerts.c.holder,
            budget_alerts.c.span,
            budget_alerts.c.threshold,
        )
    ):
        out.setdefault((r.holder_kind, r.holder, r.span), set()).add(r.threshold)
    return out


def add(conn: Connection, values: dict[str, Any]) -> int | None:
    """Insert an alert; None when the same (holder, span, threshold) was raised meanwhile
    (by another process: the unique constraint decides)."""
    try:
        with conn.begin_nested():
            return inserted_id(conn.execute(insert(budget_alerts).values(**values)))
    except IntegrityError:
        return None


def listing(
    conn: Connection, *, unsent_only: bool = False, span: str | None = None, limit: int = 500
) -> Sequence[AnyRow]:
    q = select(budget_alerts).order_by(budget_alerts.c.id.desc()).limit(limit)
    if unsent_only:
        q = q.where(budget_alerts.c.recipients.is_not(None), budget_alerts.c.notified_at.is_(None))
    if span is not None:
        q = q.where(budget_alerts.c.span == span)
    return conn.execute(q).all()


def mark_notified(conn: Connection, alert_id: int, now: datetime) -> bool:
    """Claim an alert for sending; False when someone else already did."""
    res = conn.execute(
        update(budget_alerts)
        .where(budget_alerts.c.id == alert_id, budget_alerts.c.notified_at.is_(None))
        .values(notified_at=now)
    )
    return res.rowcount == 1
