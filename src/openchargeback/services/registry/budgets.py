"""Budgets: spend against the optional budget of each project and fund, per period or per
fiscal year, and alerts when spend crosses the configured thresholds (80 % and 100 % by
default), each raised once.

Spend is the allocation (:mod:`openchargeback.services.registry.allocation`) of every charge that
is not rejected (pending review included: money that is likely to be billed) plus
adjustments, in the site currency: for a project the lines of the project, for a fund
the lines allocated to it (its shares of split projects included).

An alert is a database row unique per (holder, span, threshold): a second check, from
another process too, never raises it again. With ``budgets.email_alerts`` the alert is
also emailed to the PI and billing contacts through a :class:`~openchargeback.delivery.Sender`,
each alert in a transaction of its own that marks it sent only when the sender succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from email.message import EmailMessage

from openchargeback.config import Settings
from openchargeback.delivery import Sender, make_sender
from openchargeback.domain.allocation import crossed_thresholds, fiscal_year, percent_used, periods_between
from openchargeback.domain.jsonable import JSON, Jsonable, to_json
from openchargeback.domain.money import ZERO, to_str
from openchargeback.domain.periods import Period
from openchargeback.rendering.email import build_message
from openchargeback.services.context import Context
from openchargeback.services.registry.allocation import allocate_in
from openchargeback.storage import budgets as repo
from openchargeback.storage import periods as periods_repo
from openchargeback.storage import registry as registry_repo


@dataclass(frozen=True)
class BudgetStatus(Jsonable):
    holder_kind: str  # project | fund
    holder: str
    basis: str  # period | fiscal_year
    span: str  # YYYY-MM or FY2025
    first_period: str = field(metadata={JSON: "from"})
    last_period: str = field(metadata={JSON: "to"})
    budget: Decimal
    spend: Decimal
    percent: Decimal
    reached: tuple[int, ...] = field(metadata={JSON: "thresholds_reached"})  # configured thresholds reached

    @property
    def remaining(self) -> Decimal:
        return self.budget - self.spend

    def as_json(self) -> dict:
        # remaining is computed, not a field
        return {**to_json(self), "remaining": to_str(self.remaining)}


@dataclass(frozen=True)
class BudgetAlert(Jsonable):
    id: int
    holder_kind: str
    holder: str
    span: str
    threshold: int
    budget: Decimal
    spend: Decimal
    raised_at: datetime
    recipients: tuple[str, ...]
    notified_at: datetime | None


@dataclass(frozen=True)
class AlertCheck(Jsonable):
    period: str | None
    raised: tuple[BudgetAlert, ...]
    notified: int
    unsent: int  # alerts with recipients still waiting for a sender
    failed: tuple[str, ...] = ()  # why sending failed, per alert (they stay unsent)


def _alert(r) -> BudgetAlert:
    return BudgetAlert(
        r.id,
        r.holder_kind,
        r.holder,
        r.span,
        r.threshold,
        r.budget,
        r.spend,
        r.raised_at,
        tuple(x for x in (r.recipients or "").split(";") if x),
        r.notified_at,
    )


def fiscal_start(ctx: Context) -> int:
    b = ctx.settings.budgets
    return b.fiscal_year_start_month or ctx.settings.convert.fiscal_year_start_month


def _latest(conn) -> Period | None:
    rows = periods_repo.list_all(conn)
    return Period.parse(rows[0].name) if rows else None


def _statuses(ctx: Context, conn, period: Period) -> tuple[list[BudgetStatus], dict[str, set[str]]]:
    """Every budget's status for the span containing ``period``; and fund -> PIs who spent on it."""
    holders = [("project", r) for r in registry_repo.list_all(conn, "projects") if r["budget"] is not None]
    holders += [("fund", r) for r in registry_repo.list_all(conn, "funds") if r["budget"] is not None]
    if not holders:
        return [], {}
    label, first, last = fiscal_year(period, fiscal_start(ctx))
    spans = {"period": (period.name, period, period), "fiscal_year": (label, first, last)}
    wanted = {p.name for p in periods_between(first, last)} | {period.name}
    rows = [r for r in periods_repo.list_all(conn) if r.name in wanted]
    alloc = allocate_in(conn, rows, include_pending=True)
    currency = ctx.settings.currency
    spend: dict[tuple[str, str, str], Decimal] = {}
    fund_pis: dict[str, set[str]] = {}
    for line in alloc.lines:
        if line.currency != currency:
            continue
        in_period = line.period == period.name
        for basis in ("period", "fiscal_year"):
            if basis == "period" and not in_period:
                continue
            for kind, holder in (("project", line.project_id), ("fund", line.fund_org)):
                if holder:
                    k = (kind, holder, basis)
                    spend[k] = spend.get(k, ZERO) + line.charged
        if line.fund_org and line.pi_email:
            fund_pis.setdefault(line.fund_org, set()).add(line.pi_email)
    thresholds = ctx.settings.budgets.alert_thresholds
    out = []
    for kind, r in holders:
        key = r["project_id"] if kind == "project" else r["code"]
        basis = r["budget_per"] or "period"
        span, a, b = spans[basis]
        used = spend.get((kind, key, basis), ZERO)
        out.append(
            BudgetStatus(
                kind,
                key,
                basis,
                span,
                a.name,
                b.name,
                r["budget"],
                used,
                percent_used(used, r["budget"]),
                crossed_thresholds(used, r["budget"], thresholds),
            )
        )
    return out, fund_pis


