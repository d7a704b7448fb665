"""Keeping review decisions and corrections across a ``--replace`` re-import."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection

from openchargeback.services.context import Context
from openchargeback.storage import review as repo


def carry_over(
    *, ctx: Context, conn: Connection, source_id: int, period_ids: list[int], import_id: int
) -> int:
    """Before a --replace removes earlier rows: give each decided or corrected earlier
    charge's decision to the new row with the same fingerprint (identical rows pair up
    in line order). Returns how many were carried over."""
    old = repo.decided_rows(conn, source_id, period_ids, import_id)
    if not old:
        return 0
    pool: dict[tuple[Any, ...], list[Any]] = {}
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
        moves.append((r.id, new.id))
        actions.append(
            {
                "charge_id": new.id,
                "period_id": new.period_id,
                "action": "carry_over",
                "before": json.dumps({"charge_id": r.id, "import_id": r.import_id, "line": r.line}),
                "after": json.dumps(
                    {
                        "review": r.review,
                        "pi_email": r.pi_email,
                        "project_id": r.project_id,
                        "fund_org": r.fund_org,
                    }
                ),
                "note": "decision kept across a --replace re-import",
                "actor": ctx.actor,
                "at": now,
            }
        )
    repo.update_rows(conn, decisions)
    repo.update_rows(conn, corrections)
    repo.move_actions(conn, moves)
    repo.add_actions(conn, actions)
    return len(decisions)


def _fingerprint(row: Any) -> tuple[Any, ...]:
    return tuple(getattr(row, c) for c in repo.FINGERPRINT)
