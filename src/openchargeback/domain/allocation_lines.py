"""Allocation lines: a period's charge groups and adjustments divided between funds, with
a proof per currency and amount (pure: the service reads the inputs, see
:mod:`openchargeback.services.registry.allocation`).

Each charge group (one statement line's exact sums) is rounded half-up to its currency's
minor unit once (:func:`openchargeback.domain.money.round_currency`: 0 places for JPY,
3 for KWD), then divided by the split in force (:func:`split_amount`: the parts add
up to the rounded line exactly). Without a split a line keeps its fund, or its project's
default fund; a charge without a PI takes its project's. Adjustments are lines of their
own; one without a fund is divided by its project's split.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from openchargeback.domain.allocation import Split, select_split, split_amount
from openchargeback.domain.jsonable import Jsonable, to_json
from openchargeback.domain.money import ZERO, minor_digits, round_minor, to_str, total
from openchargeback.domain.periods import Period


class AdjustmentRow(Protocol):
    """What an adjustment brings to the allocation."""

    @property
    def id(self) -> int: ...
    @property
    def period(self) -> str: ...
    @property
    def source(self) -> str | None: ...
    @property
    def pi_email(self) -> str | None: ...
    @property
    def project_id(self) -> str | None: ...
    @property
    def fund_org(self) -> str | None: ...
    @property
    def currency(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def reason(self) -> str | None: ...


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

    def as_json(self) -> dict[str, Any]:
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

    def as_json(self) -> dict[str, Any]:
        # balanced is computed; the proofs add their computed keys
        return {**to_json(self), "balanced": self.balanced, "proofs": [p.as_json() for p in self.proofs]}


def build_lines(
    groups: Iterable[Mapping[str, Any]],
    adjustments: Iterable[AdjustmentRow],
    splits: Iterable[Split],
    projects: Mapping[str, tuple[str, str | None]],
    exact: Mapping[str, Mapping[str, Decimal]] | None = None,
) -> tuple[tuple[AllocationLine, ...], tuple[AllocationProof, ...]]:
    """The allocation lines and their proofs from plain data: charge groups (dicts with
    period, source, cost_basis, pi_email, project_id, fund_org, service, currency, rows
    and the exact amounts), adjustment rows, splits and project -> (PI, default fund).
    ``exact``: currency -> amount -> the charges' exact total read independently (the
    groups' own sum when not given). Pure apart from its inputs."""
    splits = tuple(splits)
    merged: dict[tuple[Any, ...], list[Any]] = {}
    sums: dict[tuple[str, str], list[Decimal]] = {}  # (currency, amount) -> [exact, rounded, adj]

    def acc(currency: str, amount: str) -> list[Decimal]:
        return sums.setdefault((currency, amount), [ZERO, ZERO, ZERO])

    for g in groups:
        amounts = {
            a: g[a] if g.get(a) is not None else ZERO for a in ("list_cost", "billed_cost", "effective_cost")
        }
        basis = "effective_cost" if g.get("cost_basis") == "effective" else "billed_cost"
        amounts["charged"] = amounts[basis]
        digits = minor_digits(g["currency"])
        rounded = {a: round_minor(v, digits) for a, v in amounts.items()}
        for a in AMOUNTS:
            s = acc(g["currency"], a)
            s[0] += amounts[a]
            s[1] += rounded[a]
        pi, fund = _attribution(g["pi_email"], g["project_id"], g["fund_org"], projects)
        split = select_split(splits, g["project_id"], Period.parse(g["period"]), g["source"], g["service"])
        for f, pct, parts in _divide(rounded, fund, split, digits):
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
        values = {"list_cost": amount, "billed_cost": amount, "effective_cost": amount, "charged": amount}
        for a in AMOUNTS:
            acc(adj.currency, a)[2] += values[a]
        for f, pct, parts in _divide(values, fund, split, minor_digits(adj.currency)):
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
                    parts["list_cost"],
                    parts["billed_cost"],
                    parts["effective_cost"],
                    parts["charged"],
                    adjustment_id=adj.id,
                    reason=adj.reason,
                )
            )
    lines.sort(key=_order)
    proofs: list[AllocationProof] = []
    for (currency, column), (lines_exact, rounded_sum, adjusted) in sorted(sums.items()):
        independent = (exact or {}).get(currency, {}).get(column)
        if exact is not None and independent is None:
            independent = ZERO
        if column == "charged" or independent is None:
            independent = lines_exact
        allocated = total(getattr(x, column) for x in lines if x.currency == currency)
        proofs.append(
            AllocationProof(currency, column, independent, lines_exact, rounded_sum, adjusted, allocated)
        )
    return tuple(lines), tuple(proofs)


def _attribution(
    pi: str | None,
    project: str | None,
    fund: str | None,
    projects: Mapping[str, tuple[str, str | None]],
) -> tuple[str | None, str | None]:
    known = projects.get(project) if project else None
    if known is not None:
        return pi or known[0], fund or known[1]
    return pi, fund


def _divide(
    amounts: dict[str, Decimal], fund: str | None, split: Split | None, digits: int
) -> list[tuple[str | None, Decimal | None, dict[str, Decimal]]]:
    """(fund, percent, amounts) for each part of a line."""
    if split is None:
        return [(fund, None, amounts)]
    parts = {a: split_amount(v, split.shares, digits) for a, v in amounts.items()}
    return [(f, pct, {a: parts[a][i] for a in amounts}) for i, (f, pct) in enumerate(split.shares)]


def _order(line: AllocationLine) -> tuple[Any, ...]:
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