def budget_status(ctx: Context, period: str | None = None) -> tuple[BudgetStatus, ...]:
    """Spend against budget for every project and fund with a budget, in the span (period
    or fiscal year) containing ``period`` (default: the latest period)."""
    with ctx.read() as conn:
        p = Period.parse(period) if period else _latest(conn)
        if p is None:
            return ()
        statuses, _ = _statuses(ctx, conn, p)
    return tuple(sorted(statuses, key=lambda s: (-s.percent, s.holder_kind, s.holder)))


def _recipients(conn, kind: str, holder: str, fund_pis: dict[str, set[str]]) -> tuple[str, ...]:
    if kind == "project":
        proj = registry_repo.get(conn, "projects", holder)
        pis = [proj["pi_email"]] if proj else []
    else:
        pis = sorted(fund_pis.get(holder, ()))
    contacts = registry_repo.contacts(conn, pis) if pis else {}
    out: list[str] = []
    for pi in pis:
        for e in (pi, *contacts.get(pi, ())):
            if e not in out:
                out.append(e)
    return tuple(out)


def check_alerts(ctx: Context, period: str | None = None, sender: Sender | None = None) -> AlertCheck:
    """Raise the alerts newly crossed in the span containing ``period`` (default: the latest
    period), then email every alert not yet sent when email alerts are on and a sender
    is given."""
    email = ctx.settings.budgets.email_alerts
    raised = []
    with ctx.write() as conn:
        p = Period.parse(period) if period else _latest(conn)
        if p is not None:
            statuses, fund_pis = _statuses(ctx, conn, p)
            done = repo.all_raised(conn)
            now = ctx.clock()
            for s in statuses:
                already = done.get((s.holder_kind, s.holder, s.span), set())
                for t in crossed_thresholds(s.spend, s.budget, s.reached, already):
                    to = _recipients(conn, s.holder_kind, s.holder, fund_pis) if email else ()
                    aid = repo.add(
                        conn,
                        {
                            "holder_kind": s.holder_kind,
                            "holder": s.holder,
                            "span": s.span,
                            "threshold": t,
                            "budget": s.budget,
                            "spend": s.spend,
                            "raised_at": now,
                            "recipients": ";".join(to) or None,
                        },
                    )
                    if aid is None:
                        continue  # raised by another process meanwhile
                    raised.append(
                        BudgetAlert(aid, s.holder_kind, s.holder, s.span, t, s.budget, s.spend, now, to, None)
                    )
    notified = 0
    failed: list[str] = []
    if email and sender is not None:
        notified, failed = _send_pending(ctx, sender)
    with ctx.read() as conn:
        unsent = len(repo.listing(conn, unsent_only=True)) if email else 0
    return AlertCheck(p.name if p else None, tuple(raised), notified, unsent, tuple(failed))


def check_and_send(ctx: Context, period: str | None = None) -> AlertCheck:
    """:func:`check_alerts` with the configured mail transport when ``budgets.email_alerts``
    is on (the dev-mode outbox, or SMTP) — what `budgets alerts --check` runs from cron."""
    if not ctx.settings.budgets.email_alerts:
        return check_alerts(ctx, period)
    with make_sender(ctx.settings) as sender:
        return check_alerts(ctx, period, sender)


class _NotSent(Exception):
    pass


def _send_pending(ctx: Context, sender: Sender) -> tuple[int, list[str]]:
    with ctx.read() as conn:
        pending = [_alert(r) for r in repo.listing(conn, unsent_only=True)]
    sent, failed = 0, []
    for a in reversed(pending):  # oldest first
        try:
            with ctx.write() as conn:
                if not repo.mark_notified(conn, a.id, ctx.clock()):
                    continue  # another process sent it
                try:
                    sender.send(alert_message(a, ctx.settings, ctx.clock()))
                except Exception as exc:  # the mark is rolled back: retried next time
                    raise _NotSent(
                        f"alert #{a.id} ({a.holder_kind} {a.holder}, {a.threshold}%): {exc}"
                    ) from exc
            sent += 1
        except _NotSent as exc:
            failed.append(str(exc))
    return sent, failed


def alert_message(a: BudgetAlert, settings: Settings, now: datetime) -> EmailMessage:
    what = f"project {a.holder}" if a.holder_kind == "project" else f"fund {a.holder}"
    subject = f"Budget alert: {what} has used {a.threshold}% of its {a.span} budget"
    body = (
        f"Spend on {what} for {a.span} has reached {a.threshold}% of its budget.\n\n"
        f"  Budget: {to_str(a.budget)} {settings.currency}\n"
        f"  Spend:  {to_str(a.spend)} {settings.currency}\n\n"
        f"Spend includes charges still in review and adjustments.\n"
    )
    return build_message(
        sender=settings.email.from_address,
        to=list(a.recipients[:1]),
        cc=list(a.recipients[1:]),
        reply_to=settings.email.reply_to,
        subject=subject,
        html=None,
        text=body,
        attachments=[],
        date=now,
    )


def list_alerts(ctx: Context, span: str | None = None, limit: int = 500) -> tuple[BudgetAlert, ...]:
    """Alerts raised, newest first (for the dashboard)."""
    with ctx.read() as conn:
        return tuple(_alert(r) for r in repo.listing(conn, span=span, limit=limit))
