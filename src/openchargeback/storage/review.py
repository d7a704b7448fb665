"""Review queries: the queue, decisions, corrections, rules and the action log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Connection,
    and_,
    bindparam,
    func,
    insert,
    literal_column,
    or_,
    select,
    type_coerce,
    update,
)

from openchargeback.storage.review_tables import attribution_rules, charge_actions, review_rules
from openchargeback.storage.sums import money_sum, read_sum
from openchargeback.storage.tables import charge_details, charges, sources, tag_sets

_CHUNK = 5_000

PENDING = and_(charges.c.review.is_(None), charges.c.flags.is_not(None))
REJECTED = charges.c.review == "rejected"
NOT_REJECTED = or_(charges.c.review.is_(None), charges.c.review != "rejected")
APPROVED = or_(charges.c.review == "approved", and_(charges.c.review.is_(None), charges.c.flags.is_(None)))
STATUS = {"pending": PENDING, "rejected": REJECTED, "approved": APPROVED,
          "flagged": charges.c.flags.is_not(None), "all": None}


@dataclass(frozen=True)
class ReviewFilter:
    period_id: int
    status: str = "pending"
    reason: str | None = None  # a flag code, e.g. missing_project or pattern:gpu
    source_id: int | None = None
    pi_email: str | None = None
    project_id: str | None = None
    fund_org: str | None = None
    resource_id: str | None = None
    min_amount: int | None = None  # picounits, compared with |billed|
    ids: tuple[int, ...] | None = None


def _where(f: ReviewFilter):
    conds = [charges.c.period_id == f.period_id]
    if STATUS.get(f.status) is not None:
        conds.append(STATUS[f.status])
    if f.reason:
        padded = "," + func.coalesce(charges.c.flags, "") + ","
        conds.append(padded.contains(f",{f.reason},", autoescape=True))
    for col, value in ((charges.c.source_id, f.source_id), (charges.c.pi_email, f.pi_email),
                       (charges.c.project_id, f.project_id), (charges.c.fund_org, f.fund_org),
                       (charges.c.resource_id, f.resource_id)):
        if value is not None:
            conds.append(col == value)
    if f.min_amount is not None:
        conds.append(func.abs(type_coerce(charges.c.billed_cost, BigInteger)) >= f.min_amount)
    if f.ids is not None:
        conds.append(charges.c.id.in_(f.ids))
    return and_(*conds)


def select_ids(conn: Connection, f: ReviewFilter) -> list[int]:
    return list(conn.execute(select(charges.c.id).where(_where(f)).order_by(charges.c.id)).scalars())


def _by_sign(f: ReviewFilter) -> bool:
    """Whether the pending-queue indexes (review_tables.py) answer this filter: pending
    charges, filtered at most on columns the indexes hold (source, flag code, amount)."""
    return (f.status == "pending" and f.ids is None and f.pi_email is None and f.project_id is None
            and f.fund_org is None and f.resource_id is None)


def _signs():
    """(condition, order) of the positive and the negative half of the queue; the
    conditions are literal so that the partial indexes apply."""
    raw = type_coerce(charges.c.billed_cost, BigInteger)
    zero = literal_column("0")
    return ((raw >= zero, raw.desc()), (raw < zero, raw.asc()))


def queue(conn: Connection, f: ReviewFilter, *, after: tuple[int, int] | None = None, limit: int = 50):
    """Charges by size of amount (largest first), then id; ``after`` = (|billed| picos, id)."""
    size = func.abs(type_coerce(charges.c.billed_cost, BigInteger))
    q = (select(charges.c.id, charges.c.billed_cost, charges.c.billing_currency, charges.c.pi_email,
                charges.c.project_id, charges.c.fund_org, charges.c.resource_id, charges.c.flags,
                charges.c.review, charges.c.review_note, charge_details.c.service_name,
                sources.c.name.label("source"), size.label("size"))
         .join(charge_details, charge_details.c.id == charges.c.detail_id)
         .join(sources, sources.c.id == charges.c.source_id)
         .order_by(size.desc(), charges.c.id).limit(limit))
    if _by_sign(f):
        # Each half read in order from its index, merged here; then the page's rows in full.
        raw = type_coerce(charges.c.billed_cost, BigInteger)
        keys = []
        for (cond, order), sign in zip(_signs(), (1, -1), strict=True):
            half = select(charges.c.id, raw.label("b")).where(_where(f), cond)
            if after is not None:
                edge = sign * after[0]
                beyond = raw < edge if sign > 0 else raw > edge
                half = half.where(or_(beyond, and_(raw == edge, charges.c.id > after[1])))
            keys += conn.execute(half.order_by(order, charges.c.id).limit(limit)).all()
        ids = [i for _, i in sorted((-abs(b), i) for i, b in keys)[:limit]]
        return conn.execute(q.where(charges.c.id.in_(ids))).all() if ids else []
    q = q.where(_where(f))
    if after is not None:
        q = q.where(or_(size < after[0], and_(size == after[0], charges.c.id > after[1])))
    return conn.execute(q).all()


def stakes(conn: Connection, f: ReviewFilter):
    """(count, billed total) of the charges matching the filter."""
    dialect = conn.dialect.name
    halves = [cond for cond, _ in _signs()] if _by_sign(f) else [None]
    n, total = 0, None
    for cond in halves:  # pending charges: each sign summed from its index alone
        stmt = (select(func.count().label("n"), *money_sum(dialect, charges.c.billed_cost, "b"))
                .where(_where(f)))
        row = conn.execute(stmt.where(cond) if cond is not None else stmt).one()
        n += row.n
        part = read_sum(dialect, row, "b")
        total = part if total is None else total + part
    return n, total


def facts(conn: Connection, ids: list[int]) -> list:
    """What the rules need to re-evaluate these charges."""
    out = []
    for i in range(0, len(ids), _CHUNK):
        out += conn.execute(_facts_query().where(charges.c.id.in_(ids[i:i + _CHUNK]))).all()
    return out


def _facts_query():
    return (select(charges.c.id, charges.c.period_id, charges.c.pi_email, charges.c.project_id,
                   charges.c.fund_org, charges.c.resource_id, charges.c.resource_name,
                   charges.c.charge_period_start,
                   charges.c.billed_cost, charges.c.flags, charges.c.review, charges.c.review_note,
                   charges.c.detail_id, charges.c.tag_set_id,
                   charge_details.c.service_name, charge_details.c.sku_id,
                   charge_details.c.charge_description, tag_sets.c.tags)
            .join(charge_details, charge_details.c.id == charges.c.detail_id)
            .outerjoin(tag_sets, tag_sets.c.id == charges.c.tag_set_id))


def unreviewed(conn: Connection, period_id: int, batch: int = 20_000) -> Iterator[list]:
    """Facts of a period's charges without a decision, ``batch`` at a time by id."""
    last = 0
    while True:
        rows = conn.execute(_facts_query().where(charges.c.period_id == period_id,
                                                 charges.c.review.is_(None), charges.c.id > last)
                            .order_by(charges.c.id).limit(batch)).all()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def set_review(conn: Connection, ids: list[int], review: str | None, note: str | None,
               actor: str, now: datetime) -> None:
    for i in range(0, len(ids), _CHUNK):
        conn.execute(update(charges).where(charges.c.id.in_(ids[i:i + _CHUNK])).values(
            review=review, review_note=note, reviewed_by=actor, reviewed_at=now))


