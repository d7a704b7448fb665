"""The review rules: the ones in force, replacing them, previewing proposed rules on a
period, re-checking a period's undecided charges against them, and the growth rule
applied after an import."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import astuple, dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from openchargeback.domain.charges import tags_dict
from openchargeback.domain.errors import NotFound
from openchargeback.domain.jsonable import Jsonable
from openchargeback.domain.periods import Period, PeriodStatus, ensure_writable
from openchargeback.domain.review import ChargeFacts, Evaluator, ReviewRules, describe, join_flags
from openchargeback.services import audit, lookup
from openchargeback.services.context import Context
from openchargeback.services.registry import records as registry_svc
from openchargeback.services.review.patterns import check, compile_pattern
from openchargeback.services.review.selection import ActionResult
from openchargeback.storage import charges as charges_repo
from openchargeback.storage import periods as periods_repo
from openchargeback.storage import review as repo
from openchargeback.storage import rollups

KEPT_FLAGS = ("period_mismatch",)  # set at import; a re-check cannot recompute it


def current_rules(ctx: Context, conn: Connection | None = None) -> ReviewRules:
    def load(c: Connection) -> ReviewRules:
        data = repo.load_rules(c)
        if data is None:
            data = json.loads(ctx.settings.review.model_dump_json())
        return ReviewRules.from_dict(data)

    if conn is not None:
        return load(conn)
    with ctx.read() as c:
        return load(c)


def set_rules(ctx: Context, data: dict[str, Any]) -> ReviewRules:
    rules = check(ReviewRules.from_dict(data))
    with ctx.write() as conn:
        before = current_rules(ctx, conn)
        repo.save_rules(conn, rules.as_dict(), ctx.actor, ctx.clock())
        audit.record_in(
            conn,
            ctx,
            "review.rules",
            "review rules",
            json.dumps({"before": before.as_dict(), "after": rules.as_dict()}),
        )
    return rules


@dataclass(frozen=True)
class ReasonCount(Jsonable):
    flag: str
    reason: str  # the flag in words
    count: int

    def __iter__(self) -> Iterator[Any]:  # reads as (flag, reason, count)
        return iter(astuple(self))


@dataclass(frozen=True)
class Example(Jsonable):
    id: int
    before: str | None  # flags
    after: str | None

    def __iter__(self) -> Iterator[Any]:  # reads as (id, before, after)
        return iter(astuple(self))


@dataclass(frozen=True)
class Preview(Jsonable):
    period: str
    charges: int
    flagged: int
    newly_flagged: int
    cleared: int
    by_reason: tuple[ReasonCount, ...]
    examples: tuple[Example, ...]


def preview_rules(ctx: Context, period: str, data: dict[str, Any], *, examples: int = 50) -> Preview:
    """What the proposed rules would flag among every charge of the period; saves nothing."""
    rules = check(ReviewRules.from_dict(data))
    name = Period.parse(period).name
    with ctx.read() as conn:
        row = lookup.period(conn, name)
        changes: list[Example] = []
        counts: dict[str, int] = {}
        total = flagged = 0
        evaluator = Evaluator(rules, compile_pattern)
        for before, after, cid in reevaluate(conn, row.id, evaluator, everything=True):
            total += 1
            if after:
                flagged += 1
                for code in after.split(","):
                    counts[code] = counts.get(code, 0) + 1
            if before != after:
                changes.append(Example(cid, before, after))
    newly = sum(1 for c in changes if c.after and not c.before)
    cleared = sum(1 for c in changes if c.before and not c.after)
    return Preview(
        name,
        total,
        flagged,
        newly,
        cleared,
        tuple(
            sorted((ReasonCount(c, describe(c, rules), n) for c, n in counts.items()), key=lambda x: -x.count)
        ),
        tuple(changes[:examples]),
    )


def _registry_flags(registry: Any, r: Any) -> list[str]:
    """Unknown project or fund, or a fund not valid on the charge's start date."""
    if not registry.active:
        return []
    flags: list[str] = registry.flags(r.project_id, r.fund_org, r.charge_period_start.date())
    return flags


def reevaluate(
    conn: Connection, period_id: int, evaluator: Evaluator, *, everything: bool = False
) -> Iterator[tuple[str | None, str | None, int]]:
    """(stored flags, flags the rules give now, id) for the period's undecided charges
    (every charge with ``everything``)."""
    grew = grown_projects(conn, period_id, evaluator)
    registry = registry_svc.snapshot(conn)
    cache: dict[tuple[Any, ...], list[str]] = {}
    batches = repo.unreviewed(conn, period_id) if not everything else _all_rows(conn, period_id)
    for rows in batches:
        for r in rows:
            key = (
                r.detail_id,
                r.tag_set_id,
                r.pi_email,
                r.project_id,
                r.fund_org,
                r.resource_id,
                r.resource_name,
            )
            base = cache.get(key)
            if base is None:
                base = evaluator.facts_flags(
                    ChargeFacts(
                        r.pi_email,
                        r.project_id,
                        r.fund_org,
                        r.service_name,
                        r.resource_id,
                        r.resource_name,
                        r.sku_id,
                        r.charge_description,
                        tags_dict(r.tags),
                    )
                )
                if len(cache) > 50_000:
                    cache.clear()
                cache[key] = base
            codes = base + evaluator.amount_flags(r.billed_cost) + _registry_flags(registry, r)
            codes += [c for c in (r.flags or "").split(",") if c in KEPT_FLAGS]
            if r.project_id in grew:
                codes.append("growth")
            yield r.flags, join_flags(codes), r.id


def _all_rows(conn: Connection, period_id: int) -> Iterator[list[Any]]:
    ids = charges_repo.select_ids(conn, charges_repo.ChargeFilter(period_id, status="all"))
    for i in range(0, len(ids), 20_000):
        yield repo.facts(conn, ids[i : i + 20_000])


def grown_projects(conn: Connection, period_id: int, evaluator: Evaluator) -> set[str]:
    """The projects whose total grew past the growth rule since the previous period."""
    r = evaluator.rules
    if r.growth_percent is None and r.growth_amount is None:
        return set()
    row = periods_repo.get_by_id(conn, period_id)
    if row is None:
        raise NotFound(f"period #{period_id} does not exist")
    name = row.name
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
        row = lookup.period(conn, name)
        ensure_writable(row.name, PeriodStatus(row.status))
        evaluator = Evaluator(current_rules(ctx, conn), compile_pattern)
        updates = [
            {"id": cid, "flags": after}
            for before, after, cid in reevaluate(conn, row.id, evaluator)
            if before != after
        ]
        repo.update_rows(conn, updates)
        rollups.invalidate(conn, row.id)
        audit.record_in(conn, ctx, "review.recheck", name, f"{len(updates)} charge(s) changed")
        _, total = charges_repo.stakes(conn, charges_repo.ChargeFilter(row.id, status="pending"))
    return ActionResult("recheck", name, len(updates), total)


def apply_growth_rule(ctx: Context, conn: Connection, period_id: int) -> int:
    """After an import: flag the undecided charges of projects that grew too much."""
    evaluator = Evaluator(current_rules(ctx, conn), compile_pattern)
    grew = grown_projects(conn, period_id, evaluator)
    if not grew:
        return 0
    updates = []
    for rows in repo.unreviewed(conn, period_id):
        for r in rows:
            if r.project_id in grew and "growth" not in (r.flags or "").split(","):
                updates.append(
                    {
                        "id": r.id,
                        "flags": join_flags((r.flags or "").split(",") + ["growth"]) if r.flags else "growth",
                    }
                )
    repo.update_rows(conn, updates)
    return len(updates)
