"""Totals grouped by any attribution dimension, read from the charge rollup (see
rollups.py). Sums are exact: each cost is summed as two integer halves and recombined
in Python."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, select

from openchargeback.domain.money import from_picos
from openchargeback.storage.auth_tables import charge_rollups as r
from openchargeback.storage.rollups import COSTS, SPLIT
from openchargeback.storage.tables import periods, sources

NULL = object()  # a filter value that matches a missing (NULL) attribution

DIMS = {
    "period": periods.c.name,
    "source": sources.c.name,
    "currency": r.c.billing_currency,
    "pi": r.c.pi_email,
    "project": r.c.project_id,
    "fund": r.c.fund_org,
    "service": r.c.service_name,
    "flagged": r.c.flagged,
    "review": r.c.review,
}
BILLABLE = object()  # filter value of "review": everything but rejected charges


def grouped(
    conn: Connection,
    *,
    period_ids: list[int],
    by: tuple[str, ...] = (),
    filters: Mapping[str, object] | None = None,
    limit: int | None = None,
    order: str = "billed",
) -> list[dict[str, Any]]:
    """One dict per group: the group values, ``rows`` and the four exact cost sums.
    Ordered by billed cost (largest first) or by the group values (``order="group"``)."""
    cols = [DIMS[b].label(b) for b in by]
    sums = []
    for short in COSTS:
        hi, lo = func.sum(r.c[f"{short}_hi"]), func.sum(r.c[f"{short}_lo"])
        sums += [hi.label(f"{short}_hi"), lo.label(f"{short}_lo")]
    q = (
        select(*cols, func.sum(r.c.rows).label("rows"), *sums)
        .select_from(r)
        .join(periods, periods.c.id == r.c.period_id)
        .join(sources, sources.c.id == r.c.source_id)
        .where(r.c.period_id.in_(period_ids))
    )
    conds = _filters(filters)
    if conds:
        q = q.where(and_(*conds))
    if by:
        q = q.group_by(*(DIMS[b] for b in by))
    if order == "billed":
        q = q.order_by(func.sum(r.c.billed_hi).desc(), func.sum(r.c.billed_lo).desc())
    else:
        q = q.order_by(*(DIMS[b] for b in by))
    if limit:
        q = q.limit(limit)
    out = []
    for row in conn.execute(q):
        m = row._mapping
        if m["rows"] is None:
            continue
        item = {b: m[b] for b in by}
        item["rows"] = int(m["rows"])
        for short in COSTS:
            item[short] = _money(m[f"{short}_hi"], m[f"{short}_lo"])
        out.append(item)
    return out


def distinct_count(
    conn: Connection, *, period_ids: list[int], dim: str, filters: Mapping[str, object] | None = None
) -> int:
    col = DIMS[dim]
    q = (
        select(func.count(func.distinct(col)))
        .select_from(r)
        .join(periods, periods.c.id == r.c.period_id)
        .join(sources, sources.c.id == r.c.source_id)
        .where(r.c.period_id.in_(period_ids))
    )
    conds = _filters(filters)
    if conds:
        q = q.where(and_(*conds))
    return conn.execute(q).scalar_one()


def _filters(filters: Mapping[str, object] | None) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    for key, value in (filters or {}).items():
        if value is NULL:
            conds.append(DIMS[key].is_(None))
        elif value is BILLABLE:
            conds.append((DIMS[key].is_(None)) | (DIMS[key] != "rejected"))
        elif isinstance(value, tuple):  # any of these values (a reader's scope)
            conds.append(DIMS[key].in_(value))
        elif value is not None:
            conds.append(DIMS[key] == value)
    return conds


def _money(hi: int | Decimal | None, lo: int | Decimal | None) -> Decimal:
    return from_picos(int(hi or 0) * SPLIT + int(lo or 0))


def service_names(conn: Connection, limit: int = 500) -> list[str]:
    """The service names charges have (a filter's choices), from the rollup: a few
    thousand rows, where charge_details has one row per distinct charge description."""
    col = r.c.service_name
    q = select(col).distinct().where(col.is_not(None)).order_by(col).limit(limit)
    return list(conn.execute(q).scalars())
