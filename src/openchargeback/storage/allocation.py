"""What allocation, statements and journals read: a period's charges summed in SQL.

Two groupings: :func:`charge_lines` sums charges per allocation line (source, PI,
project, fund, service, currency) and :func:`approved_lines` per statement line.

One query per cost basis groups the approved charges of a period by everything a
statement shows (currency, PI, project, fund, source, service, kind of line, unit,
resource), so that what Python receives grows with the number of distinct lines, never
with the number of raw charges.

The amount due of a charge is its BilledCost (sources with ``cost_basis: billed``) or
its EffectiveCost (``effective``, BilledCost when missing). Its list price is its
ListCost (the amount due when missing), except on a credit (its list price is its
amount) and on the side of a commitment that the basis does not charge, which
contributes no list price (FOCUS's double-count trap): usage covered by a commitment
under the billed basis, the commitment purchase under the effective basis. Statements,
the allocation and every journal format read the list price by this one rule.

Money is summed exactly (:mod:`openchargeback.storage.sums`). Quantities are exact
decimals: PostgreSQL sums NUMERIC exactly; SQLite stores them as text, and they are
summed by an exact decimal aggregate registered on the connection.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    String,
    and_,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    type_coerce,
)

from openchargeback.domain.money import ZERO
from openchargeback.storage.charges import APPROVED, NOT_REJECTED, PENDING, REJECTED
from openchargeback.storage.registry_tables import adjustments
from openchargeback.storage.sums import money_sum, read_sum
from openchargeback.storage.tables import charge_details, charges, periods, sources
from openchargeback.storage.types import AnyRow, inserted_id

_DEC_SUM = "ocb_decimal_sum"


AMOUNTS = ("billed_cost", "effective_cost", "list_cost", "contracted_cost")


# A row without EffectiveCost (FOCUS-lite exports, 0.5 files) costs its BilledCost on the
# effective basis: no commitment was amortised into it. Statements read it the same way.
_EXPRESSIONS: dict[str, ColumnElement[Any]] = {label: charges.c[label] for label in AMOUNTS}
_EXPRESSIONS["effective_cost"] = func.coalesce(charges.c.effective_cost, charges.c.billed_cost)


def _sums(dialect: str) -> list[ColumnElement[Any]]:
    """The amounts of a query joined to sources and charge_details; list_cost by the
    statements' rule (:func:`_list` of each source's basis)."""
    cols: list[ColumnElement[Any]] = []
    for label in AMOUNTS:
        expr = _EXPRESSIONS[label]
        if label == "list_cost":
            expr = case((sources.c.cost_basis == "effective", _list("effective")), else_=_list("billed"))
        cols += money_sum(dialect, expr, label)
    return cols


def _read(dialect: str, row: AnyRow) -> dict[str, Decimal]:
    return {label: read_sum(dialect, row, label) for label in AMOUNTS}


def charge_lines(
    conn: Connection, period_ids: list[int], *, approved_only: bool = True, by_account: bool = False
) -> list[dict[str, Any]]:
    """One dict per (period, source, PI, project, fund, service, currency) with exact sums.
    ``approved_only``: approved charges; otherwise every charge that is not rejected.
    ``by_account``: also per account code (``account_code`` in each dict; journals divide a
    line between its account codes)."""
    dialect = conn.dialect.name
    keys: list[ColumnElement[Any]] = [
        charges.c.period_id,
        sources.c.name.label("source"),
        sources.c.cost_basis,
        charges.c.pi_email,
        charges.c.project_id,
        charges.c.fund_org,
        charge_details.c.service_name,
        charges.c.billing_currency,
    ]
    if by_account:
        keys.append(charges.c.account_code)
    q = (
        select(*keys, func.count().label("rows"), *_sums(dialect))
        .select_from(charges)
        .join(charge_details, charge_details.c.id == charges.c.detail_id)
        .join(sources, sources.c.id == charges.c.source_id)
        .where(charges.c.period_id.in_(period_ids), APPROVED if approved_only else NOT_REJECTED)
        .group_by(*keys)
    )
    out: list[dict[str, Any]] = []
    for r in conn.execute(q):
        out.append(
            {
                "period_id": r.period_id,
                "source": r.source,
                "cost_basis": r.cost_basis,
                "pi_email": r.pi_email,
                "project_id": r.project_id,
                "fund_org": r.fund_org,
                "service": r.service_name,
                "currency": r.billing_currency,
                "rows": r.rows,
                **_read(dialect, r),
                **({"account_code": r.account_code} if by_account else {}),
            }
        )
    return out


def charge_totals(
    conn: Connection, period_ids: list[int], *, approved_only: bool = True
) -> dict[tuple[int, str], dict[str, Decimal]]:
    """(period_id, currency) -> exact sums, straight from the charges (for the proof)."""
    dialect = conn.dialect.name
    q = (
        select(charges.c.period_id, charges.c.billing_currency, *_sums(dialect))
        .select_from(charges)
        .join(charge_details, charge_details.c.id == charges.c.detail_id)
        .join(sources, sources.c.id == charges.c.source_id)
        .where(charges.c.period_id.in_(period_ids), APPROVED if approved_only else NOT_REJECTED)
        .group_by(charges.c.period_id, charges.c.billing_currency)
    )
    return {(r.period_id, r.billing_currency): _read(dialect, r) for r in conn.execute(q)}


# -- adjustments ---------------------------------------------------------------------------------
def add_adjustment(conn: Connection, values: dict[str, Any], actor: str, now: datetime) -> int:
    return inserted_id(conn.execute(insert(adjustments).values(**values, created_by=actor, created_at=now)))


def list_adjustments(conn: Connection, period_ids: list[int]) -> Sequence[AnyRow]:
    q = (
        select(adjustments, sources.c.name.label("source"), periods.c.name.label("period"))
        .join(periods, periods.c.id == adjustments.c.period_id)
        .outerjoin(sources, sources.c.id == adjustments.c.source_id)
        .where(adjustments.c.period_id.in_(period_ids))
        .order_by(adjustments.c.period_id, adjustments.c.id)
    )
    return conn.execute(q).all()


class _DecimalSum:
    """SQLite aggregate: exact sum of decimal text; NULL when every value is NULL."""

    def __init__(self) -> None:
        self.total: Decimal | None = None

    def step(self, value: object) -> None:
        if value is None:
            return
        try:
            d = Decimal(value) if isinstance(value, str) else Decimal(str(value))
        except InvalidOperation:
            return
        self.total = d if self.total is None else self.total + d

    def finalize(self) -> str | None:
        return None if self.total is None else format(self.total, "f")


def _quantity_sum(conn: Connection, column: ColumnElement[Any]) -> ColumnElement[Any]:
    if conn.dialect.name == "sqlite":
        raw = conn.connection.driver_connection  # the sqlite3 connection
        if raw is None:
            raise RuntimeError("the SQLite connection is closed")
        # Registering is cheap and idempotent; sqlite3 connections take no attributes to remember it.
        raw.create_aggregate(_DEC_SUM, 1, _DecimalSum)
        total: ColumnElement[Any] = getattr(func, _DEC_SUM)(column)
        return total
    return func.sum(column)


def _raw(expr: ColumnElement[Any]) -> ColumnElement[str]:
    """The column's stored value, without the per-row conversion (parsed in bulk below)."""
    return type_coerce(expr, String)