def update_rows(conn: Connection, rows: list[dict]) -> None:
    """Per-charge updates: each dict has ``id`` and the columns to set (same keys in all)."""
    if not rows:
        return
    keys = [k for k in rows[0] if k != "id"]
    stmt = (update(charges).where(charges.c.id == bindparam("_id"))
            .values({k: bindparam(f"_{k}") for k in keys}))
    conn.execute(stmt, [{"_id": r["id"], **{f"_{k}": r[k] for k in keys}} for r in rows])


def add_actions(conn: Connection, rows: list[dict]) -> None:
    for i in range(0, len(rows), _CHUNK):
        conn.execute(insert(charge_actions), rows[i:i + _CHUNK])


def actions_for(conn: Connection, charge_id: int):
    return conn.execute(select(charge_actions).where(charge_actions.c.charge_id == charge_id)
                        .order_by(charge_actions.c.id)).all()


def reviews_of(conn: Connection, ids: list[int]) -> dict[int, str | None]:
    """charge id -> its current decision (None: none yet)."""
    out: dict[int, str | None] = {}
    for i in range(0, len(ids), _CHUNK):
        out.update(conn.execute(select(charges.c.id, charges.c.review)
                                .where(charges.c.id.in_(ids[i:i + _CHUNK]))).all())
    return out


