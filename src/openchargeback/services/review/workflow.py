"""The review workflow: the queue of flagged charges, decisions (approve, reject),
attribution corrections (optionally saved as rules for future imports), the rules
themselves, and re-checking a period against them.

A charge is *pending* when it is flagged and has no decision, *approved* when a
reviewer approved it or it was never flagged, *rejected* when a reviewer rejected
it. Rejected charges are left out of every sum of money. Decisions can change while
the period is open; every action is logged per charge.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from openchargeback.domain.errors import InvalidInput, NotFound
from openchargeback.domain.money import money, to_picos, to_str
from openchargeback.domain.periods import Period, PeriodStatus, ensure_writable
from openchargeback.domain.review import ChargeFacts, Evaluator, ReviewRules, describe, join_flags
from openchargeback.services import audit
from openchargeback.services.context import Context
from openchargeback.services.ingest.flagging import tags_dict
from openchargeback.services.registry import records as registry_svc
from openchargeback.storage import periods as periods_repo
from openchargeback.storage import review as repo
from openchargeback.storage import rollups
from openchargeback.storage import sources as sources_repo

STATUSES = tuple(repo.STATUS)
_KEEP = ("period_mismatch",)  # set at import; a re-check cannot recompute it


@dataclass(frozen=True)
class QueueItem:
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

    def as_json(self) -> dict:
        return {"id": self.id, "source": self.source, "service": self.service,
                "resource_id": self.resource_id, "pi_email": self.pi_email,
                "project_id": self.project_id, "fund_org": self.fund_org,
                "billed_cost": to_str(self.billed_cost), "currency": self.currency,
                "flags": list(self.flags), "reasons": list(self.reasons), "review": self.review,
                "review_note": self.review_note}


@dataclass(frozen=True)
class Queue:
    period: str
    status: str
    items: tuple[QueueItem, ...]
    count: int
    total: Decimal
    next_after: str | None

    def as_json(self) -> dict:
        return {"period": self.period, "status": self.status, "count": self.count,
                "total": to_str(self.total), "charges": [i.as_json() for i in self.items],
                "next_after": self.next_after}


@dataclass(frozen=True)
class ActionResult:
    action: str
    period: str
    count: int
    total: Decimal
    rule_id: int | None = None

    def as_json(self) -> dict:
        return {"action": self.action, "period": self.period, "count": self.count,
                "total": to_str(self.total), "rule_id": self.rule_id}


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


# -- rules ---------------------------------------------------------------------------------
def current_rules(ctx: Context, conn=None) -> ReviewRules:
    def load(c):
        data = repo.load_rules(c)
        if data is None:
            data = json.loads(ctx.settings.review.model_dump_json())
        return ReviewRules.from_dict(data)

    if conn is not None:
        return load(conn)
    with ctx.read() as c:
        return load(c)


def set_rules(ctx: Context, data: dict) -> ReviewRules:
    rules = ReviewRules.from_dict(data)
    with ctx.write() as conn:
        before = current_rules(ctx, conn)
        repo.save_rules(conn, rules.as_dict(), ctx.actor, ctx.clock())
        audit.record_in(conn, ctx, "review.rules", "review rules",
                        json.dumps({"before": before.as_dict(), "after": rules.as_dict()}))
    return rules


@dataclass(frozen=True)
class Preview:
    period: str
    charges: int
    flagged: int
    newly_flagged: int
    cleared: int
    by_reason: tuple[tuple[str, str, int], ...]  # code, words, count
    examples: tuple[tuple[int, str | None, str | None], ...]  # id, before, after

    def as_json(self) -> dict:
        return {"period": self.period, "charges": self.charges, "flagged": self.flagged,
                "newly_flagged": self.newly_flagged, "cleared": self.cleared,
                "by_reason": [{"flag": c, "reason": w, "count": n} for c, w, n in self.by_reason],
                "examples": [{"id": i, "before": b, "after": a} for i, b, a in self.examples]}


def preview_rules(ctx: Context, period: str, data: dict, *, examples: int = 50) -> Preview:
    """What the proposed rules would flag among every charge of the period; saves nothing."""
    rules = ReviewRules.from_dict(data)
    name = Period.parse(period).name
    with ctx.read() as conn:
        row = _period(conn, name)
        changes, counts, total, flagged = [], {}, 0, 0
        for before, after, cid in _reevaluate(conn, row.id, Evaluator(rules), everything=True):
            total += 1
            if after:
                flagged += 1
                for code in after.split(","):
                    counts[code] = counts.get(code, 0) + 1
            if before != after:
                changes.append((cid, before, after))
    newly = sum(1 for _, b, a in changes if a and not b)
    cleared = sum(1 for _, b, a in changes if b and not a)
    return Preview(name, total, flagged, newly, cleared,
                   tuple(sorted(((c, describe(c, rules), n) for c, n in counts.items()),
                                key=lambda x: -x[2])),
                   tuple(changes[:examples]))


def _registry_flags(registry, r) -> list[str]:
    """Unknown project or fund, or a fund not valid on the charge's start date."""
    if not registry.active:
        return []
    return registry.flags(r.project_id, r.fund_org, r.charge_period_start.date())


