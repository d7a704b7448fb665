"""What the web review pages need, one call per request: the queue with its filter
choices, a charge as it is after an action (and whether it still belongs in the list it
was acted on from), a charge's review state and history, the rules as YAML text with a
preview. Every decision goes through :mod:`services.review`, which logs it per charge."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

import yaml

from openchargeback.domain.errors import InvalidInput, NotFound, OpenChargebackError
from openchargeback.domain.money import MoneyError, money
from openchargeback.domain.review import ORDER, ReviewRules, describe
from openchargeback.services import charges, review, sources
from openchargeback.services.context import Context
from openchargeback.services.insights import period_names
from openchargeback.services.periods import get_period

STATES = ("pending", "approved", "rejected", "disputed", "all")
ACTIONS = ("approve", "reject", "correct")


def state_of(decision: str | None, flags) -> str:
    """pending = flagged without a decision; approved = approved or never flagged."""
    return decision or ("pending" if flags else "approved")


MAX_FILTER_AMOUNT = 10**12


def amount(text: str | None) -> Decimal | None:
    """A minimum amount typed in a filter (empty: none)."""
    text = (text or "").strip().replace(",", "")
    if not text:
        return None
    try:
        value = money(text)
    except MoneyError:
        raise InvalidInput(f"minimum amount {text[:30]!r} is not a number") from None
    if abs(value) >= MAX_FILTER_AMOUNT:  # beyond any charge, and beyond the database's numbers
        raise InvalidInput(f"minimum amount {text[:30]!r} is out of range (under {MAX_FILTER_AMOUNT:,})")
    return value


@dataclass(frozen=True)
class QueueView:
    period: str | None
    period_status: str | None
    selection: review.Selection
    queue: review.Queue | None
    reasons: tuple[tuple[str, str], ...]  # flag code, words (for the filter)
    sources: tuple[tuple[str, str], ...]  # name, display name
    currency: str = "USD"

    @property
    def open(self) -> bool:
        return self.period_status == "open"


def reasons(rules: ReviewRules) -> tuple[tuple[str, str], ...]:
    codes = list(ORDER) + [f"pattern:{p.name}" for p in rules.flag_patterns]
    return tuple((c, describe(c, rules)) for c in codes)


def queue_view(
    ctx: Context, period: str | None, sel: review.Selection, *, after: str | None = None, limit: int = 50
) -> QueueView:
    names = period_names(ctx)
    period = period if period else (names[0] if names else None)
    srcs = tuple((s.name, s.display_name) for s in sources.list_sources(ctx))
    rules = review.current_rules(ctx)
    if period is None or period not in names:
        return QueueView(period, None, sel, None, reasons(rules), srcs, ctx.settings.currency)
    q = review.list_queue(ctx, period, sel, after=after, limit=limit)
    return QueueView(
        q.period, get_period(ctx, q.period).status, sel, q, reasons(rules), srcs, ctx.settings.currency
    )


@dataclass(frozen=True)
class RowOutcome:
    result: review.ActionResult
    item: review.QueueItem  # the charge as it is now
    state: str
    keep: bool  # it still matches the list it was acted on from
    count: int  # what is now at stake in that list
    total: Decimal


def _decide(
    ctx: Context,
    period: str,
    sel: review.Selection,
    action: str,
    *,
    note=None,
    pi=None,
    project=None,
    fund=None,
    save_rule=False,
) -> review.ActionResult:
    if action == "approve":
        return review.approve(ctx, period, sel, note or None)
    if action == "reject":
        return review.reject(ctx, period, sel, note or "")
    if action == "correct":
        return review.correct(
            ctx,
            period,
            sel,
            pi_email=pi or None,
            project_id=project or None,
            fund_org=fund or None,
            note=note or None,
            save_rule=save_rule,
        )
    raise NotFound(f"unknown review action {action!r}: expected {', '.join(ACTIONS)}")


def act(
    ctx: Context,
    period: str,
    charge_id: int,
    action: str,
    *,
    view: review.Selection,
    note: str | None = None,
    pi: str | None = None,
    project: str | None = None,
    fund: str | None = None,
    save_rule: bool = False,
) -> RowOutcome:
    """Approve, reject or correct one charge; then the charge as it is now and what is
    left at stake in the list ``view`` it was acted on from."""
    result = _decide(
        ctx,
        period,
        review.Selection(ids=(charge_id,)),
        action,
        note=note,
        pi=pi,
        project=project,
        fund=fund,
        save_rule=save_rule,
    )
    [item] = review.list_queue(ctx, period, review.Selection(ids=(charge_id,)), limit=1).items
    try:
        left = review.list_queue(ctx, period, view, limit=1)
    except OpenChargebackError:  # the list's filters name e.g. a source that is gone:
        view = review.Selection()  # the decision stands; report the pending queue
        left = review.list_queue(ctx, period, view, limit=1)
    state = state_of(item.review, item.flags)
    return RowOutcome(result, item, state, matches(item, view), left.count, left.total)


def matches(item: review.QueueItem, sel: review.Selection) -> bool:
    """Whether a charge belongs in the list a selection describes."""
    state = state_of(item.review, item.flags)
    if sel.status == "flagged":
        if not item.flags:
            return False
    elif sel.status == "disputed":
        if item.dispute is None:
            return False
    elif sel.status != "all" and state != sel.status:
        return False
    if sel.reason and sel.reason not in item.flags:
        return False
    for want, have in (
        (sel.source, item.source),
        (sel.pi_email, item.pi_email),
        (sel.project_id, item.project_id),
        (sel.fund_org, item.fund_org),
        (sel.resource_id, item.resource_id),
    ):
        if want is not None and want != have:
            return False
    return sel.min_amount is None or abs(item.billed_cost) >= sel.min_amount


def bulk(
    ctx: Context, period: str, action: str, sel: review.Selection, note: str | None, *, limit: int = 50
) -> tuple[review.ActionResult, QueueView]:
    """Approve or reject every charge of a selection (checked ids or the whole filter);
    then the queue again, with the same filters."""
    if action not in ("approve", "reject"):
        raise InvalidInput(f"bulk action {action!r}: expected approve or reject")
    if sel.ids is not None and not sel.ids:
        raise InvalidInput("no charge is checked: tick the rows to act on first")
    result = _decide(ctx, period, sel, action, note=note)
    return result, queue_view(ctx, period, replace(sel, ids=None), limit=limit)


# -- one charge ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ChargePage:
    detail: charges.Detail
    state: str
    history: tuple[review.Action, ...]
    resource_id: str | None
    flags: tuple[tuple[str, str], ...] = ()  # code, words (with the rules in force)


def charge_page(ctx: Context, charge_id: int) -> ChargePage:
    d = charges.detail(ctx, charge_id)
    decision = dict(d.review).get("review")  # text or None, as are the FOCUS text columns
    resource = next((v for k, v in d.focus if k == "ResourceId"), None)
    rules = review.current_rules(ctx)
    return ChargePage(
        d,
        state_of(None if decision is None else str(decision), d.flags),
        review.history(ctx, charge_id),
        None if resource is None else str(resource),
        tuple((code, describe(code, rules)) for code, _ in d.flags),
    )


# -- rules ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RulesForm:
    text: str
    periods: tuple[str, ...]
    period: str | None


def rules_text(rules: ReviewRules) -> str:
    return yaml.safe_dump(rules.as_dict(), sort_keys=False, allow_unicode=True)


def rules_form(ctx: Context, period: str | None = None, text: str | None = None) -> RulesForm:
    names = tuple(period_names(ctx))
    shown = period if period in names else (names[0] if names else None)
    return RulesForm(text if text is not None else rules_text(review.current_rules(ctx)), names, shown)


def parse_rules(text: str) -> dict:
    try:
        data = yaml.safe_load(text or "") or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InvalidInput(f"review rules: not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise InvalidInput("review rules: expected a mapping of rule names to values")
    return data


def preview(ctx: Context, period: str, text: str) -> review.Preview:
    return review.preview_rules(ctx, period, parse_rules(text), examples=20)


def save_rules(ctx: Context, text: str) -> ReviewRules:
    return review.set_rules(ctx, parse_rules(text))
