"""Review queries: the review states, decisions, corrections, rules and the action log.
(The queue itself is the one charges query, :mod:`openchargeback.storage.charges`.)"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    Select,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)

from openchargeback.storage.charges import NOT_REJECTED
from openchargeback.storage.portal_tables import charge_disputes
from openchargeback.storage.review_tables import attribution_rules, charge_actions, review_rules
from openchargeback.storage.sums import money_sum, read_sum
from openchargeback.storage.tables import charge_details, charges, tag_sets

_CHUNK = 5_000


def facts(conn: Connection, ids: list[int]) -> list[Row[Any]]:
    """What the rules need to re-evaluate these charges."""
    out: list[Row[Any]] = []
    for i in range(0, len(ids), _CHUNK):
        out += conn.execute(_facts_query().where(charges.c.id.in_(ids[i : i + _CHUNK]))).all()
    return out


def _facts_query() -> Select[Any]:
    return (
        select(
            charges.c.id,
            charges.c.period_id,
            charges.c.pi_email,
            charges.c.project_id,
            charges.c.fund_org,
            charges.c.resource_id,
            charges.c.resource_name,
            charges.c.charge_period_start,
            charges.c.billed_cost,
            charges.c.flags,
            charges.c.review,
            charges.c.review_note,
            charges.c.detail_id,
            charges.c.tag_set_id,
            charge_details.c.service_name,
            charge_details.c.sku_id,
            charge_details.c.charge_description,
            tag_sets.c.tags,
        )
        .join(charge_details, charge_details.c.id == charges.c.detail_id)
        .outerjoin(tag_sets, tag_sets.c.id == charges.c.tag_set_id)
    )


def unreviewed(conn: Connection, period_id: int, batch: int = 20_000) -> Iterator[list[Row[Any]]]:
    """Facts of a period's charges without a decision, ``batch`` at a time by id."""
    last = 0
    while True:
        rows = conn.execute(
            _facts_query()
            .where(charges.c.period_id == period_id, charges.c.review.is_(None), charges.c.id > last)
            .order_by(charges.c.id)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield list(rows)
        last = rows[-1].id


def set_review(
    conn: Connection, ids: list[int], review: str | None, note: str | None, actor: str, now: datetime
) -> None:
    for i in range(0, len(ids), _CHUNK):
        conn.execute(
            update(charges)
            .where(charges.c.id.in_(ids[i : i + _CHUNK]))
            .values(review=review, review_note=note, reviewed_by=actor, reviewed_at=now)
        )


def update_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Per-charge updates: each dict has ``id`` and the columns to set (same keys in all)."""
    if not rows:
        return
    keys = [k for k in rows[0] if k != "id"]
    stmt = (
        update(charges).where(charges.c.id == bindparam("_id")).values({k: bindparam(f"_{k}") for k in keys})
    )
    conn.execute(stmt, [{"_id": r["id"], **{f"_{k}": r[k] for k in keys}} for r in rows])


def add_actions(conn: Connection, rows: list[dict[str, Any]]) -> None:
    for i in range(0, len(rows), _CHUNK):
        conn.execute(insert(charge_actions), rows[i : i + _CHUNK])


def actions_for(conn: Connection, charge_id: int) -> Sequence[Row[Any]]:
    return conn.execute(
        select(charge_actions).where(charge_actions.c.charge_id == charge_id).order_by(charge_actions.c.id)
    ).all()


def reviews_of(conn: Connection, ids: list[int]) -> dict[int, str | None]:
    """charge id -> its current decision (None: none yet)."""
    out: dict[int, str | None] = {}
    for i in range(0, len(ids), _CHUNK):
        out.update(
            conn.execute(
                select(charges.c.id, charges.c.review).where(charges.c.id.in_(ids[i : i + _CHUNK]))
            ).all()
        )
    return out


def corrected_ids(conn: Connection, ids: list[int]) -> set[int]:
    """The charges among ``ids`` whose attribution a reviewer corrected."""
    out: set[int] = set()
    for i in range(0, len(ids), _CHUNK):
        out.update(
            conn.execute(
                select(charge_actions.c.charge_id).where(
                    charge_actions.c.charge_id.in_(ids[i : i + _CHUNK]), charge_actions.c.action == "correct"
                )
            ).scalars()
        )
    return out


def move_actions(conn: Connection, moves: list[tuple[int, int]]) -> None:
    """Re-point the history of replaced charges to the rows that replace them."""
    for old, new in moves:
        conn.execute(update(charge_actions).where(charge_actions.c.charge_id == old).values(charge_id=new))


# -- rules -------------------------------------------------------------------------------------
def load_rules(conn: Connection) -> dict[str, Any] | None:
    row = conn.execute(select(review_rules).order_by(review_rules.c.id.desc()).limit(1)).first()
    return json.loads(row.rules) if row else None


def save_rules(conn: Connection, rules: dict[str, Any], actor: str, now: datetime) -> None:
    text = json.dumps(rules, sort_keys=True)
    if conn.execute(select(func.count()).select_from(review_rules)).scalar_one():
        conn.execute(update(review_rules).values(rules=text, updated_by=actor, updated_at=now))
    else:
        conn.execute(insert(review_rules).values(rules=text, updated_by=actor, updated_at=now))


def active_attribution_rules(conn: Connection) -> Sequence[Row[Any]]:
    return conn.execute(
        select(attribution_rules).where(attribution_rules.c.active.is_(True)).order_by(attribution_rules.c.id)
    ).all()


def add_attribution_rule(conn: Connection, values: dict[str, Any]) -> int:
    key = conn.execute(insert(attribution_rules).values(active=True, **values)).inserted_primary_key
    assert key is not None
    return int(key[0])


# -- amounts -------------------------------------------------------------------------------------
def project_totals(conn: Connection, period_id: int) -> dict[str, Decimal]:
    """project -> billed total of its charges that are not rejected."""
    dialect = conn.dialect.name
    rows = conn.execute(
        select(charges.c.project_id, *money_sum(dialect, charges.c.billed_cost, "b"))
        .where(charges.c.period_id == period_id, NOT_REJECTED, charges.c.project_id.is_not(None))
        .group_by(charges.c.project_id)
    ).all()
    return {r.project_id: read_sum(dialect, r, "b") for r in rows}


# -- carrying decisions across a --replace ------------------------------------------------------
FINGERPRINT = (
    "detail_id",
    "tag_set_id",
    "charge_period_start",
    "charge_period_end",
    "billed_cost",
    "effective_cost",
    "list_cost",
    "contracted_cost",
    "pricing_quantity",
    "consumed_quantity",
    "list_unit_price",
    "contracted_unit_price",
    "resource_id",
    "resource_name",
    "extra",
)


def decided_rows(
    conn: Connection, source_id: int, period_ids: list[int], except_import: int
) -> Sequence[Row[Any]]:
    """Earlier rows of the source in these periods that carry a human decision or correction
    (``decided``) or a PI's dispute (``disputed``), or both."""
    touched = select(charge_actions.c.charge_id).where(charge_actions.c.period_id.in_(period_ids))
    disputed = select(charge_disputes.c.charge_id)  # few: every dispute ever raised
    cols = [
        charges.c.id,
        charges.c.id.in_(touched).label("decided"),
        charges.c.id.in_(disputed).label("disputed"),
        charges.c.period_id,
        charges.c.import_id,
        charges.c.line,
        charges.c.review,
        charges.c.review_note,
        charges.c.reviewed_by,
        charges.c.reviewed_at,
        charges.c.pi_email,
        charges.c.project_id,
        charges.c.fund_org,
        charges.c.flags,
    ] + [charges.c[c] for c in FINGERPRINT]
    return conn.execute(
        select(*cols)
        .where(
            charges.c.period_id.in_(period_ids),
            charges.c.source_id == source_id,
            charges.c.import_id != except_import,
            or_(charges.c.id.in_(touched), charges.c.id.in_(disputed)),
        )
        .order_by(charges.c.import_id, charges.c.line)
    ).all()


def candidate_rows(
    conn: Connection, source_id: int, period_ids: list[int], import_id: int, detail_ids: set[int]
) -> list[Row[Any]]:
    cols = [charges.c.id, charges.c.period_id, charges.c.line, charges.c.flags] + [
        charges.c[c] for c in FINGERPRINT
    ]
    out: list[Row[Any]] = []
    ids = sorted(detail_ids)
    for i in range(0, len(ids), _CHUNK):
        out += conn.execute(
            select(*cols)
            .where(
                charges.c.period_id.in_(period_ids),
                charges.c.source_id == source_id,
                charges.c.import_id == import_id,
                charges.c.detail_id.in_(ids[i : i + _CHUNK]),
            )
            .order_by(charges.c.line)
        ).all()
    return out