def _reevaluate(conn, period_id: int, evaluator: Evaluator, *, everything: bool = False):
    """(stored flags, flags the rules give now, id) for the period's undecided charges
    (every charge with ``everything``)."""
    grew = _grown_projects(conn, period_id, evaluator)
    registry = registry_svc.snapshot(conn)
    cache: dict = {}
    batches = repo.unreviewed(conn, period_id) if not everything else _all_rows(conn, period_id)
    for rows in batches:
        for r in rows:
            key = (r.detail_id, r.tag_set_id, r.pi_email, r.project_id, r.fund_org, r.resource_id,
                   r.resource_name)
            base = cache.get(key)
            if base is None:
                base = evaluator.facts_flags(ChargeFacts(
                    r.pi_email, r.project_id, r.fund_org, r.service_name, r.resource_id,
                    r.resource_name, r.sku_id, r.charge_description, tags_dict(r.tags)))
                if len(cache) > 50_000:
                    cache.clear()
                cache[key] = base
            codes = base + evaluator.amount_flags(r.billed_cost) + _registry_flags(registry, r)
            codes += [c for c in (r.flags or "").split(",") if c in _KEEP]
            if r.project_id in grew:
                codes.append("growth")
            yield r.flags, join_flags(codes), r.id


def _all_rows(conn, period_id: int):
    ids = repo.select_ids(conn, repo.ReviewFilter(period_id, status="all"))
    for i in range(0, len(ids), 20_000):
        yield repo.facts(conn, ids[i:i + 20_000])


def _grown_projects(conn, period_id: int, evaluator: Evaluator) -> set[str]:
    r = evaluator.rules
    if r.growth_percent is None and r.growth_amount is None:
        return set()
    name = periods_repo.get_by_id(conn, period_id).name
    prev = periods_repo.get(conn, Period.parse(name).previous().name)
    if prev is None:  # no previous period to grow from (a new site, or a gap)
        return set()
    now = repo.project_totals(conn, period_id)
    before = repo.project_totals(conn, prev.id)
    return {p for p, t in now.items() if evaluator.grew(before.get(p, Decimal(0)), t)}


def recheck(ctx: Context, period: str) -> ActionResult:
    """Apply the current rules to the period's charges that have no decision yet."""
    name = Period.parse(period).name
    with ctx.write() as conn:
        row = _period(conn, name)
        ensure_writable(row.name, PeriodStatus(row.status))
        evaluator = Evaluator(current_rules(ctx, conn))
        updates = [{"id": cid, "flags": after}
                   for before, after, cid in _reevaluate(conn, row.id, evaluator) if before != after]
        repo.update_rows(conn, updates)
        rollups.invalidate(conn, row.id)
        audit.record_in(conn, ctx, "review.recheck", name, f"{len(updates)} charge(s) changed")
        count, total = repo.stakes(conn, repo.ReviewFilter(row.id, status="pending"))
    return ActionResult("recheck", name, len(updates), total)