def corrected_ids(conn: Connection, ids: list[int]) -> set[int]:
    """The charges among ``ids`` whose attribution a reviewer corrected."""
    out: set[int] = set()
    for i in range(0, len(ids), _CHUNK):
        out.update(conn.execute(select(charge_actions.c.charge_id).where(
            charge_actions.c.charge_id.in_(ids[i:i + _CHUNK]),
            charge_actions.c.action == "correct")).scalars())
    return out


def move_actions(conn: Connection, moves: list[tuple[int, int]]) -> None:
    """Re-point the history of replaced charges to the rows that replace them."""
    for old, new in moves:
        conn.execute(update(charge_actions).where(charge_actions.c.charge_id == old)
                     .values(charge_id=new))


# -- rules -------------------------------------------------------------------------------------
def load_rules(conn: Connection) -> dict | None:
    row = conn.execute(select(review_rules).order_by(review_rules.c.id.desc()).limit(1)).first()
    return json.loads(row.rules) if row else None


def save_rules(conn: Connection, rules: dict, actor: str, now: datetime) -> None:
    text = json.dumps(rules, sort_keys=True)
    if conn.execute(select(func.count()).select_from(review_rules)).scalar_one():
        conn.execute(update(review_rules).values(rules=text, updated_by=actor, updated_at=now))
    else:
        conn.execute(insert(review_rules).values(rules=text, updated_by=actor, updated_at=now))


def active_attribution_rules(conn: Connection):
    return conn.execute(select(attribution_rules).where(attribution_rules.c.active.is_(True))
                        .order_by(attribution_rules.c.id)).all()


def add_attribution_rule(conn: Connection, values: dict) -> int:
    return conn.execute(insert(attribution_rules).values(active=True, **values)).inserted_primary_key[0]


# -- amounts -------------------------------------------------------------------------------------
def project_totals(conn: Connection, period_id: int) -> dict:
    """project -> billed total of its charges that are not rejected."""
    dialect = conn.dialect.name
    rows = conn.execute(select(charges.c.project_id, *money_sum(dialect, charges.c.billed_cost, "b"))
                        .where(charges.c.period_id == period_id, NOT_REJECTED,
                               charges.c.project_id.is_not(None))
                        .group_by(charges.c.project_id)).all()
    return {r.project_id: read_sum(dialect, r, "b") for r in rows}


# -- carrying decisions across a --replace ------------------------------------------------------
FINGERPRINT = ("detail_id", "tag_set_id", "charge_period_start", "charge_period_end",
               "billed_cost", "effective_cost", "list_cost", "contracted_cost",
               "pricing_quantity", "consumed_quantity", "list_unit_price",
               "contracted_unit_price", "resource_id", "resource_name", "extra")


def decided_rows(conn: Connection, source_id: int, period_ids: list[int], except_import: int):
    """Earlier rows of the source in these periods that carry a human decision or correction."""
    touched = select(charge_actions.c.charge_id).where(charge_actions.c.period_id.in_(period_ids))
    cols = [charges.c.id, charges.c.period_id, charges.c.import_id, charges.c.line, charges.c.review,
            charges.c.review_note,
            charges.c.reviewed_by, charges.c.reviewed_at, charges.c.pi_email, charges.c.project_id,
            charges.c.fund_org, charges.c.flags] + [charges.c[c] for c in FINGERPRINT]
    return conn.execute(select(*cols).where(
        charges.c.period_id.in_(period_ids), charges.c.source_id == source_id,
        charges.c.import_id != except_import, charges.c.id.in_(touched))
        .order_by(charges.c.import_id, charges.c.line)).all()


def candidate_rows(conn: Connection, source_id: int, period_ids: list[int], import_id: int,
                   detail_ids: set[int]):
    cols = [charges.c.id, charges.c.period_id, charges.c.line, charges.c.flags] + [
        charges.c[c] for c in FINGERPRINT]
    out = []
    ids = sorted(detail_ids)
    for i in range(0, len(ids), _CHUNK):
        out += conn.execute(select(*cols).where(
            charges.c.period_id.in_(period_ids), charges.c.source_id == source_id,
            charges.c.import_id == import_id, charges.c.detail_id.in_(ids[i:i + _CHUNK]))
            .order_by(charges.c.line)).all()
    return out
