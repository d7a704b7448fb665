"""Allocation: a period's approved charges plus its adjustments, divided between funds.

This is what statements and journals consume. Charges are summed exactly per statement
line (period, source, PI, project, fund, service, currency); each line is rounded
half-up to cents, then divided by the fund split in force for its project, period,
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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from openchargeback.domain.allocation import Split, select_split, split_amount
from openchargeback.domain.jsonable import Jsonable, to_json
from openchargeback.domain.money import ZERO, round_minor, to_str, total
from openchargeback.domain.periods import Period
from openchargeback.services import lookup
from openchargeback.services.context import Context
from openchargeback.services.registry.adjustments import load_adjustments
from openchargeback.services.registry.splits import load_splits
from openchargeback.storage import allocation as repo
from openchargeback.storage import registry as registry_repo

MINOR_DIGITS = 2
AMOUNTS = ("list_cost", "billed_cost", "effective_cost", "charged")


@dataclass(frozen=True)
class AllocationLine(Jsonable):
    period: str
    kind: str  # charge | adjustment
    source: str | None
    pi_email: str | None
    project_id: str | None
    fund_org: str | None  # None: no fund known (the charge's review should have caught it)
    service: str | None
    currency: str
    percent: Decimal | None  # the fund's share when the line was split
    list_cost: Decimal
    billed_cost: Decimal
    effective_cost: Decimal
    charged: Decimal  # what the PI pays: billed or effective cost per the source's cost basis
    rows: int = 0
    adjustment_id: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class AllocationProof(Jsonable):
    currency: str
    amount: str  # one of AMOUNTS
    charges_exact: Decimal  # straight from the charges table
    lines_exact: Decimal  # the statement lines' exact sums, added up
    charges_rounded: Decimal  # the statement lines rounded to cents, added up
    adjustments: Decimal
    allocated: Decimal  # every allocation line, added up

    @property
    def rounding(self) -> Decimal:
        return self.charges_rounded - self.charges_exact

    @property
    def balanced(self) -> bool:
        return (
            self.lines_exact == self.charges_exact
            and self.allocated == self.charges_rounded + self.adjustments
        )

    def as_json(self) -> dict:
        # rounding and balanced are computed, not fields
        return {**to_json(self), "rounding": to_str(self.rounding), "balanced": self.balanced}


@dataclass(frozen=True)
class Allocation(Jsonable):
    periods: tuple[str, ...]
    charges: str  # approved | not_rejected
    lines: tuple[AllocationLine, ...]
    proofs: tuple[AllocationProof, ...]

    @property
    def balanced(self) -> bool:
        return all(p.balanced for p in self.proofs)

    def by_fund(self, currency: str, amount: str = "charged") -> dict[str | None, Decimal]:
        out: dict[str | None, Decimal] = {}
        for line in self.lines:
            if line.currency == currency:
                out[line.fund_org] = out.get(line.fund_org, ZERO) + getattr(line, amount)
        return out

    def as_json(self) -> dict:
        # balanced is computed; the proofs add their computed keys
        return {**to_json(self), "balanced": self.balanced, "proofs": [p.as_json() for p in self.proofs]}


def allocate(ctx: Context, period: str, *, include_pending: bool = False) -> Allocation:
    """The allocation of one period: approved charges (with ``include_pending``: every
    charge not rejected) plus adjustments."""
    name = Period.parse(period).name
    with ctx.read() as conn:
        row = lookup.period(conn, name)
        return allocate_in(conn, [row], include_pending=include_pending)


def allocate_in(conn, period_rows: list, *, include_pending: bool = False) -> Allocation:
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


def build_lines(
    groups: Iterable[dict],
    adjustments: Iterable,
    splits: Iterable[Split],
    projects: Mapping[str, tuple[str, str | None]],
    exact: Mapping[str, Mapping[str, Decimal]] | None = None,
    minor_digits: int = MINOR_DIGITS,
) -> tuple[tuple[AllocationLine, ...], tuple[AllocationProof, ...]]:
    """The allocation lines and their proofs from plain data: charge groups (dicts with
    period, source, cost_basis, pi_email, project_id, fund_org, service, currency, rows
    and the exact amounts), adjustment rows, splits and project -> (PI, default fund).
    ``exact``: currency -> amount -> the charges' exact total read independently (the
    groups' own sum when not given). Pure apart from its inputs."""
    splits = tuple(splits)
    merged: dict[tuple, list] = {}
    sums: dict[tuple[str, str], list[Decimal]] = {}  # (currency, amount) -> [exact, rounded, adj]

    def acc(currency: str, amount: str) -> list[Decimal]:
        return sums.setdefault((currency, amount), [ZERO, ZERO, ZERO])

    for g in groups:
        amounts = {
            a: g[a] if g.get(a) is not None else ZERO for a in ("list_cost", "billed_cost", "effective_cost")
        }
        basis = "effective_cost" if g.get("cost_basis") == "effective" else "billed_cost"
        amounts["charged"] = amounts[basis]
        rounded = {a: round_minor(v, minor_digits) for a, v in amounts.items()}
        for a in AMOUNTS:
            s = acc(g["currency"], a)
            s[0] += amounts[a]
            s[1] += rounded[a]
        pi, fund = _attribution(g["pi_email"], g["project_id"], g["fund_org"], projects)
        split = select_split(splits, g["project_id"], Period.parse(g["period"]), g["source"], g["service"])
        for f, pct, parts in _divide(rounded, fund, split, minor_digits):
            key = (g["period"], g["source"], pi, g["project_id"], f, g["service"], g["currency"], pct)
            slot = merged.setdefault(key, [dict.fromkeys(AMOUNTS, ZERO), 0])
            for a in AMOUNTS:
                slot[0][a] += parts[a]
            slot[1] += g.get("rows", 0)
    lines = [
        AllocationLine(k[0], "charge", k[1], k[2], k[3], k[4], k[5], k[6], k[7], rows=n, **v)
        for k, (v, n) in merged.items()
    ]
    for adj in adjustments:
        amount = adj.amount
        pi, fund = _attribution(adj.pi_email, adj.project_id, adj.fund_org, projects)
        split = (
            None
            if adj.fund_org
            else select_split(splits, adj.project_id, Period.parse(adj.period), adj.source, None)
        )
        values = {"list_cost": ZERO, "billed_cost": amount, "effective_cost": amount, "charged": amount}
        for a in AMOUNTS:
            acc(adj.currency, a)[2] += values[a]
        for f, pct, parts in _divide(values, fund, split, minor_digits):
            lines.append(
                AllocationLine(
                    adj.period,
                    "adjustment",
                    adj.source,
                    pi,
                    adj.project_id,
                    f,
                    None,
                    adj.currency,
                    pct,
                    adjustment_id=adj.id,
                    reason=adj.reason,
                    **parts,
                )
            )
    lines.sort(key=_order)
    proofs = []
    for (currency, amount), (lines_exact, rounded, adj) in sorted(sums.items()):
        independent = (exact or {}).get(currency, {}).get(amount)
        if exact is not None and independent is None:
            independent = ZERO
        if amount == "charged" or independent is None:
            independent = lines_exact
        allocated = total(getattr(x, amount) for x in lines if x.currency == currency)
        proofs.append(AllocationProof(currency, amount, independent, lines_exact, rounded, adj, allocated))
    return tuple(lines), tuple(proofs)


def _attribution(pi, project, fund, projects) -> tuple[str | None, str | None]:
    known = projects.get(project) if project else None
    if known is not None:
        return pi or known[0], fund or known[1]
    return pi, fund


def _divide(amounts: dict[str, Decimal], fund: str | None, split: Split | None, minor_digits: int):
    """(fund, percent, amounts) for each part of a line."""
    if split is None:
        return [(fund, None, amounts)]
    parts = {a: split_amount(v, split.shares, minor_digits) for a, v in amounts.items()}
    return [(f, pct, {a: parts[a][i] for a in amounts}) for i, (f, pct) in enumerate(split.shares)]


def _order(line: AllocationLine) -> tuple:
    return (
        line.period,
        line.currency,
        line.kind,
        line.pi_email or "",
        line.project_id or "",
        line.source or "",
        line.service or "",
        line.fund_org or "",
        line.adjustment_id or 0,
    )