def apply_growth_rule(ctx: Context, conn, period_id: int) -> int:
    """After an import: flag the undecided charges of projects that grew too much."""
    evaluator = Evaluator(current_rules(ctx, conn))
    grew = _grown_projects(conn, period_id, evaluator)
    if not grew:
        return 0
    updates = []
    for rows in repo.unreviewed(conn, period_id):
        for r in rows:
            if r.project_id in grew and "growth" not in (r.flags or "").split(","):
                updates.append({"id": r.id, "flags": join_flags((r.flags or "").split(",") + ["growth"])
                                if r.flags else "growth"})
    repo.update_rows(conn, updates)
    return len(updates)


def carry_over(*, ctx: Context, conn, source_id: int, period_ids: list[int], import_id: int) -> int:
    """Before a --replace removes earlier rows: give each decided or corrected earlier
    charge's decision to the new row with the same fingerprint (identical rows pair up
    in line order). Returns how many were carried over."""
    old = repo.decided_rows(conn, source_id, period_ids, import_id)
    if not old:
        return 0
    pool: dict[tuple, list] = {}
    for r in repo.candidate_rows(conn, source_id, period_ids, import_id, {r.detail_id for r in old}):
        pool.setdefault(_fingerprint(r), []).append(r)
    corrected = repo.corrected_ids(conn, [r.id for r in old])
    decisions, corrections, moves, actions = [], [], [], []
    now = ctx.clock()
    for r in old:
        bucket = pool.get(_fingerprint(r))
        if not bucket:
            continue
        new = bucket.pop(0)
        decisions.append({"id": new.id, "review": r.review, "review_note": r.review_note,
                          "reviewed_by": r.reviewed_by, "reviewed_at": r.reviewed_at})
        if r.id in corrected:  # only a correction overrides what today's mapping and rules say
            corrections.append({"id": new.id, "pi_email": r.pi_email, "project_id": r.project_id,
                                "fund_org": r.fund_org, "flags": r.flags})
        moves.append((r.id, new.id))
        actions.append({"charge_id": new.id, "period_id": new.period_id, "action": "carry_over",
                        "before": json.dumps({"charge_id": r.id, "import_id": r.import_id,
                                              "line": r.line}),
                        "after": json.dumps({"review": r.review, "pi_email": r.pi_email,
                                             "project_id": r.project_id, "fund_org": r.fund_org}),
                        "note": "decision kept across a --replace re-import", "actor": ctx.actor,
                        "at": now})
    repo.update_rows(conn, decisions)
    repo.update_rows(conn, corrections)
    repo.move_actions(conn, moves)
    repo.add_actions(conn, actions)
    return len(decisions)


def _fingerprint(row) -> tuple:
    return tuple(getattr(row, c) for c in repo.FINGERPRINT)


# -- the queue -------------------------------------------------------------------------------
def _period(conn, name: str):
    row = periods_repo.get(conn, name)
    if row is None:
        raise NotFound(f"period {name} has no data")
    return row


def _filter(conn, period_id: int, sel: Selection) -> repo.ReviewFilter:
    if sel.status not in STATUSES:
        raise InvalidInput(f"status {sel.status!r}: expected one of {', '.join(STATUSES)}")
    source_id = None
    if sel.source:
        src = sources_repo.get(conn, sel.source)
        if src is None:
            raise NotFound(f"unknown source {sel.source!r}")
        source_id = src.id
    return repo.ReviewFilter(
        period_id, status=sel.status if sel.ids is None else "all", reason=sel.reason,
        source_id=source_id, pi_email=sel.pi_email, project_id=sel.project_id,
        fund_org=sel.fund_org, resource_id=sel.resource_id,
        min_amount=to_picos(money(sel.min_amount)) if sel.min_amount is not None else None,
        ids=tuple(sel.ids) if sel.ids is not None else None)


