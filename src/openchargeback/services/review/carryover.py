"""Keeping review decisions, corrections and PIs' disputes across a ``--replace`` re-import.

A dispute follows its charge to the new row with the same fingerprint (reason, decision
and reply kept). A dispute whose charge the new file no longer holds is kept, and its
remedy says the charge was withdrawn; an open one is closed as ``withdrawn`` with a
system reply: the charge is no longer billed (a replace needs an open period), so there
is nothing left for a reviewer to uphold or correct, and the PI can dispute the new file's
rows themselves."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection

from openchargeback.services import audit
from openchargeback.services.context import Context
from openchargeback.storage import portal as disputes_repo
from openchargeback.storage import review as repo


def carry_over(
    *, ctx: Context, conn: Connection, source_id: int, period_ids: list[int], import_id: int
) -> int:
    """Before a --replace removes earlier rows: give each decided, corrected or disputed
    earlier charge's decision and disputes to the new row with the same fingerprint
    (identical rows pair up in line order). Returns how many decisions were carried over."""
    old = repo.decided_rows(conn, source_id, period_ids, import_id)
    if not old:
        return 0
    pool: dict[tuple[Any, ...], list[Any]] = {}
    for r in repo.candidate_rows(conn, source_id, period_ids, import_id, {r.detail_id for r in old}):
        pool.setdefault(_fingerprint(r), []).append(r)
    corrected = repo.corrected_ids(conn, [r.id for r in old])
    decisions, corrections, moves, actions, withdrawn = [], [], [], [], []
    now = ctx.clock()
    for r in old:
        bucket = pool.get(_fingerprint(r))
        if not bucket:
            if r.disputed:
                withdrawn.append(r.id)
            continue
        new = bucket.pop(0)
        moves.append((r.id, new.id))
        if not r.decided:  # only disputed: its dispute moves, with a line in its history
            actions.append(_action(ctx, r, new, now, "dispute kept across a --replace re-import"))
            continue
        decisions.append(
            {
                "id": new.id,
                "review": r.review,
                "review_note": r.review_note,
                "reviewed_by": r.reviewed_by,
                "reviewed_at": r.reviewed_at,
            }
        )
        if r.id in corrected:  # only a correction overrides what today's mapping and rules say
            corrections.append(
                {
                    "id": new.id,
                    "pi_email": r.pi_email,
                    "project_id": r.project_id,
                    "fund_org": r.fund_org,
                    "flags": r.flags,
                }
            )
        actions.append(_action(ctx, r, new, now, "decision kept across a --replace re-import"))
    repo.update_rows(conn, decisions)
    repo.update_rows(conn, corrections)
    repo.move_actions(conn, moves)
    repo.add_actions(conn, actions)
    for did, was, now_id in disputes_repo.move_disputes(conn, moves):
        what = f"dispute #{did} moved from charge #{was} (replaced by import #{import_id})"
        audit.record_in(conn, ctx, "dispute.carry_over", f"charge #{now_id}", what)
    _withdraw(ctx, conn, withdrawn, import_id)
    return len(decisions)


def _withdraw(ctx: Context, conn: Connection, charge_ids: list[int], import_id: int) -> None:
    reply = (
        f"The charge was withdrawn: a corrected export (import #{import_id}) replaced the one it "
        "came from and no longer holds it, so it is not billed. If a charge of the corrected "
        "export is still wrong, dispute that charge."
    )
    for r in disputes_repo.withdraw_disputes(
        conn, charge_ids, import_id=import_id, reply=reply, by="system", now=ctx.clock()
    ):
        state = "closed as withdrawn" if r.open else f"kept {r.decision}"
        audit.record_in(
            conn,
            ctx,
            "dispute.withdrawn",
            f"charge #{r.charge_id}",
            f"dispute #{r.id} {state} by import #{import_id}",
        )


def _action(ctx: Context, r: Any, new: Any, now: Any, note: str) -> dict[str, Any]:
    return {
        "charge_id": new.id,
        "period_id": new.period_id,
        "action": "carry_over",
        "before": json.dumps({"charge_id": r.id, "import_id": r.import_id, "line": r.line}),
        "after": json.dumps(
            {"review": r.review, "pi_email": r.pi_email, "project_id": r.project_id, "fund_org": r.fund_org}
        ),
        "note": note,
        "actor": ctx.actor,
        "at": now,
    }


def _fingerprint(row: Any) -> tuple[Any, ...]:
    return tuple(getattr(row, c) for c in repo.FINGERPRINT)
