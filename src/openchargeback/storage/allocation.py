"""Sums of charges per statement line (source, PI, project, fund, service, currency) and
the adjustments of periods, for the allocation of money to funds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, insert, select

from openchargeback.storage.registry_tables import adjustments
from openchargeback.storage.review import APPROVED, NOT_REJECTED
from openchargeback.storage.sums import money_sum, read_sum
from openchargeback.storage.tables import charge_details, charges, periods, sources

AMOUNTS = ("billed_cost", "effective_cost", "list_cost", "contracted_cost")


# A row without EffectiveCost (FOCUS-lite exports, 0.5 files) costs its BilledCost on the
# effective basis: no commitment was amortised into it. Statements read it the same way.
_EXPRESSIONS = {label: charges.c[label] for label in AMOUNTS}
_EXPRESSIONS["effective_cost"] = func.coalesce(charges.c.effective_cost, charges.c.billed_cost)


def _sums(dialect: str):
    cols = []
    for label in AMOUNTS:
        cols += money_sum(dialect, _EXPRESSIONS[label], label)
    return cols


def _read(dialect: str, row) -> dict:
    return {label: read_sum(dialect, row, label) for label in AMOUNTS}


def charge_lines(conn: Connection, period_ids: list[int], *, approved_only: bool = True,
                 by_account: bool = False) -> list[dict]:
    """One dict per (period, source, PI, project, fund, service, currency) with exact sums.
    ``approved_only``: approved charges; otherwise every charge that is not rejected.
    ``by_account``: also per account code (``account_code`` in each dict; journals divide a
    line between its account codes)."""
    dialect = conn.dialect.name
    keys = [charges.c.period_id, sources.c.name.label("source"), sources.c.cost_basis,
            charges.c.pi_email, charges.c.project_id, charges.c.fund_org,
            charge_details.c.service_name, charges.c.billing_currency]
    if by_account:
        keys.append(charges.c.account_code)
    q = (select(*keys, func.count().label("rows"), *_sums(dialect))
         .select_from(charges)
         .join(charge_details, charge_details.c.id == charges.c.detail_id)
         .join(sources, sources.c.id == charges.c.source_id)
         .where(charges.c.period_id.in_(period_ids), APPROVED if approved_only else NOT_REJECTED)
         .group_by(*keys))
    out = []
    for r in conn.execute(q):
        out.append({"period_id": r.period_id, "source": r.source, "cost_basis": r.cost_basis,
                    "pi_email": r.pi_email, "project_id": r.project_id, "fund_org": r.fund_org,
                    "service": r.service_name, "currency": r.billing_currency, "rows": r.rows,
                    **_read(dialect, r), **({"account_code": r.account_code} if by_account else {})})
    return out


def charge_totals(conn: Connection, period_ids: list[int], *, approved_only: bool = True) -> dict:
    """(period_id, currency) -> exact sums, straight from the charges (for the proof)."""
    dialect = conn.dialect.name
    q = (select(charges.c.period_id, charges.c.billing_currency, *_sums(dialect))
         .where(charges.c.period_id.in_(period_ids), APPROVED if approved_only else NOT_REJECTED)
         .group_by(charges.c.period_id, charges.c.billing_currency))
    return {(r.period_id, r.billing_currency): _read(dialect, r) for r in conn.execute(q)}


# -- adjustments ---------------------------------------------------------------------------------
def add_adjustment(conn: Connection, values: dict, actor: str, now: datetime) -> int:
    return conn.execute(insert(adjustments).values(**values, created_by=actor, created_at=now)
                        ).inserted_primary_key[0]


def list_adjustments(conn: Connection, period_ids: list[int]) -> list:
    q = (select(adjustments, sources.c.name.label("source"), periods.c.name.label("period"))
         .join(periods, periods.c.id == adjustments.c.period_id)
         .outerjoin(sources, sources.c.id == adjustments.c.source_id)
         .where(adjustments.c.period_id.in_(period_ids))
         .order_by(adjustments.c.period_id, adjustments.c.id))
    return conn.execute(q).all()
