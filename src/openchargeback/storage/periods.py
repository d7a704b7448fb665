"""Billing periods and their status history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from openchargeback.domain.periods import Period, PeriodStatus
from openchargeback.storage import partitions, writers
from openchargeback.storage.tables import period_transitions, periods
from openchargeback.storage.types import AnyRow, inserted_id


def get(conn: Connection, name: str) -> AnyRow | None:
    return conn.execute(select(periods).where(periods.c.name == name)).first()


def lock(conn: Connection, period_id: int) -> AnyRow:
    """The period's row, locked until the transaction ends (PostgreSQL; SQLite's write
    transaction excludes other writers): a status change waits for an import that holds
    the period, then sees its rows."""
    (row,) = writers.locking(conn, select(periods).where(periods.c.id == period_id).with_for_update())
    return row


def get_by_id(conn: Connection, period_id: int) -> AnyRow | None:
    return conn.execute(select(periods).where(periods.c.id == period_id)).first()


def get_or_create(
    conn: Connection, period: Period, actor: str, now: datetime, period_id: int | None = None
) -> AnyRow:
    """The period's row, created (with its partition, see partitions.add) if missing.
    ``period_id``: the id taken for it by an import that brings its own partition
    (``partitions.adopt``); a period made meanwhile by another keeps its id."""
    row = get(conn, period.name)
    if row is not None:
        return row
    values = {
        "name": period.name,
        "starts_at": period.start,
        "ends_at": period.end,
        "status": PeriodStatus.OPEN.value,
        "created_at": now,
    }
    if period_id is not None:
        values["id"] = period_id
    if conn.dialect.name == "postgresql":
        # two imports may create the same period at once: the second waits for the first
        # and takes its row (SQLite's write transactions never overlap)
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        # RETURNING, not inserted_primary_key: that echoes a given id even when nothing was inserted
        got = conn.execute(
            pg_insert(periods)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["name"])
            .returning(periods.c.id)
        ).scalar()
        if got is None:
            row = get(conn, period.name)
            if row is None:
                raise LookupError(f"period {period.name} vanished after a conflicting insert")
            return row
        pid = int(got)
    else:
        pid = inserted_id(conn.execute(insert(periods).values(**values)))
    if period_id is None:
        partitions.add(conn, pid, period.name)
    conn.execute(
        insert(period_transitions).values(
            period_id=pid,
            from_status=None,
            to_status=PeriodStatus.OPEN.value,
            reason="created",
            actor=actor,
            at=now,
        )
    )
    created = get(conn, period.name)
    if created is None:  # inserted just above, in this transaction
        raise LookupError(f"period {period.name} vanished after its insert")
    return created


def list_all(conn: Connection) -> Sequence[AnyRow]:
    return conn.execute(select(periods).order_by(periods.c.name.desc())).all()


def set_status(
    conn: Connection, row: AnyRow, to_status: PeriodStatus, reason: str | None, actor: str, now: datetime
) -> None:
    conn.execute(update(periods).where(periods.c.id == row.id).values(status=to_status.value))
    conn.execute(
        insert(period_transitions).values(
            period_id=row.id,
            from_status=row.status,
            to_status=to_status.value,
            reason=reason,
            actor=actor,
            at=now,
        )
    )


def transitions(conn: Connection, period_id: int) -> Sequence[AnyRow]:
    return conn.execute(
        select(period_transitions)
        .where(period_transitions.c.period_id == period_id)
        .order_by(period_transitions.c.id)
    ).all()