def _time(value: datetime | str | None) -> datetime | None:
    """A UTC time as SQLite stores it ("YYYY-MM-DD HH:MM:SS.ffffff") or as PostgreSQL
    returns it; fromisoformat is ten times faster than strptime."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def sources_by_id(conn: Connection) -> dict[int, dict[str, Any]]:
    return {
        r.id: {"name": r.name, "display_name": r.display_name, "cost_basis": r.cost_basis}
        for r in conn.execute(
            select(sources.c.id, sources.c.name, sources.c.display_name, sources.c.cost_basis)
        )
    }


def _due(basis: str) -> ColumnElement[Any]:
    if basis == "effective":
        return func.coalesce(charges.c.effective_cost, charges.c.billed_cost)
    return charges.c.billed_cost


def _list(basis: str) -> ColumnElement[Any]:
    due = _due(basis)
    if basis == "effective":
        uncharged = and_(
            charge_details.c.charge_category == "Purchase",
            charge_details.c.commitment_discount_id.is_not(None),
        )
    else:
        uncharged = and_(
            charge_details.c.charge_category == "Usage", charge_details.c.commitment_discount_status == "Used"
        )
    return case((or_(uncharged, _credit(basis)), due), else_=func.coalesce(charges.c.list_cost, due))


def _credit(basis: str) -> ColumnElement[bool]:
    return or_(type_coerce(_due(basis), BigInteger) < 0, charge_details.c.charge_category == "Credit")


def _kind(basis: str) -> ColumnElement[str]:
    cat = charge_details.c.charge_category
    return case(
        (_credit(basis), literal("credit")),
        (cat == "Adjustment", literal("adjustment")),
        (cat == "Tax", literal("tax")),
        (cat == "Purchase", literal("purchase")),
        else_=literal("usage"),
    )


def _filters(
    period_id: int,
    source_ids: Iterable[int],
    pi: str | None,
    project: str | None,
    pi_projects: Iterable[str] = (),
) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [
        charges.c.period_id == period_id,
        charges.c.source_id.in_(list(source_ids)),
    ]
    if pi is not None:
        mine: ColumnElement[bool] = func.lower(charges.c.pi_email) == pi.lower()
        pi_projects = list(pi_projects)
        if pi_projects:  # charges without a PI whose project is the PI's in the registry
            mine = or_(mine, and_(charges.c.pi_email.is_(None), charges.c.project_id.in_(pi_projects)))
        conds.append(mine)
    if project is not None:
        conds.append(charges.c.project_id == project)
    return conds


def approved_lines(
    conn: Connection,
    period_id: int,
    *,
    pi: str | None = None,
    project: str | None = None,
    pi_projects: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """The period's approved charges grouped at statement-detail grain, one dict per
    (currency, PI, project, fund, source, service, kind, unit, resource) with exact sums:
    ``list``, ``due``, ``quantity`` (None unless every charge of the line has one),
    ``rows``, ``first_start``, ``last_end``."""
    dialect = conn.dialect.name
    by_id = sources_by_id(conn)
    out: list[dict[str, Any]] = []
    for basis in ("billed", "effective"):
        ids = [i for i, s in by_id.items() if s["cost_basis"] == basis]
        if not ids:
            continue
        unit = func.coalesce(charge_details.c.pricing_unit, charge_details.c.consumed_unit)
        qty = case(
            (charge_details.c.pricing_unit.is_not(None), charges.c.pricing_quantity),
            else_=charges.c.consumed_quantity,
        )
        kind = _kind(basis)
        keys: list[ColumnElement[Any]] = [
            charges.c.billing_currency,
            charges.c.pi_email,
            charges.c.project_id,
            charges.c.fund_org,
            charges.c.source_id,
            charge_details.c.service_name,
            kind.label("kind"),
            unit.label("unit"),
            charges.c.resource_id,
        ]
        q = (
            select(
                *keys,
                func.count().label("rows"),
                func.count(qty).label("with_qty"),
                _quantity_sum(conn, qty).label("qty"),
                func.max(charges.c.resource_name).label("resource_name"),
                _raw(func.min(charges.c.charge_period_start)).label("first_start"),
                _raw(func.max(charges.c.charge_period_end)).label("last_end"),
                *money_sum(dialect, _due(basis), "due"),
                *money_sum(dialect, _list(basis), "list"),
            )
            .select_from(charges)
            .join(charge_details, charge_details.c.id == charges.c.detail_id)
            .where(*_filters(period_id, ids, pi, project, pi_projects), APPROVED)
            .group_by(*keys)
        )
        for r in conn.execute(q):
            src = by_id[r.source_id]
            quantity: Decimal | None = None
            if r.qty is not None and r.with_qty == r.rows:
                quantity = r.qty if isinstance(r.qty, Decimal) else Decimal(r.qty)
            out.append(
                {
                    "currency": r.billing_currency,
                    "pi_email": r.pi_email,
                    "project_id": r.project_id,
                    "fund_org": r.fund_org,
                    "source": src["name"],
                    "source_name": src["display_name"],
                    "cost_basis": basis,
                    "service": r.service_name,
                    "kind": r.kind,
                    "unit": r.unit,
                    "resource_id": r.resource_id,
                    "resource_name": r.resource_name,
                    "rows": r.rows,
                    "quantity": quantity,
                    "first_start": _time(r.first_start),
                    "last_end": _time(r.last_end),
                    "due": read_sum(dialect, r, "due"),
                    "list": read_sum(dialect, r, "list"),
                }
            )
    return out


def excluded(
    conn: Connection,
    period_id: int,
    *,
    pi: str | None = None,
    project: str | None = None,
    pi_projects: Iterable[str] = (),
) -> dict[str, dict[str, Any]]:
    """{"pending": {...}, "rejected": {...}}: count and amount due (by each source's
    basis) of the charges left out of statements, by currency."""
    dialect = conn.dialect.name
    by_id = sources_by_id(conn)
    out: dict[str, dict[str, Any]] = {
        "pending": {"count": 0, "amounts": {}},
        "rejected": {"count": 0, "amounts": {}},
    }
    for basis in ("billed", "effective"):
        ids = [i for i, s in by_id.items() if s["cost_basis"] == basis]
        if not ids:
            continue
        for status, cond in (("pending", PENDING), ("rejected", REJECTED)):
            q = (
                select(
                    charges.c.billing_currency,
                    func.count().label("n"),
                    *money_sum(dialect, _due(basis), "due"),
                )
                .where(*_filters(period_id, ids, pi, project, pi_projects), cond)
                .group_by(charges.c.billing_currency)
            )
            for r in conn.execute(q):
                slot = out[status]
                slot["count"] += r.n
                slot["amounts"][r.billing_currency] = slot["amounts"].get(
                    r.billing_currency, ZERO
                ) + read_sum(dialect, r, "due")
    return out
