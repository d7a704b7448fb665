"""Allowance ledger queries (see ``allowance_tables``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, update

from openchargeback.storage.allowance_tables import allowance_consumption as cons
from openchargeback.storage.allowance_tables import allowance_runs as runs
from openchargeback.storage.types import AnyRow, inserted_id


def current_run(conn: Connection, rate_table: str, converter: str, period: str) -> AnyRow | None:
    return conn.execute(
        select(runs).where(
            runs.c.rate_table == rate_table,
            runs.c.converter == converter,
            runs.c.period == period,
            runs.c.is_current.is_(True),
        )
    ).first()


def create_run(conn: Connection, values: dict[str, Any]) -> int:
    return inserted_id(conn.execute(insert(runs).values(is_current=True, **values)))


def supersede(conn: Connection, run_id: int, by_id: int | None) -> None:
    """Mark a run no longer current (``by_id``: its successor, None until it exists)."""
    conn.execute(update(runs).where(runs.c.id == run_id).values(is_current=None, superseded_by_id=by_id))


def add_consumption(conn: Connection, run_id: int, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(insert(cons), [{"run_id": run_id, **r} for r in rows])


def current_consumption(
    conn: Connection, rate_table: str, fiscal_year: str | None = None
) -> Sequence[AnyRow]:
    """(run_id, converter, period, fiscal_year, input_sha256, subsidy, project_id, quantity,
    amount) of the current runs of a rate table, optionally of one fiscal year."""
    q = (
        select(
            runs.c.id.label("run_id"),
            runs.c.converter,
            runs.c.period,
            runs.c.fiscal_year,
            runs.c.input_sha256,
            cons.c.subsidy,
            cons.c.project_id,
            cons.c.quantity,
            cons.c.amount,
        )
        .join(cons, cons.c.run_id == runs.c.id)
        .where(runs.c.rate_table == rate_table, runs.c.is_current.is_(True))
    )
    if fiscal_year is not None:
        q = q.where(runs.c.fiscal_year == fiscal_year)
    return conn.execute(q.order_by(runs.c.period, runs.c.converter, cons.c.subsidy, cons.c.project_id)).all()


def consumption_of(conn: Connection, run_id: int) -> Sequence[AnyRow]:
    return conn.execute(
        select(cons.c.subsidy, cons.c.project_id, cons.c.quantity, cons.c.amount).where(
            cons.c.run_id == run_id
        )
    ).all()
