"""The per-period charge rollup: sums of the four costs by source, currency, PI,
project, fund/org, service and flagged, so that dashboards and lists answer from a
few thousand rows instead of millions.

A period's rollup is rebuilt when its *fingerprint* changes: a hash of the imports
that touch the period (id, status, replacing import, row count), of the review actions
recorded for it (count and last id: approvals, rejections, corrections) and of the
review rules in force (a rule change re-flags charges). Code that changes charges in
any other way must call :func:`invalidate` in the same transaction.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Connection,
    delete,
    func,
    insert,
    literal,
    select,
    type_coerce,
)

from openchargeback.storage.auth_tables import charge_rollups, rollup_state
from openchargeback.storage.review_tables import charge_actions, review_rules
from openchargeback.storage.tables import charge_details, charges, imports, periods

SPLIT = 10**6
COSTS = {
    "billed": "billed_cost",
    "effective": "effective_cost",
    "list": "list_cost",
    "contracted": "contracted_cost",
}
DIMENSIONS = ("source_id", "billing_currency", "pi_email", "project_id", "fund_org")


def fingerprints(conn: Connection) -> dict[int, str]:
    """period id -> fingerprint of the imports that touch it."""
    names = dict(conn.execute(select(periods.c.name, periods.c.id)).all())
    parts: dict[int, list[str]] = {pid: [] for pid in names.values()}
    for r in conn.execute(
        select(
            imports.c.id, imports.c.periods, imports.c.status, imports.c.replaced_by_id, imports.c.row_count
        ).order_by(imports.c.id)
    ):
        for name in filter(None, (r.periods or "").split(",")):
            if name in names:
                parts[names[name]].append(f"{r.id}:{r.status}:{r.replaced_by_id}:{r.row_count}")
    for pid, n, last in conn.execute(
        select(charge_actions.c.period_id, func.count(), func.max(charge_actions.c.id)).group_by(
            charge_actions.c.period_id
        )
    ):
        if pid in parts:
            parts[pid].append(f"actions:{n}:{last}")
    rules = conn.execute(select(func.max(review_rules.c.id), func.max(review_rules.c.updated_at))).one()
    common = f"rules:{rules[0]}:{rules[1]}"
    return {pid: hashlib.sha256(";".join([common, *p]).encode()).hexdigest() for pid, p in parts.items()}


def stale(conn: Connection, period_ids: list[int] | None = None) -> dict[int, str]:
    """Periods whose rollup is missing or out of date -> their current fingerprint."""
    current = fingerprints(conn)
    built = dict(conn.execute(select(rollup_state.c.period_id, rollup_state.c.fingerprint)).all())
    wanted = current if period_ids is None else {p: current[p] for p in period_ids if p in current}
    return {p: f for p, f in wanted.items() if built.get(p) != f}


ROLLUP_LOCK = 0x0C8_0001  # the namespace of the rollup's advisory locks (period id: the key)


def lock(conn: Connection, period_ids: list[int]) -> None:
    """Hold these periods' rollup for a rebuild until the transaction ends (ids in order:
    no deadlock). On PostgreSQL many readers may find a period stale at once; each would
    rebuild it and all but one then fail on rollup_state's key. The others wait here and
    then find it fresh. A SQLite write transaction is the only one already."""
    if conn.dialect.name == "postgresql":
        for pid in period_ids:
            conn.execute(select(func.pg_advisory_xact_lock(ROLLUP_LOCK, pid)))


def rebuild(conn: Connection, period_id: int, fingerprint: str, now: datetime) -> None:
    conn.execute(delete(charge_rollups).where(charge_rollups.c.period_id == period_id))
    conn.execute(delete(rollup_state).where(rollup_state.c.period_id == period_id))
    flagged = charges.c.flags.is_not(None)
    review = charges.c.review
    cols = [
        charges.c.period_id,
        *(charges.c[d] for d in DIMENSIONS),
        charge_details.c.service_name,
        flagged.label("flagged"),
        review.label("review"),
        func.count().label("rows"),
    ]
    for short, column in COSTS.items():
        raw = type_coerce(charges.c[column], BigInteger)
        cols.append(func.coalesce(func.sum(raw.op("/")(literal(SPLIT))), 0).label(f"{short}_hi"))
        cols.append(func.coalesce(func.sum(raw.op("%")(literal(SPLIT))), 0).label(f"{short}_lo"))
    q = (
        select(*cols)
        .select_from(charges)
        .join(charge_details, charge_details.c.id == charges.c.detail_id)
        .where(charges.c.period_id == period_id)
        .group_by(
            charges.c.period_id,
            *(charges.c[d] for d in DIMENSIONS),
            charge_details.c.service_name,
            flagged,
            review,
        )
    )
    names = [
        "period_id",
        *DIMENSIONS,
        "service_name",
        "flagged",
        "review",
        "rows",
        *(f"{s}_{h}" for s in COSTS for h in ("hi", "lo")),
    ]
    conn.execute(insert(charge_rollups).from_select(names, q))
    conn.execute(insert(rollup_state).values(period_id=period_id, fingerprint=fingerprint, built_at=now))


def invalidate(conn: Connection, period_id: int) -> None:
    conn.execute(delete(rollup_state).where(rollup_state.c.period_id == period_id))
