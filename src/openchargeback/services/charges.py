"""Browse charges with filters, a page at a time by key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from openchargeback.domain.charges import describe_flags
from openchargeback.domain.errors import NotFound
from openchargeback.domain.money import to_str
from openchargeback.domain.periods import Period
from openchargeback.services.context import Context
from openchargeback.storage import charges as repo
from openchargeback.storage import periods as periods_repo
from openchargeback.storage import sources as sources_repo


@dataclass(frozen=True)
class ChargeView:
    id: int
    period: str
    source: str
    import_id: int
    line: int
    service_name: str | None
    resource_id: str | None
    charge_period_start: datetime
    charge_period_end: datetime
    currency: str
    billed_cost: Decimal
    effective_cost: Decimal | None
    list_cost: Decimal | None
    contracted_cost: Decimal | None
    pi_email: str | None
    project_id: str | None
    fund_org: str | None
    flags: tuple[str, ...]
    tags: str | None

    def as_json(self) -> dict:
        return {"id": self.id, "period": self.period, "source": self.source,
                "import_id": self.import_id, "line": self.line, "service_name": self.service_name,
                "resource_id": self.resource_id,
                "charge_period_start": self.charge_period_start.isoformat(),
                "charge_period_end": self.charge_period_end.isoformat(),
                "currency": self.currency, "billed_cost": to_str(self.billed_cost),
                "effective_cost": to_str(self.effective_cost), "list_cost": to_str(self.list_cost),
                "contracted_cost": to_str(self.contracted_cost), "pi_email": self.pi_email,
                "project_id": self.project_id, "fund_org": self.fund_org,
                "flags": list(self.flags), "flag_reasons": describe_flags(",".join(self.flags)),
                "tags": json.loads(self.tags) if self.tags else None}


@dataclass(frozen=True)
class ChargePage:
    charges: tuple[ChargeView, ...]
    next_after: int | None  # pass as after_id for the next page


def list_charges(ctx: Context, *, period: str | None = None, source: str | None = None,
                 pi: str | None = None, project: str | None = None, fund: str | None = None,
                 flagged: bool | None = None, after_id: int | None = None,
                 limit: int = 100) -> ChargePage:
    with ctx.read() as conn:
        period_id = source_id = None
        if period:
            row = periods_repo.get(conn, Period.parse(period).name)
            if row is None:
                return ChargePage((), None)
            period_id = row.id
        if source:
            src = sources_repo.get(conn, source)
            if src is None:
                raise NotFound(f"unknown source {source!r}")
            source_id = src.id
        f = repo.ChargeFilter(period_id=period_id, source_id=source_id, pi_email=pi,
                              project_id=project, fund_org=fund, flagged=flagged)
        rows = repo.listing(conn, f, after_id=after_id, limit=limit + 1)
    views = tuple(ChargeView(
        r.id, r.period, r.source, r.import_id, r.line, r.service_name, r.resource_id,
        r.charge_period_start, r.charge_period_end, r.billing_currency, r.billed_cost,
        r.effective_cost, r.list_cost, r.contracted_cost, r.pi_email, r.project_id, r.fund_org,
        tuple(r.flags.split(",")) if r.flags else (), r.tags) for r in rows[:limit])
    return ChargePage(views, views[-1].id if len(rows) > limit else None)
