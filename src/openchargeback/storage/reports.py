"""Aggregates over charges, summed exactly in SQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, func, literal, select

from openchargeback.storage.charges import NOT_REJECTED
from openchargeback.storage.sums import money_sum, read_sum
from openchargeback.storage.tables import charge_details, charges, sources

COST_LABELS = ("billed_cost", "effective_cost", "list_cost", "contracted_cost")

GROUPS = {
    "source": sources.c.name,
    "pi": charges.c.pi_email,
    "project": charges.c.project_id,
    "fund": charges.c.fund_org,
    "service": charge_details.c.service_name,
}


def totals(conn: Connection, period_id: int, by: str | None = None) -> list[dict[str, Any]]:
    """Rows of {group, currency, rows, <cost sums>} for a period, by currency and group."""
    dialect = conn.dialect.name
    group = GROUPS[by] if by else literal(None)
    cols: list[ColumnElement[Any]] = [
        group.label("grp"),
        charges.c.billing_currency,
        func.count().label("rows"),
    ]
    for label in COST_LABELS:
        cols += money_sum(dialect, charges.c[label], label)
    # Rejected charges are never part of a sum of money.
    q = select(*cols).select_from(charges).where(charges.c.period_id == period_id, NOT_REJECTED)
    if by == "source":
        q = q.join(sources, sources.c.id == charges.c.source_id)
    if by == "service":
        q = q.join(charge_details, charge_details.c.id == charges.c.detail_id)
    q = q.group_by(*([group] if by else []), charges.c.billing_currency)
    out = []
    for row in conn.execute(q):
        item = {"group": row.grp, "currency": row.billing_currency, "rows": row.rows}
        for label in COST_LABELS:
            item[label] = read_sum(dialect, row, label)
        out.append(item)
    return out
