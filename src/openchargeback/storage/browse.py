"""The charge browser: filters, sortable columns and key-based pagination.

The default order is the storage order of the one charges index, (period, source,
import, id): a page is an index range scan whatever its depth. Other sort columns
are (value, id) keys; they sort the filtered set, which is fine for a period of a
source or a project and slower on millions of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, and_, func, literal, or_, select, tuple_

from openchargeback.storage.tables import charge_details, charges, imports, periods, sources, tag_sets

FILE_ORDER = (charges.c.period_id, charges.c.source_id, charges.c.import_id, charges.c.id)

SORTS = {
    "billed": charges.c.billed_cost,
    "list": func.coalesce(charges.c.list_cost, 0),
    "start": charges.c.charge_period_start,
    "pi": func.coalesce(charges.c.pi_email, ""),
    "project": func.coalesce(charges.c.project_id, ""),
    "service": func.coalesce(charge_details.c.service_name, ""),
}


@dataclass(frozen=True)
class Filter:
    period_id: int | None = None
    source_id: int | None = None
    pi: str | None = None
    project: str | None = None
    fund: str | None = None
    service: str | None = None
    flagged: bool | None = None
    text: str | None = None


def _conditions(f: Filter) -> list:
    conds = []
    for col, value in ((charges.c.period_id, f.period_id), (charges.c.source_id, f.source_id),
                       (charges.c.pi_email, f.pi), (charges.c.project_id, f.project),
                       (charges.c.fund_org, f.fund), (charge_details.c.service_name, f.service)):
        if value is not None:
            conds.append(col.is_(None) if value == "" else col == value)
    if f.flagged is True:
        conds.append(charges.c.flags.is_not(None))
    elif f.flagged is False:
        conds.append(charges.c.flags.is_(None))
    if f.text:
        pat = f"%{f.text.strip()}%"
        conds.append(or_(*(c.ilike(pat) for c in (
            charges.c.resource_id, charges.c.resource_name, charges.c.pi_email,
            charges.c.project_id, charges.c.fund_org, charge_details.c.service_name,
            charge_details.c.charge_description))))
    return conds


def page(conn: Connection, f: Filter, *, sort: str | None, descending: bool, after: tuple | None,
         limit: int):
    """Up to ``limit`` rows after the key ``after`` (the previous page's last key)."""
    q = (select(charges.c.id, charges.c.period_id, charges.c.source_id, charges.c.import_id,
                charges.c.line, periods.c.name.label("period"), sources.c.name.label("source"),
                charge_details.c.service_name, charges.c.resource_id, charges.c.resource_name,
                charges.c.pi_email, charges.c.project_id, charges.c.fund_org,
                charges.c.billing_currency, charges.c.charge_period_start,
                charges.c.list_cost, charges.c.effective_cost, charges.c.billed_cost,
                charges.c.flags, charges.c.review)
         .select_from(charges)
         .join(charge_details, charge_details.c.id == charges.c.detail_id)
         .join(periods, periods.c.id == charges.c.period_id)
         .join(sources, sources.c.id == charges.c.source_id))
    conds = _conditions(f)
    key_cols = (SORTS[sort], charges.c.id) if sort in SORTS else FILE_ORDER
    if after is not None:
        key = tuple_(*key_cols)
        # bind each key value with its column's type (money as picounits, times as text)
        bound = tuple_(*(literal(v, type_=c.type) for v, c in zip(after, key_cols, strict=True)))
        conds.append(key < bound if descending else key > bound)
    if conds:
        q = q.where(and_(*conds))
    q = q.order_by(*(c.desc() if descending else c for c in key_cols)).limit(limit)
    rows = conn.execute(q).all()
    return rows, key_cols


def key_of(row, sort: str | None) -> tuple:
    """The pagination key of a listed row."""
    if sort in SORTS:
        value = {"billed": row.billed_cost, "list": row.list_cost or Decimal(0),
                 "start": row.charge_period_start, "pi": row.pi_email or "",
                 "project": row.project_id or "", "service": row.service_name or ""}[sort]
        return (value, row.id)
    return (row.period_id, row.source_id, row.import_id, row.id)


DETAIL_COLUMNS = tuple(c.name for c in charge_details.c
                       if c.name not in ("id", "key", "billing_currency"))


def detail(conn: Connection, charge_id: int):
    detail_cols = [charge_details.c[n] for n in DETAIL_COLUMNS]
    return conn.execute(
        select(charges, *detail_cols, tag_sets.c.tags, periods.c.name.label("period"),
               periods.c.status.label("period_status"), sources.c.name.label("source"),
               sources.c.display_name.label("source_display"),
               imports.c.filename.label("import_filename"), imports.c.sha256.label("import_sha256"),
               imports.c.status.label("import_status"))
        .join(charge_details, charge_details.c.id == charges.c.detail_id)
        .join(periods, periods.c.id == charges.c.period_id)
        .join(sources, sources.c.id == charges.c.source_id)
        .join(imports, imports.c.id == charges.c.import_id)
        .outerjoin(tag_sets, tag_sets.c.id == charges.c.tag_set_id)
        .where(charges.c.id == charge_id)).first()


def distinct_values(conn: Connection, column: str, period_id: int | None, limit: int = 500):
    col = {"service": charge_details.c.service_name}.get(column)
    if col is None:
        return []
    q = select(col).distinct().where(col.is_not(None)).order_by(col).limit(limit)
    return list(conn.execute(q).scalars())


__all__ = ["Filter", "detail", "key_of", "page"]
