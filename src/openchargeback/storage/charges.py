"""Charges: the one charges query (a filter, key-paginated pages in several orders,
count and total summed in SQL) that the CLI listing, the web charge browser and the review
queue share; one charge in full."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Row,
    Select,
    Subquery,
    and_,
    func,
    literal,
    literal_column,
    or_,
    select,
    type_coerce,
)

from openchargeback.domain.money import to_picos
from openchargeback.storage import partitions
from openchargeback.storage.sums import money_sum, read_sum
from openchargeback.storage.tables import (
    charge_details,
    charges,
    imports,
    periods,
    sources,
    tag_sets,
)


def refresh_statistics(conn: Connection, period_ids: Iterable[int] | None = None) -> None:
    """PostgreSQL plans from table statistics; after a large import they would say the
    tables an import writes are empty until autovacuum runs (if it runs), and pages then
    take seconds: a charge_details said empty made every page join loop over all of it.
    ``period_ids`` (an import's): those periods' partitions, which their pages read, and
    the details and tag sets. None (a period's close): charges as a whole, whose
    statistics (for queries over several periods) sample every partition, so cost more
    each month; autovacuum never analyses a partitioned table."""
    if conn.dialect.name != "postgresql":
        return
    if period_ids is None:
        conn.exec_driver_sql(f"ANALYZE charges ({_ANALYZED})")
        return
    names = partitions.attached(conn)
    written = [f"'\"{names[p]}\"'::regclass" for p in sorted(set(period_ids)) if p in names]
    # in the order of their oids, as a database-wide ANALYZE takes them: each holds its
    # table's lock to the end of the transaction, and another order deadlocked
    oids = ", ".join(["'charge_details'::regclass", "'tag_sets'::regclass", *written])
    tables = conn.exec_driver_sql(f"SELECT relname FROM pg_class WHERE oid IN ({oids}) ORDER BY oid")
    columns = {"charge_details": f" ({_DETAILS_ANALYZED})", "tag_sets": ""}
    listed = [f'"{t}"{columns.get(t, f" ({_ANALYZED})")}' for t in tables.scalars()]
    conn.exec_driver_sql("ANALYZE " + ", ".join(listed))


# Columns of the ledger that are only shown (JSON extras, free texts, quantities as they
# are): no query filters, joins, groups or sorts on them, so their statistics only cost time
_SHOWN_ONLY = frozenset(
    {
        "line",
        "pricing_quantity",
        "consumed_quantity",
        "list_unit_price",
        "contracted_unit_price",
        "resource_name",
        "reference_1",
        "reference_2",
        "extra",
        "review_note",
        "reviewed_by",
        "reviewed_at",
    }
)
_ANALYZED = ", ".join(c.name for c in charges.columns if c.name not in _SHOWN_ONLY)
# the details' columns that queries filter, join or group on (the others are only shown):
# all 35 took 0.2 s of a 300,000-row import
_DETAILS_ANALYZED = (
    "id, key, service_name, charge_category, commitment_discount_status, pricing_unit, consumed_unit, "
    "provider_name, billing_account_id"
)


# -- the one charges query: filter, key-paginated pages, SQL sums ----------------------------
# Review states: *pending* when flagged without a decision, *approved* when a reviewer
# approved it or it was never flagged, *rejected* when a reviewer rejected it.
PENDING = and_(charges.c.review.is_(None), charges.c.flags.is_not(None))
REJECTED = charges.c.review == "rejected"
NOT_REJECTED = or_(charges.c.review.is_(None), charges.c.review != "rejected")
APPROVED = or_(charges.c.review == "approved", and_(charges.c.review.is_(None), charges.c.flags.is_(None)))
STATUS: dict[str, ColumnElement[bool] | None] = {
    "pending": PENDING,
    "rejected": REJECTED,
    "approved": APPROVED,
    "flagged": charges.c.flags.is_not(None),
    "all": None,
}
FILTER_COLUMNS = {
    "pi_email": charges.c.pi_email,
    "project_id": charges.c.project_id,
    "fund_org": charges.c.fund_org,
    "resource_id": charges.c.resource_id,
    "service": charge_details.c.service_name,
}


@dataclass(frozen=True)
class ChargeFilter:
    """Which charges: every field given must hold (``None``: any value).

    The CLI listing, the web charge browser and the review queue and its actions all
    select charges through this one filter.
    """

    period_id: int | None = None
    status: str | None = None  # review state, a key of review.STATUS
    reason: str | None = None  # a flag code, e.g. missing_project or pattern:gpu
    source_id: int | None = None
    import_id: int | None = None
    pi_email: str | None = None
    project_id: str | None = None
    fund_org: str | None = None
    resource_id: str | None = None
    service: str | None = None
    missing: tuple[str, ...] = ()  # FILTER_COLUMNS names that must have no value
    flagged: bool | None = None
    min_amount: int | None = None  # picounits, compared with |billed|
    ids: tuple[int, ...] | None = None
    text: str | None = None  # in resource, attribution, service or description
    pi_emails: tuple[str, ...] | None = None  # a reader's scope: only these PIs (() matches none)


def _size() -> ColumnElement[Any]:
    """|billed| in picounits: the review queue's order."""
    return func.abs(type_coerce(charges.c.billed_cost, BigInteger))


def _conditions(f: ChargeFilter) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    for col, value in (
        (charges.c.period_id, f.period_id),
        (charges.c.source_id, f.source_id),
        (charges.c.import_id, f.import_id),
    ):
        if value is not None:
            conds.append(col == value)
    status = STATUS.get(f.status) if f.status is not None else None
    if status is not None:
        conds.append(status)
    if f.reason:
        padded = "," + func.coalesce(charges.c.flags, "") + ","
        conds.append(padded.contains(f",{f.reason},", autoescape=True))
    for name, col in FILTER_COLUMNS.items():
        value = getattr(f, name)
        if value is not None:
            conds.append(col == value)
    conds += [FILTER_COLUMNS[name].is_(None) for name in f.missing]
    if f.flagged is True:
        conds.append(charges.c.flags.is_not(None))
    elif f.flagged is False:
        conds.append(charges.c.flags.is_(None))
    if f.min_amount is not None:
        conds.append(_size() >= f.min_amount)
    if f.ids is not None:
        conds.append(charges.c.id.in_(f.ids))
    if f.pi_emails is not None:
        conds.append(charges.c.pi_email.in_(f.pi_emails))
    if f.text:
        pat = f"%{f.text.strip()}%"
        conds.append(
            or_(
                *(
                    c.ilike(pat)
                    for c in (
                        charges.c.resource_id,
                        charges.c.resource_name,
                        charges.c.pi_email,
                        charges.c.project_id,
                        charges.c.fund_org,
                        charge_details.c.service_name,
                        charge_details.c.charge_description,
                    )
                )
            )
        )
    return conds


def _needs_details(f: ChargeFilter, order: str | None = None) -> bool:
    return bool(f.service is not None or "service" in f.missing or f.text or order == "service")


def _keys(f: ChargeFilter, *columns: Any, order: str | None = None) -> Select[Any]:
    """``columns`` of the matching charges (charge_details joined only when a filter or
    the order needs it)."""
    q = select(*columns)
    if _needs_details(f, order):
        q = q.select_from(charges.join(charge_details, charge_details.c.id == charges.c.detail_id))
    conds = _conditions(f)
    return q.where(and_(*conds)) if conds else q


def select_ids(conn: Connection, f: ChargeFilter) -> list[int]:
    return list(conn.execute(_keys(f, charges.c.id).order_by(charges.c.id)).scalars())


# Page orders. id: the CLI's; file: the storage order of the one charges index, (period,
# source, import, id), a page is an index range scan whatever its depth; size: largest
# |billed| first, then id (the review queue); the SORTS are (value, id) keys, which sort
# the filtered set (fine for a period of a source or a project, slower on millions).
FILE_ORDER = (charges.c.period_id, charges.c.source_id, charges.c.import_id, charges.c.id)
SORTS: dict[str, ColumnElement[Any]] = {
    "billed": charges.c.billed_cost,
    "list": func.coalesce(charges.c.list_cost, 0),
    "start": charges.c.charge_period_start,
    "pi": func.coalesce(charges.c.pi_email, ""),
    "project": func.coalesce(charges.c.project_id, ""),
    "service": func.coalesce(charge_details.c.service_name, ""),
}
ORDERS = ("id", "file", "size", *SORTS)


def _by_sign(f: ChargeFilter) -> bool:
    """Whether the pending-queue indexes (review_tables.py) answer this filter: pending
    charges, filtered at most on columns the indexes hold (source, flag code, amount)."""
    return (
        f.status == "pending"
        and f.ids is None
        and f.pi_email is None
        and f.project_id is None
        and f.fund_org is None
        and f.resource_id is None
        and f.service is None
        and not f.missing
        and f.import_id is None
        and f.flagged is None
        and not f.text
    )


def _signs() -> tuple[tuple[ColumnElement[bool], ColumnElement[Any]], ...]:
    """(condition, order) of the positive and the negative half of the queue; the
    conditions are literal so that the partial indexes apply."""
    raw = type_coerce(charges.c.billed_cost, BigInteger)
    zero: ColumnElement[int] = literal_column("0")
    return ((raw >= zero, raw.desc()), (raw < zero, raw.asc()))


def _ids_by_size(conn: Connection, f: ChargeFilter, after: tuple[Any, ...] | None, limit: int) -> list[int]:
    if not _by_sign(f):
        size = _size()
        q = _keys(f, charges.c.id)
        if after is not None:
            q = q.where(or_(size < after[0], and_(size == after[0], charges.c.id > after[1])))
        return list(conn.execute(q.order_by(size.desc(), charges.c.id).limit(limit)).scalars())
    # Each half read in order from its index, merged here.
    raw = type_coerce(charges.c.billed_cost, BigInteger)
    keys: list[tuple[int, int]] = []
    for (cond, order), sign in zip(_signs(), (1, -1), strict=True):
        half = _keys(f, charges.c.id, raw.label("b")).where(cond)
        if after is not None:
            edge = sign * after[0]
            beyond = raw < edge if sign > 0 else raw > edge
            half = half.where(or_(beyond, and_(raw == edge, charges.c.id > after[1])))
        keys += [(r.id, r.b) for r in conn.execute(half.order_by(order, charges.c.id).limit(limit))]
    return [i for _, i in sorted((-abs(b), i) for i, b in keys)[:limit]]


def _key_columns(order: str) -> tuple[ColumnElement[Any], ...]:
    return (
        (charges.c.id,) if order == "id" else FILE_ORDER if order == "file" else (SORTS[order], charges.c.id)
    )


def _beyond(
    f: ChargeFilter, order: str, descending: bool, after: tuple[Any, ...]
) -> list[ColumnElement[bool]]:
    """The condition *after this key* as pieces in key order, each equalities then one range:
    (a, b, c) > (x, y, z) is [a = x, b = y, c > z], then [a = x, b > y], then [a > x].
    Each piece is one index range scan; a row-value comparison is not (SQLite reads
    (a, b, c) > (x, y, z) from a >= x: a deep page scanned the period, 1 s at 1,000,000
    charges). Leading key columns the filter fixes (the period, ...) need no piece."""
    cols = _key_columns(order)
    fixed = 0
    if order == "file":
        for value in (f.period_id, f.source_id, f.import_id):
            if value is None:
                break
            fixed += 1
    # bind each key value with its column's type (money as picounits, times as text)
    bound = [literal(v, type_=c.type) for v, c in zip(after, cols, strict=True)]
    return [
        and_(
            *(cols[i] == bound[i] for i in range(j)), cols[j] < bound[j] if descending else cols[j] > bound[j]
        )
        for j in reversed(range(fixed, len(cols)))
    ]


def _keys_page(
    f: ChargeFilter, order: str, descending: bool, beyond: ColumnElement[bool] | None, limit: int
) -> Subquery:
    """The page's ids and keys (columns k0, k1, ...), read from charges alone."""
    key_cols = _key_columns(order)
    q = _keys(f, charges.c.id.label("kid"), *(c.label(f"k{i}") for i, c in enumerate(key_cols)), order=order)
    if beyond is not None:
        q = q.where(beyond)
    return q.order_by(*(c.desc() if descending else c for c in key_cols)).limit(limit).subquery()


def _rows() -> Select[Any]:
    return (
        select(
            charges.c.id,
            charges.c.period_id,
            charges.c.source_id,
            charges.c.import_id,
            charges.c.line,
            periods.c.name.label("period"),
            sources.c.name.label("source"),
            charge_details.c.service_name,
            charges.c.resource_id,
            charges.c.resource_name,
            charges.c.pi_email,
            charges.c.project_id,
            charges.c.fund_org,
            charges.c.billing_currency,
            charges.c.charge_period_start,
            charges.c.charge_period_end,
            charges.c.list_cost,
            charges.c.contracted_cost,
            charges.c.effective_cost,
            charges.c.billed_cost,
            charges.c.flags,
            charges.c.review,
            charges.c.review_note,
            tag_sets.c.tags,
        )
        .select_from(charges)
        .join(charge_details, charge_details.c.id == charges.c.detail_id)
        .join(periods, periods.c.id == charges.c.period_id)
        .join(sources, sources.c.id == charges.c.source_id)
        .outerjoin(tag_sets, tag_sets.c.id == charges.c.tag_set_id)
    )


def page(
    conn: Connection,
    f: ChargeFilter,
    *,
    order: str = "id",
    descending: bool = False,
    after: tuple[Any, ...] | None = None,
    limit: int = 100,
) -> list[Row[Any]]:
    """Up to ``limit`` charges in ``order`` (one of ORDERS) after the key ``after`` (the
    previous page's last key, see :func:`key_of`). The page's keys are found from the
    charges alone; only the page's rows are read in full."""
    if order not in ORDERS:
        raise ValueError(f"order {order!r}: expected one of {', '.join(ORDERS)}")
    if order != "size":
        out: list[Row[Any]] = []
        for beyond in [None] if after is None else _beyond(f, order, descending, after):
            keys = _keys_page(f, order, descending, beyond, limit - len(out))
            ks = [c for c in keys.c if c.name != "kid"]
            out += conn.execute(
                _rows()
                .join(keys, keys.c.kid == charges.c.id)
                .order_by(*(c.desc() if descending else c for c in ks))
            ).all()
            if len(out) == limit:
                break
        return out
    ids = _ids_by_size(conn, f, after, limit)
    if not ids:
        return []
    at = {cid: n for n, cid in enumerate(ids)}
    rows = conn.execute(_rows().where(charges.c.id.in_(ids))).all()
    return sorted(rows, key=lambda r: at[r.id])


def key_of(row: Row[Any], order: str) -> tuple[Any, ...]:
    """The pagination key of a listed row."""
    if order == "id":
        return (row.id,)
    if order == "file":
        return (row.period_id, row.source_id, row.import_id, row.id)
    if order == "size":
        return (abs(to_picos(row.billed_cost)), row.id)
    value = {
        "billed": row.billed_cost,
        "list": row.list_cost or Decimal(0),
        "start": row.charge_period_start,
        "pi": row.pi_email or "",
        "project": row.project_id or "",
        "service": row.service_name or "",
    }[order]
    return (value, row.id)


def stakes(conn: Connection, f: ChargeFilter) -> tuple[int, Decimal]:
    """(count, billed total) of the matching charges, summed in SQL."""
    dialect = conn.dialect.name
    halves = [cond for cond, _ in _signs()] if _by_sign(f) else [None]
    n, total = 0, Decimal(0)
    for cond in halves:  # pending charges: each sign summed from its index alone
        stmt = _keys(f, func.count().label("n"), *money_sum(dialect, charges.c.billed_cost, "b"))
        row = conn.execute(stmt.where(cond) if cond is not None else stmt).one()
        n += row.n
        total += read_sum(dialect, row, "b")
    return n, total


# -- one charge in full ----------------------------------------------------------------------
DETAIL_COLUMNS = tuple(c.name for c in charge_details.c if c.name not in ("id", "key", "billing_currency"))


def detail(conn: Connection, charge_id: int) -> Row[Any] | None:
    detail_cols = [charge_details.c[n] for n in DETAIL_COLUMNS]
    return conn.execute(
        select(
            charges,
            *detail_cols,
            tag_sets.c.tags,
            periods.c.name.label("period"),
            periods.c.status.label("period_status"),
            sources.c.name.label("source"),
            sources.c.display_name.label("source_display"),
            imports.c.filename.label("import_filename"),
            imports.c.sha256.label("import_sha256"),
            imports.c.status.label("import_status"),
        )
        .join(charge_details, charge_details.c.id == charges.c.detail_id)
        .join(periods, periods.c.id == charges.c.period_id)
        .join(sources, sources.c.id == charges.c.source_id)
        .join(imports, imports.c.id == charges.c.import_id)
        .outerjoin(tag_sets, tag_sets.c.id == charges.c.tag_set_id)
        .where(charges.c.id == charge_id)
    ).first()


__all__ = [
    "APPROVED",
    "DETAIL_COLUMNS",
    "NOT_REJECTED",
    "ORDERS",
    "PENDING",
    "REJECTED",
    "SORTS",
    "STATUS",
    "ChargeFilter",
    "detail",
    "key_of",
    "page",
    "refresh_statistics",
    "select_ids",
    "stakes",
]
