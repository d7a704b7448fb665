"""Allocation: a period's approved charges plus its adjustments, divided between funds.

This is what statements and journals consume. Charges are summed exactly per statement
line (period, source, PI, project, fund, service, currency); each line is rounded
half-up to its currency's minor unit, then divided by the fund split in force for its project, period,
source and service (:func:`openchargeback.domain.allocation.split_amount`: the parts
add up to the rounded line exactly). Without a split a line keeps its fund/org, or the
project's default fund when it has none; a charge without a PI takes its project's.
Adjustments are lines of their own; one without a fund is divided by its project's split.

Every allocation carries a proof per currency and amount: the lines add up to the sum
of the rounded statement lines plus the adjustments, and the statement lines add up to
the exact total of the charges read independently from the database (the difference
is the rounding, at most half a cent per line).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from openchargeback.domain.allocation_lines import (
    AMOUNTS,
    Allocation,
    AllocationLine,
    AllocationProof,
    build_lines,
)
from openchargeback.domain.money import ZERO
from openchargeback.domain.periods import Period
from openchargeback.services import lookup
from openchargeback.services.context import Context
from openchargeback.services.registry.adjustments import load_adjustments
from openchargeback.services.registry.splits import load_splits
from openchargeback.storage import allocation as repo
from openchargeback.storage import registry as registry_repo

__all__ = [
    "AMOUNTS",
    "Allocation",
    "AllocationLine",
    "AllocationProof",
    "allocate",
    "allocate_in",
    "build_lines",
]


def allocate(ctx: Context, period: str, *, include_pending: bool = False) -> Allocation:
    """The allocation of one period: approved charges (with ``include_pending``: every
    charge not rejected) plus adjustments."""
    name = Period.parse(period).name
    with ctx.read() as conn:
        row = lookup.period(conn, name)
        return allocate_in(conn, [row], include_pending=include_pending)


def allocate_in(conn: Connection, period_rows: list[Any], *, include_pending: bool = False) -> Allocation:
    """The allocation of several periods, inside the caller's transaction."""
    ids = [r.id for r in period_rows]
    names = {r.id: r.name for r in period_rows}
    approved_only = not include_pending
    groups = repo.charge_lines(conn, ids, approved_only=approved_only) if ids else []
    exact = repo.charge_totals(conn, ids, approved_only=approved_only) if ids else {}
    adjustments = load_adjustments(conn, ids) if ids else []
    projects, _ = registry_repo.snapshot(conn)
    splits = load_splits(conn)
    for g in groups:
        g["period"] = names[g["period_id"]]
    exact_by_currency: dict[str, dict[str, Decimal]] = {}
    for (_, currency), sums in exact.items():
        acc = exact_by_currency.setdefault(currency, dict.fromkeys(AMOUNTS, ZERO))
        for a in ("list_cost", "billed_cost", "effective_cost"):
            acc[a] += sums[a]
    lines, proofs = build_lines(groups, adjustments, splits, projects, exact_by_currency)
    return Allocation(
        tuple(sorted(names.values())), "approved" if approved_only else "not_rejected", lines, proofs
    )
