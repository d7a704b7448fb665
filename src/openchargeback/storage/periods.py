"""Billing periods and their status history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from openchargeback.domain.periods import Period, PeriodStatus
from openchargeback.storage.tables import period_transitions, periods


def get(conn: Connection, name: str):
    return conn.execute(select(periods).where(periods.c.name == name)).first()


def get_by_id(conn: Connection, period_id: int):
    return conn.execute(select(periods).where(periods.c.id == period_id)).first()


def get_or_create(conn: Connection, period: Period, actor: str, now: datetime):
    row = get(conn, period.name)
    if row is not None:
        return row
    pid = conn.execute(insert(periods).values(
        name=period.name, starts_at=period.start, ends_at=period.end,
        status=PeriodStatus.OPEN.value, created_at=now)).inserted_primary_key[0]
    conn.execute(insert(period_transitions).values(
        period_id=pid, from_status=None, to_status=PeriodStatus.OPEN.value,
        reason="created", actor=actor, at=now))
    return get(conn, period.name)


def list_all(conn: Connection):
    return conn.execute(select(periods).order_by(periods.c.name.desc())).all()


def set_status(conn: Connection, row, to_status: PeriodStatus, reason: str | None,
               actor: str, now: datetime) -> None:
    conn.execute(update(periods).where(periods.c.id == row.id).values(status=to_status.value))
    conn.execute(insert(period_transitions).values(
        period_id=row.id, from_status=row.status, to_status=to_status.value,
        reason=reason, actor=actor, at=now))


def transitions(conn: Connection, period_id: int):
    return conn.execute(select(period_transitions)
                        .where(period_transitions.c.period_id == period_id)
                        .order_by(period_transitions.c.id)).all()