def list_queue(ctx: Context, period: str, sel: Selection = Selection(), *, after: str | None = None,
               limit: int = 50) -> Queue:
    name = Period.parse(period).name
    cursor = None
    if after:
        try:
            size, cid = after.split(":")
            cursor = (int(size), int(cid))
        except ValueError:
            raise InvalidInput(f"--after {after!r}: expected the value printed as next_after") from None
    with ctx.read() as conn:
        row = _period(conn, name)
        f = _filter(conn, row.id, sel)
        rules = current_rules(ctx, conn)
        rows = repo.queue(conn, f, after=cursor, limit=limit + 1)
        count, total = repo.stakes(conn, f)
    items = tuple(QueueItem(
        r.id, r.source, r.service_name, r.resource_id, r.pi_email, r.project_id, r.fund_org,
        r.billed_cost, r.billing_currency, tuple((r.flags or "").split(",")) if r.flags else (),
        tuple(describe(c, rules) for c in (r.flags or "").split(",") if c), r.review, r.review_note)
        for r in rows[:limit])
    nxt = f"{rows[limit - 1].size}:{rows[limit - 1].id}" if len(rows) > limit else None
    return Queue(name, sel.status, items, count, total, nxt)


def pending(ctx: Context, period: str) -> tuple[int, Decimal]:
    """(count, billed total) of the period's charges waiting for review."""
    with ctx.read() as conn:
        row = _period(conn, Period.parse(period).name)
        return repo.stakes(conn, repo.ReviewFilter(row.id, status="pending"))


# -- decisions -------------------------------------------------------------------------------
def _decide(ctx: Context, period: str, sel: Selection, review: str, note: str | None) -> ActionResult:
    name = Period.parse(period).name
    with ctx.write() as conn:
        row = _period(conn, name)
        ensure_writable(row.name, PeriodStatus(row.status))
        f = _filter(conn, row.id, sel)
        ids = repo.select_ids(conn, f)
        if sel.ids is not None and len(ids) != len(set(sel.ids)):
            missing = sorted(set(sel.ids) - set(ids))
            raise NotFound(f"charge(s) {', '.join(map(str, missing[:10]))} are not in period {name}")
        count, total = repo.stakes(conn, f)
        now = ctx.clock()
        before = repo.reviews_of(conn, ids)
        repo.set_review(conn, ids, review, note, ctx.actor, now)
        action = {"approved": "approve", "rejected": "reject"}[review]
        repo.add_actions(conn, [{"charge_id": i, "period_id": row.id, "action": action,
                                 "before": json.dumps({"review": before.get(i)}),
                                 "after": json.dumps({"review": review}), "note": note,
                                 "actor": ctx.actor, "at": now} for i in ids])
        rollups.invalidate(conn, row.id)
    return ActionResult(review, name, count, total)


def approve(ctx: Context, period: str, sel: Selection, note: str | None = None) -> ActionResult:
    return _decide(ctx, period, sel, "approved", note)


def reject(ctx: Context, period: str, sel: Selection, note: str) -> ActionResult:
    if not (note and note.strip()):
        raise InvalidInput("rejecting needs a note saying why (--note)")
    return _decide(ctx, period, sel, "rejected", note.strip())


