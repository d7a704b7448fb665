"""Adjustments: manual credits (negative) or charges (positive) for a PI, project and/or
fund in an open period, with a reason and who entered them. They show on statements as
their own lines and go into journals; a closed or finalized period refuses them (a
correction after closing is an adjustment in a later open period)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from openchargeback.domain.addresses import is_address
from openchargeback.domain.errors import InvalidInput, NotFound
from openchargeback.domain.journal import NO_SOURCE, Recovery, Rules, recovery_account
from openchargeback.domain.jsonable import Jsonable
from openchargeback.domain.money import MoneyError, minor_digits, money, round_currency, to_str
from openchargeback.domain.periods import Period, PeriodStatus, ensure_writable
from openchargeback.services import audit, lookup
from openchargeback.services.context import Context
from openchargeback.storage import allocation as alloc_repo
from openchargeback.storage import periods as periods_repo
from openchargeback.storage import registry as registry_repo


@dataclass(frozen=True)
class AdjustmentInfo(Jsonable):
    id: int
    period: str
    amount: Decimal
    currency: str
    reason: str
    pi_email: str | None
    project_id: str | None
    fund_org: str | None
    source: str | None
    created_by: str
    created_at: datetime


def _info(r) -> AdjustmentInfo:
    return AdjustmentInfo(
        r.id,
        r.period,
        r.amount,
        r.currency,
        r.reason,
        r.pi_email,
        r.project_id,
        r.fund_org,
        r.source,
        r.created_by,
        r.created_at,
    )


def _amount(value, currency: str) -> Decimal:
    try:
        d = money(str(value).strip()) if not isinstance(value, Decimal) else money(value)
    except MoneyError:
        raise InvalidInput(f"adjustment amount {value!r} is not a number") from None
    if d == 0:
        raise InvalidInput("an adjustment of 0 changes nothing; give a credit (negative) or a charge")
    if round_currency(d, currency) != d:
        raise InvalidInput(
            f"adjustment amount {value} has more than {minor_digits(currency)} decimal places "
            f"(the minor unit of {currency})"
        )
    return d


def add_adjustment(
    ctx: Context,
    period: str,
    amount: Decimal | str,
    reason: str,
    *,
    pi_email: str | None = None,
    project_id: str | None = None,
    fund_org: str | None = None,
    source: str | None = None,
    currency: str | None = None,
) -> AdjustmentInfo:
    """Record one adjustment line. With a registry, a named project or fund must be
    registered and the fund valid during the period; a project supplies the PI."""
    p = Period.parse(period)
    currency = (currency or ctx.settings.currency).upper()
    value = _amount(amount, currency)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("an adjustment needs a reason (--reason)", web="an adjustment needs a reason")
    pi_email = pi_email.strip().lower() if pi_email and pi_email.strip() else None
    project_id = project_id.strip() if project_id and project_id.strip() else None
    fund_org = fund_org.strip() if fund_org and fund_org.strip() else None
    if not (pi_email or project_id or fund_org):
        raise InvalidInput(
            "an adjustment is for a PI, a project or a fund: give --pi, --project or --fund",
            web="an adjustment is for a PI, a project or a fund: give one of them",
        )
    if pi_email and not is_address(pi_email):
        raise InvalidInput(f"PI {pi_email!r} is not an email address")
    with ctx.write() as conn:
        row = periods_repo.get_or_create(conn, p, ctx.actor, ctx.clock())
        ensure_writable(row.name, PeriodStatus(row.status))
        registered = registry_repo.count(conn, "projects") > 0
        if project_id and registered:
            proj = registry_repo.get(conn, "projects", project_id)
            if proj is None:
                raise NotFound(f"project {project_id!r} is not in the registry")
            pi_email = pi_email or proj["pi_email"]
        if fund_org and registry_repo.count(conn, "funds") > 0:
            fund = registry_repo.get(conn, "funds", fund_org)
            if fund is None:
                raise NotFound(f"fund {fund_org!r} is not in the registry")
            lo, hi = fund["valid_from"], fund["valid_to"]
            if (lo and lo >= p.end.date()) or (hi and hi < p.start.date()):
                raise InvalidInput(
                    f"fund {fund_org} is valid {lo or '...'} to {hi or '...'}, not during period {p}"
                )
        source_id = None
        if source and source.strip():
            source_id = lookup.source(conn, source.strip()).id
        else:
            _check_unsourced(ctx)
        aid = alloc_repo.add_adjustment(
            conn,
            {
                "period_id": row.id,
                "pi_email": pi_email,
                "project_id": project_id,
                "fund_org": fund_org,
                "source_id": source_id,
                "currency": currency,
                "amount": value,
                "reason": reason,
            },
            ctx.actor,
            ctx.clock(),
        )
        audit.record_in(
            conn,
            ctx,
            "adjustment.add",
            f"{p} #{aid}",
            json.dumps(
                {
                    "amount": to_str(value),
                    "currency": currency,
                    "pi_email": pi_email,
                    "project_id": project_id,
                    "fund_org": fund_org,
                    "source": source,
                    "reason": reason,
                }
            ),
        )
        rows = alloc_repo.list_adjustments(conn, [row.id])
    return _info(next(r for r in rows if r.id == aid))


def _check_unsourced(ctx: Context) -> None:
    """An adjustment without a source is credited to journal.adjustment_fund_org and its
    account; without them the period's journal could never be exported: refuse it now."""
    j = ctx.settings.journal
    rules = Rules(fund_org_regex=j.fund_org_regex, default_account=j.default_account)
    recovery = Recovery(NO_SOURCE, "Adjustments", j.adjustment_fund_org, j.adjustment_account)
    missing = []
    if not (j.adjustment_fund_org or "").strip():
        missing.append("journal.adjustment_fund_org (the fund/org that recovers it)")
    if recovery_account(recovery, rules)[0] is None:
        missing.append("journal.adjustment_account or journal.default_account (its account)")
    if missing:
        nowhere = (
            "an adjustment without a source has nowhere to be posted in the journal: give the "
            "source whose recovery it belongs to"
        )
        setting = " and ".join(missing) + " in the configuration"
        raise InvalidInput(f"{nowhere} (--source), or set {setting}", web=f"{nowhere}, or set {setting}")


def list_adjustments(ctx: Context, period: str) -> tuple[AdjustmentInfo, ...]:
    p = Period.parse(period)
    with ctx.read() as conn:
        row = periods_repo.get(conn, p.name)
        if row is None:
            return ()
        return tuple(_info(r) for r in alloc_repo.list_adjustments(conn, [row.id]))


def load_adjustments(conn, period_ids: list[int]) -> Sequence[Any]:
    """Rows for the allocation (inside the caller's transaction)."""
    return alloc_repo.list_adjustments(conn, period_ids)


__all__ = ["AdjustmentInfo", "add_adjustment", "list_adjustments", "load_adjustments"]
