"""Decisions on charges: approve, reject (with a note), and a charge's history of actions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from openchargeback.domain.errors import InvalidInput, NotFound
from openchargeback.domain.periods import Period, PeriodStatus, ensure_writable
from openchargeback.services import lookup
from openchargeback.services.context import Context
from openchargeback.services.review.selection import ActionResult, Selection, charge_filter
from openchargeback.storage import charges as charges_repo
from openchargeback.storage import review as repo
from openchargeback.storage import rollups


def _decide(ctx: Context, period: str, sel: Selection, review: str, note: str | None) -> ActionResult:
    name = Period.parse(period).name
    with ctx.write() as conn:
        return decide_in(conn, ctx, lookup.period(conn, name), sel, review, note)


def decide_in(
    conn: Connection, ctx: Context, row: Any, sel: Selection, review: str, note: str | None
) -> ActionResult:
    """Approve or reject the selected charges of period ``row`` in the caller's transaction."""
    ensure_writable(row.name, PeriodStatus(row.status))
    f = charge_filter(conn, row.id, sel)
    ids = charges_repo.select_ids(conn, f)
    if sel.ids is not None and len(ids) != len(set(sel.ids)):
        missing = sorted(set(sel.ids) - set(ids))
        raise NotFound(f"charge(s) {', '.join(map(str, missing[:10]))} are not in period {row.name}")
    count, total = charges_repo.stakes(conn, f)
    now = ctx.clock()
    before = repo.reviews_of(conn, ids)
    repo.set_review(conn, ids, review, note, ctx.actor, now)
    action = {"approved": "approve", "rejected": "reject"}[review]
    repo.add_actions(
        conn,
        [
            {
                "charge_id": i,
                "period_id": row.id,
                "action": action,
                "before": json.dumps({"review": before.get(i)}),
                "after": json.dumps({"review": review}),
                "note": note,
                "actor": ctx.actor,
                "at": now,
            }
            for i in ids
        ],
    )
    rollups.invalidate(conn, row.id)
    return ActionResult(review, row.name, count, total)


def approve(ctx: Context, period: str, sel: Selection, note: str | None = None) -> ActionResult:
    return _decide(ctx, period, sel, "approved", note)


def reject(ctx: Context, period: str, sel: Selection, note: str) -> ActionResult:
    if not (note and note.strip()):
        raise InvalidInput(
            "rejecting needs a note saying why (--note)", web="rejecting needs a note saying why"
        )
    return _decide(ctx, period, sel, "rejected", note.strip())


@dataclass(frozen=True)
class Action:
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    note: str | None
    actor: str
    at: datetime


def history(ctx: Context, charge_id: int) -> tuple[Action, ...]:
    with ctx.read() as conn:
        return tuple(
            Action(
                a.action,
                json.loads(a.before) if a.before else None,
                json.loads(a.after) if a.after else None,
                a.note,
                a.actor,
                a.at,
            )
            for a in repo.actions_for(conn, charge_id)
        )
