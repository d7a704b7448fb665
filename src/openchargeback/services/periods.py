"""Period lifecycle: open -> closed -> finalized; reopen with a reason."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from openchargeback.domain.errors import Conflict, InvalidInput
from openchargeback.domain.jsonable import Jsonable, json_name
from openchargeback.domain.money import to_str
from openchargeback.domain.periods import Period, PeriodStatus, transition
from openchargeback.services import audit, lookup
from openchargeback.services.context import Context
from openchargeback.storage import charges as charges_repo
from openchargeback.storage import periods as repo


class PendingReview(Conflict):
    """Closing refused: charges still wait for review (``count`` of them, ``total`` billed)."""

    def __init__(self, message: str, period: str, count: int, total):
        super().__init__(message)
        self.period, self.count, self.total = period, count, total


@dataclass(frozen=True)
class Transition:
    from_status: str | None = json_name("from")
    to_status: str = json_name("to")
    reason: str | None
    actor: str
    at: datetime


@dataclass(frozen=True)
class PeriodInfo(Jsonable):
    name: str = json_name("period")
    status: str
    starts_at: datetime
    ends_at: datetime
    history: tuple[Transition, ...] = ()


def _info(conn, row) -> PeriodInfo:
    history = tuple(
        Transition(t.from_status, t.to_status, t.reason, t.actor, t.at)
        for t in repo.transitions(conn, row.id)
    )
    return PeriodInfo(row.name, row.status, row.starts_at, row.ends_at, history)


def period_names(ctx: Context) -> list[str]:
    """Every period's name, newest first (the period pickers)."""
    with ctx.read() as conn:
        return [r.name for r in repo.list_all(conn)]


def list_periods(ctx: Context) -> list[PeriodInfo]:
    with ctx.read() as conn:
        return [PeriodInfo(r.name, r.status, r.starts_at, r.ends_at) for r in repo.list_all(conn)]


def get_period(ctx: Context, name: str) -> PeriodInfo:
    period = Period.parse(name)
    with ctx.read() as conn:
        row = lookup.period(conn, period)
        return _info(conn, row)


def open_period(ctx: Context, name: str) -> PeriodInfo:
    period = Period.parse(name)
    with ctx.write() as conn:
        if repo.get(conn, period.name) is not None:
            raise Conflict(f"period {period.name} exists already")
        row = repo.get_or_create(conn, period, ctx.actor, ctx.clock())
        return _info(conn, row)


def change_status(
    ctx: Context,
    name: str,
    action: str,
    reason: str | None = None,
    *,
    force: bool = False,
    ip: str | None = None,
) -> PeriodInfo:
    """Move a period along its lifecycle. Closing is refused while charges are pending
    review, unless ``force`` (an admin's decision) with a reason, which is recorded."""
    period = Period.parse(name)
    reason = reason.strip() if reason else None
    with ctx.write() as conn:
        row = lookup.period(conn, period)
        target = transition(period.name, PeriodStatus(row.status), action, reason)
        if action == "close":
            count, total = charges_repo.stakes(conn, charges_repo.ChargeFilter(row.id, status="pending"))
            if count and not force:
                raise PendingReview(
                    f"period {period.name} has {count} charge(s) pending review ({to_str(total)} billed); "
                    f"review them first (`openchargeback review list -p {period.name}`, or "
                    f"/review?period={period.name} in the web UI), or close anyway with "
                    f"--force --reason ...",
                    period.name,
                    count,
                    total,
                )
            if count:
                if not reason:
                    raise InvalidInput(
                        f"closing period {period.name} with {count} charge(s) pending "
                        f"review needs a reason (--reason)"
                    )
                reason = f"closed with {count} charge(s) pending review: {reason}"
        repo.set_status(conn, row, target, reason, ctx.actor, ctx.clock())
        audit.record_in(conn, ctx, f"period.{action}", period.name, reason, ip)
        return _info(conn, repo.get(conn, period.name))
