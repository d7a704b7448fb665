"""Rate tables for people: the rates in force on a day, the table's problems, and what
the allowance ledger holds for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from openchargeback.convert.ratefile import load_rate_table
from openchargeback.domain.jsonable import Jsonable, to_json
from openchargeback.domain.money import ZERO, to_str
from openchargeback.domain.periods import Period
from openchargeback.domain.rate_checks import RateProblem, check
from openchargeback.domain.rates import fiscal_year
from openchargeback.services.context import Context
from openchargeback.storage import allowances as ledger_repo


@dataclass(frozen=True)
class RateView:
    service: str
    resource: str
    selectors: dict[str, str]
    unit: str
    prices: dict[str, Decimal]
    effective_from: date
    effective_to: date | None


@dataclass(frozen=True)
class SubsidyView:
    name: str
    kind: str
    value: Decimal  # percent, or allowance quantity
    unit: str | None
    fiscal_year_cap: Decimal | None
    selectors: dict[str, str]


@dataclass(frozen=True)
class LedgerTotal:
    subsidy: str
    project_id: str
    fiscal_year: str
    quantity: Decimal
    amount: Decimal
    cap: Decimal | None


@dataclass(frozen=True)
class RatesInForce:
    name: str
    currency: str
    day: date
    classes: tuple[str, ...]
    rates: tuple[RateView, ...]
    subsidies: tuple[SubsidyView, ...]
    fiscal_year: str | None = None
    ledger: tuple[LedgerTotal, ...] | None = None  # None: no database given

    def as_json(self) -> dict:
        return {
            "name": self.name,
            "currency": self.currency,
            "date": str(self.day),
            "classes": list(self.classes),
            "rates": [
                {
                    "service": r.service,
                    "resource": r.resource,
                    "selectors": r.selectors,
                    "unit": r.unit,
                    "prices": {k: str(v) for k, v in r.prices.items()},
                    "from": str(r.effective_from),
                    "to": str(r.effective_to) if r.effective_to else None,
                }
                for r in self.rates
            ],
            "subsidies": [
                {
                    "name": s.name,
                    "kind": s.kind,
                    "value": str(s.value),
                    "unit": s.unit,
                    "fiscal_year_cap": str(s.fiscal_year_cap) if s.fiscal_year_cap else None,
                    "selectors": s.selectors,
                }
                for s in self.subsidies
            ],
            "fiscal_year": self.fiscal_year,
            "ledger": None
            if self.ledger is None
            else [
                {
                    "subsidy": t.subsidy,
                    "project_id": t.project_id,
                    "fiscal_year": t.fiscal_year,
                    "quantity": str(t.quantity),
                    "amount": to_str(t.amount),
                    "cap": to_str(t.cap) if t.cap is not None else None,
                }
                for t in self.ledger
            ],
        }


def rates_in_force(
    path: str | Path, day: date, ctx: Context | None = None, fiscal_year_start_month: int | None = None
) -> RatesInForce:
    table = load_rate_table(path)
    rates, subsidies = table.in_force(day)
    start = fiscal_year_start_month or (ctx.settings.convert.fiscal_year_start_month if ctx else 1)
    fy = fiscal_year(Period(day.year, day.month), start)
    ledger = None
    if ctx is not None:
        caps = {s.name: s.fiscal_year_cap for s in table.subsidies}
        totals: dict[tuple[str, str], list[Decimal]] = {}
        with ctx.read() as conn:
            for r in ledger_repo.current_consumption(conn, table.name, fy):
                t = totals.setdefault((r.subsidy, r.project_id), [ZERO, ZERO])
                t[0] += r.quantity
                t[1] += r.amount
        ledger = tuple(LedgerTotal(s, p, fy, q, a, caps.get(s)) for (s, p), (q, a) in sorted(totals.items()))
    return RatesInForce(
        table.name,
        table.currency,
        day,
        table.classes,
        tuple(
            RateView(
                r.service,
                r.resource,
                dict(r.selectors),
                r.unit,
                dict(r.prices),
                r.effective_from,
                r.effective_to,
            )
            for r in sorted(rates, key=lambda r: (r.service, r.resource, r.selectors))
        ),
        tuple(
            SubsidyView(
                s.name,
                s.kind,
                s.percent if s.percent is not None else (s.allowance or Decimal(0)),  # one is set
                s.unit,
                s.fiscal_year_cap,
                dict(s.selectors),
            )
            for s in subsidies
        ),
        fy,
        ledger,
    )


@dataclass(frozen=True)
class RateCheck(Jsonable):
    path: str
    name: str
    rates: int
    subsidies: int
    problems: tuple[RateProblem, ...]

    @property
    def errors(self) -> int:
        return sum(p.severity == "error" for p in self.problems)

    def as_json(self) -> dict:
        # the counts are computed, not fields
        return {**to_json(self), "errors": self.errors, "warnings": len(self.problems) - self.errors}


def check_rates(path: str | Path) -> RateCheck:
    table = load_rate_table(path)
    return RateCheck(str(path), table.name, len(table.rates), len(table.subsidies), tuple(check(table)))
