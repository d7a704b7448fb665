"""Pricing usage lines with a rate table: list cost, subsidies, billed cost.

For each line, in the order given (converters sort their lines, so that the same
input always consumes allowances the same way):

1. The rate in force on the first day of the line's period (``RateTable.find``) at
   the line's rate class gives the unit price; ``ListCost = quantity x price``.
2. Free allowances matching the line (same unit, in force, selectors equal), in the
   order the table lists them, make part of the quantity free: each is a pool per
   project per month, of which earlier lines of the run and earlier runs (``Prior``)
   took their share.
3. The most specific matching percentage takes its share of what the allowances left.
   Selectors rank project, account, rate class, GPU type, partition/QOS/tier, resource,
   service (``RANKS``); subsidies are compared by their highest-ranked selector, then the
   next (:func:`specificity`), and among equals the first listed wins.
4. A subsidy with a fiscal-year cap grants a project at most the cap in a fiscal year,
   counting earlier runs (``Prior``) and earlier lines of this run.

``BilledCost = ListCost - subsidies``. Amounts are exact at ledger scale (12 decimal
places, ``money``); nothing is rounded to cents here (statements round lines).
Lines without a project get no allowance and no capped subsidy (there is no pool to
draw from); they are flagged at import for the missing project.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext

from openchargeback.domain.money import ZERO, money
from openchargeback.domain.periods import Period
from openchargeback.domain.rates import Rate, RateTable, Subsidy, fiscal_year

# A percentage subsidy's selectors by rank: a subsidy naming a higher-ranked selector is
# more specific than any naming only lower-ranked ones, however many (ranks are compared,
# never added: partition + QOS does not reach GPU type).
RANKS = {
    "project": 7,
    "account": 6,
    "rate_class": 5,
    "gpu_type": 4,
    "partition": 3,
    "qos": 3,
    "tier": 3,
    "resource": 2,
    "service": 1,
}


@dataclass(frozen=True)
class UsageLine:
    period: Period
    service: str
    resource: str
    quantity: Decimal
    partition: str | None = None
    qos: str | None = None
    tier: str | None = None
    gpu_type: str | None = None
    account: str | None = None
    project: str | None = None
    ref: object = None  # the converter's own key for the line, carried through

    def attrs(self) -> dict[str, str | None]:
        return {
            "service": self.service,
            "resource": self.resource,
            "partition": self.partition,
            "qos": self.qos,
            "tier": self.tier,
            "gpu_type": self.gpu_type,
            "account": self.account,
            "project": self.project,
        }


@dataclass(frozen=True)
class Grant:
    subsidy: str
    kind: str  # allowance | percent
    amount: Decimal
    quantity: Decimal | None = None  # free quantity, for allowances


@dataclass(frozen=True)
class PricedLine:
    line: UsageLine
    rate: Rate
    rate_class: str
    unit_price: Decimal
    list_cost: Decimal
    grants: tuple[Grant, ...]
    billed_cost: Decimal

    @property
    def subsidy(self) -> Decimal:
        return self.list_cost - self.billed_cost


# (subsidy name, project, fiscal year, period name)
ConsumptionKey = tuple[str, str, str, str]


@dataclass(frozen=True)
class Consumption:
    quantity: Decimal  # allowance quantity taken (0 for percentages)
    amount: Decimal  # subsidy money granted


@dataclass(frozen=True)
class Prior:
    """What earlier runs consumed: allowance quantity taken earlier in the same month,
    and subsidy money granted earlier in the same fiscal year."""

    # (subsidy, project, period) -> quantity; (subsidy, project, fiscal year) -> amount
    month_quantity: Mapping[tuple[str, str, str], Decimal] = field(default_factory=dict)
    year_amount: Mapping[tuple[str, str, str], Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class Pricing:
    lines: tuple[PricedLine, ...]
    consumption: Mapping[ConsumptionKey, Consumption]  # this run's, for ledger subsidies

    @property
    def list_total(self) -> Decimal:
        return sum((p.list_cost for p in self.lines), ZERO)

    @property
    def billed_total(self) -> Decimal:
        return sum((p.billed_cost for p in self.lines), ZERO)


def specificity(s: Subsidy) -> tuple[int, ...]:
    """The ranks of a subsidy's selectors, highest first. Compared as tuples: the higher
    top rank wins; on a tie the next rank decides, and naming one more selector of the
    same ranks wins (``partition, qos`` over ``partition``)."""
    return tuple(sorted((RANKS.get(k, 0) for k, _ in s.selectors), reverse=True))


class _Run:
    def __init__(self, table: RateTable, start_month: int, prior: Prior):
        self.table, self.start_month, self.prior = table, start_month, prior
        self.month_qty: dict[tuple[str, str, str], Decimal] = {}
        self.year_amt: dict[tuple[str, str, str], Decimal] = {}
        self.consumption: dict[ConsumptionKey, Consumption] = {}

    def _cap_room(self, s: Subsidy, project: str, fy: str) -> Decimal | None:
        if s.fiscal_year_cap is None:
            return None
        key = (s.name, project, fy)
        used = self.prior.year_amount.get(key, ZERO) + self.year_amt.get(key, ZERO)
        return max(s.fiscal_year_cap - used, ZERO)

    def _record(
        self, s: Subsidy, project: str, period: Period, fy: str, quantity: Decimal, amount: Decimal
    ) -> None:
        if not s.needs_ledger:
            return
        ykey = (s.name, project, fy)
        self.year_amt[ykey] = self.year_amt.get(ykey, ZERO) + amount
        if quantity:
            mkey = (s.name, project, period.name)
            self.month_qty[mkey] = self.month_qty.get(mkey, ZERO) + quantity
        ckey = (s.name, project, fy, period.name)
        old = self.consumption.get(ckey, Consumption(ZERO, ZERO))
        self.consumption[ckey] = Consumption(old.quantity + quantity, old.amount + amount)

    def price(self, line: UsageLine) -> PricedLine:
        day = line.period.start.date()
        rate = self.table.find(line.service, line.resource, line.attrs(), day)
        cls = self.table.rate_class(line.project, line.account)
        price = rate.prices[cls]
        list_cost = money(line.quantity * price)
        attrs = {**line.attrs(), "rate_class": cls}
        subsidies = [s for s in self.table.subsidies if s.in_force(day) and s.matches(attrs)]
        fy = fiscal_year(line.period, self.start_month)
        grants: list[Grant] = []
        left_qty, left_cost = line.quantity, list_cost
        project = line.project
        for s in subsidies:
            if s.allowance is None or s.unit != rate.unit or not project or left_qty <= 0:
                continue
            mkey = (s.name, project, line.period.name)
            taken = self.prior.month_quantity.get(mkey, ZERO) + self.month_qty.get(mkey, ZERO)
            free = min(max(s.allowance - taken, ZERO), left_qty)
            amount = money(free * price) if free < line.quantity else list_cost
            room = self._cap_room(s, project, fy)
            if room is not None and amount > room:
                amount = room
                free = money(amount / price) if price else free
            amount = min(amount, left_cost)
            if free <= 0 and amount <= 0:
                continue
            grants.append(Grant(s.name, "allowance", amount, free))
            self._record(s, project, line.period, fy, free, amount)
            left_qty -= free
            left_cost -= amount
        percents = [
            (s, s.percent)
            for s in subsidies
            if s.percent is not None and (project or s.fiscal_year_cap is None)
        ]
        if percents and left_cost > 0:
            s, percent = max(percents, key=lambda sp: specificity(sp[0]))  # max keeps the first of equals
            amount = money(left_cost * percent / 100)
            room = self._cap_room(s, project, fy) if project else None
            if room is not None:
                amount = min(amount, room)
            if amount > 0:
                grants.append(Grant(s.name, "percent", amount))
                if project:
                    self._record(s, project, line.period, fy, ZERO, amount)
                left_cost -= amount
        return PricedLine(line, rate, cls, price, list_cost, tuple(grants), left_cost)


def price_lines(
    table: RateTable,
    lines: Iterable[UsageLine],
    *,
    fiscal_year_start_month: int = 1,
    prior: Prior | None = None,
) -> Pricing:
    """Price ``lines`` in order (see the module docstring)."""
    run = _Run(table, fiscal_year_start_month, prior or Prior())
    with localcontext() as ctx:
        ctx.prec = 60  # no product or share of realistic amounts is rounded by the context
        priced = tuple(run.price(line) for line in lines)
    return Pricing(priced, dict(run.consumption))
