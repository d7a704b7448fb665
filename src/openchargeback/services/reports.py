"""Period totals, overall and by source, PI, project, fund or service."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.jsonable import Jsonable
from openchargeback.domain.money import ZERO
from openchargeback.domain.periods import Period
from openchargeback.services import lookup
from openchargeback.services.context import Context
from openchargeback.storage import reports as repo

GROUPINGS = tuple(repo.GROUPS)
COSTS = repo.COST_LABELS


@dataclass(frozen=True)
class Totals(Jsonable):
    rows: int
    billed_cost: Decimal
    effective_cost: Decimal
    list_cost: Decimal
    contracted_cost: Decimal


@dataclass(frozen=True)
class PeriodTotals:
    period: str
    currency: str
    totals: Totals
    by: str | None
    groups: tuple[tuple[str | None, Totals], ...]

    def as_json(self) -> dict:
        # reshaped: the totals are flattened in, "by" only when grouped, each group flattened with its name
        out = {"period": self.period, "currency": self.currency, **self.totals.as_json()}
        if self.by:
            out["by"] = self.by
        out["groups"] = [{"group": g, **t.as_json()} for g, t in self.groups]
        return out


def _totals(items: list[dict]) -> Totals:
    return Totals(sum(i["rows"] for i in items), *(sum((i[c] for i in items), ZERO) for c in COSTS))


def period_totals(
    ctx: Context, period: str, *, by: str | None = None, currency: str | None = None
) -> PeriodTotals:
    name = Period.parse(period).name
    if by is not None and by not in GROUPINGS:
        raise InvalidInput(f"--by {by!r}: expected one of {', '.join(GROUPINGS)}")
    with ctx.read() as conn:
        row = lookup.period(conn, name)
        items = repo.totals(conn, row.id, by)
    currencies = sorted({i["currency"] for i in items})
    if currency:
        currency = currency.upper()
        items = [i for i in items if i["currency"] == currency]
    elif len(currencies) > 1:
        raise InvalidInput(
            f"period {name} has charges in {', '.join(currencies)}; choose one with --currency"
        )
    else:
        currency = currencies[0] if currencies else ctx.settings.currency
    groups: dict = {}
    for i in items:
        groups.setdefault(i["group"], []).append(i)
    ordered = sorted(
        ((g, _totals(v)) for g, v in groups.items()), key=lambda gt: (-gt[1].billed_cost, gt[0] or "")
    )
    return PeriodTotals(name, currency, _totals(items), by, tuple(ordered) if by else ())


# -- subsidies ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SubsidyRow(Jsonable):
    currency: str
    source: str
    fund_org: str | None  # the fund that pays the subsidy (journal.sources.NAME.subsidy_fund_org)
    funded_by: str | None  # its description; None with fund_org None: absorbed by the recovery
    pi_email: str | None
    list_cost: Decimal
    charged: Decimal
    subsidy: Decimal  # list price minus amount due


@dataclass(frozen=True)
class SubsidyReport(Jsonable):
    periods: tuple[str, ...]
    label: str  # the period, or the fiscal year (FY2025)
    rows: tuple[SubsidyRow, ...]
    totals: tuple[SubsidyRow, ...]  # per currency (source, fund and PI empty)


def subsidy_report(ctx: Context, period: str | None = None, fiscal_year: str | None = None) -> SubsidyReport:
    """Subsidies (list price minus amount due of approved charges, as statements and the
    journal count them) by source, paying fund and PI, for a period or a fiscal year."""
    from openchargeback.domain.allocation import fiscal_year as fy_of
    from openchargeback.domain.allocation import periods_between
    from openchargeback.services.journal import funded_subsidies
    from openchargeback.services.registry import allocate_in, fiscal_start
    from openchargeback.storage import periods as periods_repo

    if (period is None) == (fiscal_year is None):
        raise InvalidInput("give a period (-p YYYY-MM) or a fiscal year (--fiscal-year FY2025), not both")
    with ctx.read() as conn:
        if period is not None:
            label = Period.parse(period).name
            rows = [lookup.period(conn, label)]
        else:
            text = (fiscal_year or "").strip().upper().removeprefix("FY")
            if not (text.isdigit() and len(text) == 4):
                raise InvalidInput(f"fiscal year {fiscal_year!r}: expected FY and a year, as FY2025")
            start = fiscal_start(ctx)
            label, first, last = fy_of(Period(int(text) - (start != 1), start), start)
            names = {p.name for p in periods_between(first, last)}
            rows = [r for r in periods_repo.list_all(conn) if r.name in names]
            if not rows:
                raise InvalidInput(f"{label} ({first} to {last}) has no billing period yet")
        allocation = allocate_in(conn, rows)
    funded = funded_subsidies(ctx.settings)
    sums: dict[tuple, list[Decimal]] = {}
    for ln in allocation.lines:
        if ln.kind != "charge" or ln.list_cost == ln.charged:
            continue
        f = funded.get(ln.source or "")
        key = (
            ln.currency,
            ln.source or "",
            f.fund_org if f else None,
            (f.description or f.fund_org) if f else None,
            ln.pi_email,
        )
        acc = sums.setdefault(key, [ZERO, ZERO])
        acc[0] += ln.list_cost
        acc[1] += ln.charged
    out = tuple(
        SubsidyRow(c, s, f, d, pi, lst, due, lst - due)
        for (c, s, f, d, pi), (lst, due) in sorted(sums.items(), key=lambda kv: tuple(x or "" for x in kv[0]))
    )
    totals: dict[str, list[Decimal]] = {}
    for r in out:
        t = totals.setdefault(r.currency, [ZERO, ZERO])
        t[0] += r.list_cost
        t[1] += r.charged
    return SubsidyReport(
        tuple(sorted(r.name for r in rows)),
        label,
        out,
        tuple(
            SubsidyRow(c, "", None, None, None, lst, due, lst - due)
            for c, (lst, due) in sorted(totals.items())
        ),
    )
