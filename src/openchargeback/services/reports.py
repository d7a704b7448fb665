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
