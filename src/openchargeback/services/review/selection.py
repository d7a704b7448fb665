"""Which charges of a period a review action is about (:class:`Selection`), what an
action did (:class:`ActionResult`), and how a selection becomes the one charges filter.

A charge is *pending* when it is flagged and has no decision, *approved* when a
reviewer approved it or it was never flagged, *rejected* when a reviewer rejected
it. Rejected charges are left out of every sum of money. Decisions can change while
the period is open; every action is logged per charge.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from openchargeback.domain.errors import InvalidInput, NotFound
from openchargeback.domain.jsonable import Jsonable
from openchargeback.domain.money import money, to_picos
from openchargeback.storage import charges as charges_repo
from openchargeback.storage import periods as periods_repo
from openchargeback.storage import sources as sources_repo

STATUSES = tuple(charges_repo.STATUS)


@dataclass(frozen=True)
class Selection:
    """Which charges of a period an action is about: ids, or a filter."""

    ids: tuple[int, ...] | None = None
    status: str = "pending"
    reason: str | None = None
    source: str | None = None
    pi_email: str | None = None
    project_id: str | None = None
    fund_org: str | None = None
    resource_id: str | None = None
    min_amount: Decimal | None = None


@dataclass(frozen=True)
class ActionResult(Jsonable):
    action: str
    period: str
    count: int
    total: Decimal
    rule_id: int | None = None


def period_row(conn: Connection, name: str) -> Any:
    row = periods_repo.get(conn, name)
    if row is None:
        raise NotFound(f"period {name} has no data")
    return row


def charge_filter(conn: Connection, period_id: int, sel: Selection) -> charges_repo.ChargeFilter:
    """The charges filter of a selection within a period (ids: whatever their state)."""
    if sel.status not in STATUSES:
        raise InvalidInput(f"status {sel.status!r}: expected one of {', '.join(STATUSES)}")
    source_id = None
    if sel.source:
        src = sources_repo.get(conn, sel.source)
        if src is None:
            raise NotFound(f"unknown source {sel.source!r}")
        source_id = src.id
    return charges_repo.ChargeFilter(
        period_id,
        status=sel.status if sel.ids is None else "all",
        reason=sel.reason,
        source_id=source_id,
        pi_email=sel.pi_email,
        project_id=sel.project_id,
        fund_org=sel.fund_org,
        resource_id=sel.resource_id,
        min_amount=to_picos(money(sel.min_amount)) if sel.min_amount is not None else None,
        ids=tuple(sel.ids) if sel.ids is not None else None,
    )
