"""Which charges of a period a review action is about (:class:`Selection`), what an
action did (:class:`ActionResult`), and how a selection becomes the one charges filter.

A charge is *pending* when it is flagged and has no decision, *approved* when a
reviewer approved it or it was never flagged, *rejected* when a reviewer rejected
it; *disputed* while its PI's dispute of it waits for a decision. Rejected charges are
left out of every sum of money. Decisions can change while the period is open; every
action is logged per charge.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection

from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.jsonable import Jsonable
from openchargeback.domain.money import money, to_picos
from openchargeback.services import lookup
from openchargeback.storage import charges as charges_repo
from openchargeback.storage import portal as portal_repo

# "disputed": charges with an open dispute of their PI (whatever their review state)
STATUSES = (*charges_repo.STATUS, "disputed")


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


def charge_filter(conn: Connection, period_id: int, sel: Selection) -> charges_repo.ChargeFilter:
    """The charges filter of a selection within a period (ids: whatever their state)."""
    if sel.status not in STATUSES:
        raise InvalidInput(f"status {sel.status!r}: expected one of {', '.join(STATUSES)}")
    source_id = lookup.source(conn, sel.source).id if sel.source else None
    ids = sel.ids
    if sel.status == "disputed":  # few at a time: their ids
        disputed = portal_repo.open_disputed(conn, period_id)
        ids = tuple(disputed) if ids is None else tuple(i for i in ids if i in set(disputed))
    return charges_repo.ChargeFilter(
        period_id,
        status=sel.status if ids is None else "all",
        reason=sel.reason,
        source_id=source_id,
        pi_email=sel.pi_email,
        project_id=sel.project_id,
        fund_org=sel.fund_org,
        resource_id=sel.resource_id,
        min_amount=to_picos(money(sel.min_amount)) if sel.min_amount is not None else None,
        ids=tuple(ids) if ids is not None else None,
    )
