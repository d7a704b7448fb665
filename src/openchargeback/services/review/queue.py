"""The review queue of a period: charges by size of amount, largest first, a page at a
time, with the count and total at stake."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.jsonable import JSON, Jsonable
from openchargeback.domain.periods import Period
from openchargeback.domain.review import describe
from openchargeback.services import lookup
from openchargeback.services.context import Context
from openchargeback.services.review.rules import current_rules
from openchargeback.services.review.selection import Selection, charge_filter
from openchargeback.storage import charges as charges_repo
from openchargeback.storage import portal as portal_repo


@dataclass(frozen=True)
class QueueItem(Jsonable):
    id: int
    source: str
    service: str | None
    resource_id: str | None
    pi_email: str | None
    project_id: str | None
    fund_org: str | None
    billed_cost: Decimal
    currency: str
    flags: tuple[str, ...]
    reasons: tuple[str, ...]
    review: str | None
    review_note: str | None
    dispute: OpenDispute | None = None  # the PI's open dispute of the charge


@dataclass(frozen=True)
class OpenDispute(Jsonable):
    id: int
    pi_email: str
    reason: str  # the PI's note
    raised_by: str
    raised_at: datetime
    line: str | None  # raised on a statement line


@dataclass(frozen=True)
class Queue(Jsonable):
    period: str
    status: str
    count: int
    total: Decimal
    items: tuple[QueueItem, ...] = field(metadata={JSON: "charges"})
    next_after: str | None = None  # "size:id" of the page's last charge


def list_queue(
    ctx: Context, period: str, sel: Selection = Selection(), *, after: str | None = None, limit: int = 50
) -> Queue:
    name = Period.parse(period).name
    cursor = None
    if after:
        try:
            size, cid = after.split(":")
            cursor = (int(size), int(cid))
        except ValueError:
            raise InvalidInput(
                f"--after {after!r}: expected the value printed as next_after",
                web="this page of the queue is out of date; open the review queue again",
            ) from None
    with ctx.read() as conn:
        row = lookup.period(conn, name)
        f = charge_filter(conn, row.id, sel)
        rules = current_rules(ctx, conn)
        rows = charges_repo.page(conn, f, order="size", after=cursor, limit=limit + 1)
        count, total = charges_repo.stakes(conn, f)
        disputes = {
            d.charge_id: OpenDispute(d.id, d.pi_email, d.reason, d.raised_by, d.raised_at, d.line)
            for d in portal_repo.disputes(conn, open_only=True, charge_ids=[r.id for r in rows[:limit]])
        }
    items = tuple(
        QueueItem(
            r.id,
            r.source,
            r.service_name,
            r.resource_id,
            r.pi_email,
            r.project_id,
            r.fund_org,
            r.billed_cost,
            r.billing_currency,
            tuple((r.flags or "").split(",")) if r.flags else (),
            tuple(describe(c, rules) for c in (r.flags or "").split(",") if c),
            r.review,
            r.review_note,
            disputes.get(r.id),
        )
        for r in rows[:limit]
    )
    nxt = None
    if len(rows) > limit:
        size, cid = charges_repo.key_of(rows[limit - 1], "size")
        nxt = f"{size}:{cid}"
    return Queue(name, sel.status, count, total, items, nxt)


def pending(ctx: Context, period: str) -> tuple[int, Decimal]:
    """(count, billed total) of the period's charges waiting for review."""
    with ctx.read() as conn:
        row = lookup.period(conn, period)
        return charges_repo.stakes(conn, charges_repo.ChargeFilter(row.id, status="pending"))
