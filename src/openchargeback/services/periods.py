"""Period lifecycle: open -> closed -> finalized; reopen with a reason."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from openchargeback.domain.errors import Conflict, InvalidInput
from openchargeback.domain.jsonable import JSON, Jsonable
from openchargeback.domain.money import to_str
from openchargeback.domain.periods import Period, PeriodStatus, transition
from openchargeback.services import audit, lookup
from openchargeback.services.context import Context
from openchargeback.storage import charges as charges_repo
from openchargeback.storage import periods as repo


class PendingReview(Conflict):
    """Closing refused: charges still wait for review (``count`` of them, ``total`` billed)."""

    def __init__(self, message: str, period: str, count: int, total, *, web: str | None = None):
        super().__init__(message, web=web)
        self.period, self.count, self.total = period, count, total


@dataclass(frozen=True)
class Transition:
    from_status: str | None = field(metadata={JSON: "from"})
    to_status: str = field(metadata={JSON: "to"})
    reason: str | None
    actor: str
    at: datetime


@dataclass(frozen=True)
class PeriodInfo(Jsonable):
    name: str = field(metadata={JSON: "period"})
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
        row = repo.lock(conn, lookup.period(conn, period).id)  # waits for an import holding it
        target = transition(period.name, PeriodStatus(row.status), action, reason)
        if action == "close":
            count, total = charges_repo.stakes(conn, charges_repo.ChargeFilter(row.id, status="pending"))
            if count and not force:
                waiting = (
                    f"period {period.name} has {count} charge(s) pending review ({to_str(total)} billed)"
                )
                raise PendingReview(
                    f"{waiting}; review them first (`openchargeback review list -p {period.name}`, or "
                    f"/review?period={period.name} in the web UI), or close anyway with "
                    f"--force --reason ...",
                    period.name,
                    count,
                    total,
                    web=f"{waiting}; review them in the review queue first, or close anyway with a reason",
                )
            if count:
                if not reason:
                    raise InvalidInput(
                        f"closing period {period.name} with {count} charge(s) pending "
                        f"review needs a reason (--reason)",
                        web=f"closing period {period.name} with {count} charge(s) pending review "
                        "needs a reason",
                    )
                reason = f"closed with {count} charge(s) pending review: {reason}"
        repo.set_status(conn, row, target, reason, ctx.actor, ctx.clock())
        if action == "close":  # the month's charges are final: the ledger's statistics too
            charges_repo.refresh_statistics(conn)
        audit.record_in(conn, ctx, f"period.{action}", period.name, reason, ip)
        return _info(conn, repo.get(conn, period.name))


def close_if_clear(ctx: Context, name: str, command: str, *, ip: str | None = None) -> PeriodInfo | None:
    """Close an open period when ``periods.close_when_clear`` is on and no charge of it
    waits for review: the unattended month (cron's ``generate``). Returns the period as
    now closed, or None when nothing was done (the setting is off, or the period is not
    open). The history records the closing with the acting user and the ``command``
    that did it. Refused with :class:`PendingReview` (exit 1 in the CLI) while charges
    are pending: the message gives their count and amount and where to review them (the
    review queue's address under ``server.public_url`` when that is set)."""
    if not ctx.settings.periods.close_when_clear:
        return None
    period = Period.parse(name)
    with ctx.write() as conn:
        row = lookup.period(conn, period)
        if row.status != PeriodStatus.OPEN.value:
            return None
        count, total = charges_repo.stakes(conn, charges_repo.ChargeFilter(row.id, status="pending"))
        if count:
            base = ctx.settings.server.public_url
            where = (
                f"{base.rstrip('/')}/review?period={period.name}"
                if base
                else f"/review?period={period.name} in the web UI"
            )
            raise PendingReview(
                f"period {period.name} is open and {count} charge(s) wait for review "
                f"({to_str(total)} billed): review them at {where} (or "
                f"`openchargeback review list -p {period.name}`), then run the command again",
                period.name,
                count,
                total,
            )
        reason = f"closed by `{command}`: no charge pending review (periods.close_when_clear)"
        target = transition(period.name, PeriodStatus.OPEN, "close", reason)
        repo.set_status(conn, row, target, reason, ctx.actor, ctx.clock())
        charges_repo.refresh_statistics(conn)
        audit.record_in(conn, ctx, "period.close", period.name, reason, ip)
        return _info(conn, repo.get(conn, period.name))
