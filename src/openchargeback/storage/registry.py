"""The registry: PIs, projects, funds/orgs and fund splits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from openchargeback.storage.registry_tables import fund_split_shares, fund_splits, funds, pis, projects
from openchargeback.storage.types import AnyRow, inserted_id

TABLES = {"pis": pis, "projects": projects, "funds": funds}
KEYS = {"pis": pis.c.email, "projects": projects.c.project_id, "funds": funds.c.code}
_CHUNK = 5_000


def _to_row(kind: str, values: dict[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if kind == "pis":
        out["billing_contacts"] = ";".join(values.get("billing_contacts") or ()) or None
    return out


def _from_row(kind: str, row: AnyRow) -> dict[str, Any]:
    out = {k: v for k, v in row._mapping.items() if k not in ("updated_by", "updated_at")}
    if kind == "pis":
        out["billing_contacts"] = tuple(x for x in (row.billing_contacts or "").split(";") if x)
    return out


def get(conn: Connection, kind: str, key: str) -> dict[str, Any] | None:
    row = conn.execute(select(TABLES[kind]).where(KEYS[kind] == key)).first()
    return _from_row(kind, row) if row else None


def existing_keys(conn: Connection, kind: str, keys: list[str]) -> set[str]:
    out: set[str] = set()
    for i in range(0, len(keys), _CHUNK):
        out |= set(conn.execute(select(KEYS[kind]).where(KEYS[kind].in_(keys[i : i + _CHUNK]))).scalars())
    return out


def list_all(conn: Connection, kind: str, **where: object) -> list[dict[str, Any]]:
    t = TABLES[kind]
    q = select(t).order_by(KEYS[kind])
    for col, value in where.items():
        if value is not None:
            q = q.where(t.c[col] == value)
    return [_from_row(kind, r) for r in conn.execute(q)]


def count(conn: Connection, kind: str) -> int:
    return conn.execute(select(func.count()).select_from(TABLES[kind])).scalar_one()


def insert_record(conn: Connection, kind: str, values: dict[str, Any], actor: str, now: datetime) -> None:
    conn.execute(insert(TABLES[kind]).values(**_to_row(kind, values), updated_by=actor, updated_at=now))


def update_record(
    conn: Connection, kind: str, key: str, values: dict[str, Any], actor: str, now: datetime
) -> None:
    values = {k: v for k, v in _to_row(kind, values).items() if k != KEYS[kind].name}
    conn.execute(
        update(TABLES[kind]).where(KEYS[kind] == key).values(**values, updated_by=actor, updated_at=now)
    )


def snapshot(
    conn: Connection,
) -> tuple[dict[str, tuple[str, str | None]], dict[str, tuple[date | None, date | None]]]:
    """project -> (PI, default fund); fund -> (valid_from, valid_to)."""
    p = {
        r.project_id: (r.pi_email, r.default_fund)
        for r in conn.execute(select(projects.c.project_id, projects.c.pi_email, projects.c.default_fund))
    }
    f = {
        r.code: (r.valid_from, r.valid_to)
        for r in conn.execute(select(funds.c.code, funds.c.valid_from, funds.c.valid_to))
    }
    return p, f


def contacts(conn: Connection, emails: list[str]) -> dict[str, tuple[str, ...]]:
    rows = conn.execute(select(pis.c.email, pis.c.billing_contacts).where(pis.c.email.in_(emails)))
    return {r.email: tuple(x for x in (r.billing_contacts or "").split(";") if x) for r in rows}


# -- splits --------------------------------------------------------------------------------------
def splits(
    conn: Connection, project_id: str | None = None
) -> list[tuple[AnyRow, tuple[tuple[str, Decimal], ...]]]:
    """(split row, ((fund, percent), ...)) in project, scope and start order."""
    q = select(fund_splits).order_by(
        fund_splits.c.project_id, fund_splits.c.scope, fund_splits.c.scope_value, fund_splits.c.first_period
    )
    if project_id is not None:
        q = q.where(fund_splits.c.project_id == project_id)
    rows = conn.execute(q).all()
    shares: dict[int, list[tuple[str, Decimal]]] = {}
    ids = [r.id for r in rows]
    for i in range(0, len(ids), _CHUNK):
        for s in conn.execute(
            select(fund_split_shares)
            .where(fund_split_shares.c.split_id.in_(ids[i : i + _CHUNK]))
            .order_by(fund_split_shares.c.split_id, fund_split_shares.c.fund_code)
        ):
            shares.setdefault(s.split_id, []).append((s.fund_code, s.percent))
    return [(r, tuple(shares.get(r.id, ()))) for r in rows]


def add_split(
    conn: Connection, values: dict[str, Any], shares: Iterable[tuple[str, Decimal]], actor: str, now: datetime
) -> int:
    sid = inserted_id(conn.execute(insert(fund_splits).values(**values, created_by=actor, created_at=now)))
    conn.execute(
        insert(fund_split_shares), [{"split_id": sid, "fund_code": f, "percent": p} for f, p in shares]
    )
    return sid


def delete_split(conn: Connection, split_id: int) -> None:
    conn.execute(delete(fund_split_shares).where(fund_split_shares.c.split_id == split_id))
    conn.execute(delete(fund_splits).where(fund_splits.c.id == split_id))