def correct(ctx: Context, period: str, sel: Selection, *, pi_email: str | None = None,
            project_id: str | None = None, fund_org: str | None = None, note: str | None = None,
            save_rule: bool = False, tag: tuple[str, str] | None = None) -> ActionResult:
    """Set PI / project / fund of the selected charges (or of every charge of the period
    with ``tag`` key=value); with ``save_rule`` the correction also applies to every
    future import."""
    if not (pi_email or project_id or fund_org):
        raise InvalidInput("a correction needs at least one of --pi, --project, --fund")
    name = Period.parse(period).name
    with ctx.write() as conn:
        row = _period(conn, name)
        ensure_writable(row.name, PeriodStatus(row.status))
        f = _filter(conn, row.id, sel)
        ids = repo.select_ids(conn, f)
        facts = repo.facts(conn, ids)
        if tag is not None:
            key, value = tag[0].strip().lower(), tag[1]
            facts = [r for r in facts
                     if {str(k).strip().lower(): str(v) for k, v in (tags_dict(r.tags) or {}).items()}
                     .get(key) == value]
        if not facts:
            raise NotFound(f"no charge of period {name} matches")
        evaluator = Evaluator(current_rules(ctx, conn))
        registry = registry_svc.snapshot(conn)
        now = ctx.clock()
        updates, actions, total = [], [], Decimal(0)
        for r in facts:
            new = {"pi_email": pi_email or r.pi_email, "project_id": project_id or r.project_id,
                   "fund_org": fund_org or r.fund_org}
            codes = evaluator.facts_flags(ChargeFacts(
                new["pi_email"], new["project_id"], new["fund_org"], r.service_name, r.resource_id,
                r.resource_name, r.sku_id, r.charge_description, tags_dict(r.tags)))
            codes += evaluator.amount_flags(r.billed_cost)
            codes += registry.flags(new["project_id"], new["fund_org"], r.charge_period_start.date()) \
                if registry.active else []
            codes += [c for c in (r.flags or "").split(",") if c in _KEEP + ("growth",)]
            updates.append({"id": r.id, **new, "flags": join_flags(codes)})
            old = {"pi_email": r.pi_email, "project_id": r.project_id, "fund_org": r.fund_org}
            actions.append({"charge_id": r.id, "period_id": row.id, "action": "correct",
                            "before": json.dumps(old), "after": json.dumps(new), "note": note,
                            "actor": ctx.actor, "at": now})
            total += r.billed_cost
        repo.update_rows(conn, updates)
        repo.add_actions(conn, actions)
        rule_id = None
        if save_rule:
            if tag is not None:
                field, value = f"tag:{tag[0].strip().lower()}", tag[1]
            elif sel.resource_id:
                field, value = "resource_id", sel.resource_id
            else:
                resources = {r.resource_id for r in facts}
                if len(resources) != 1 or None in resources:
                    raise InvalidInput("--save-rule needs charges of one resource id (or --tag key=value)")
                field, value = "resource_id", resources.pop()
            rule_id = repo.add_attribution_rule(conn, {
                "match_field": field, "match_value": value, "pi_email": pi_email,
                "project_id": project_id, "fund_org": fund_org, "note": note,
                "created_by": ctx.actor, "created_at": now})
            audit.record_in(conn, ctx, "review.attribution_rule", f"{field}={value}",
                            json.dumps({"pi_email": pi_email, "project_id": project_id,
                                        "fund_org": fund_org}))
        rollups.invalidate(conn, row.id)
    return ActionResult("corrected", name, len(facts), total, rule_id)


@dataclass(frozen=True)
class Action:
    action: str
    before: dict | None
    after: dict | None
    note: str | None
    actor: str
    at: datetime


def history(ctx: Context, charge_id: int) -> tuple[Action, ...]:
    with ctx.read() as conn:
        return tuple(Action(a.action, json.loads(a.before) if a.before else None,
                            json.loads(a.after) if a.after else None, a.note, a.actor, a.at)
                     for a in repo.actions_for(conn, charge_id))


def close_gate(conn, period_row) -> tuple[int, Decimal]:
    """Pending charges that stop a period from closing."""
    return repo.stakes(conn, repo.ReviewFilter(period_row.id, status="pending"))

