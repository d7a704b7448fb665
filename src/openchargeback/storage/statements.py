"""Statement versions, their documents and the email log."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import Connection, func, insert, select, update

from openchargeback.storage.statement_tables import (
    statement_documents,
    statement_message_items,
    statement_messages,
    statements,
)
from openchargeback.storage.tables import periods

_LIGHT = [c for c in statements.c if c.name != "data"]
_CHUNK = 5_000


def _key_filters(period_id: int, pi: str | None, project: str | None):
    conds = [statements.c.period_id == period_id]
    if pi is not None:
        conds.append(func.lower(statements.c.pi_email) == pi.lower())
    if project is not None:
        conds.append(statements.c.project_id == project)
    return conds


def current(
    conn: Connection,
    period_id: int,
    *,
    pi: str | None = None,
    project: str | None = None,
    with_data: bool = False,
):
    cols = list(statements.c) if with_data else _LIGHT
    return conn.execute(
        select(*cols)
        .where(*_key_filters(period_id, pi, project), statements.c.status == "current")
        .order_by(statements.c.sequence)
    ).all()


def numbers(conn: Connection, period_id: int) -> tuple[dict, int]:
    """((kind, pi, project, currency) -> (number, sequence, last version)), highest sequence."""
    rows = conn.execute(
        select(
            statements.c.kind,
            statements.c.pi_email,
            statements.c.project_id,
            statements.c.currency,
            statements.c.number,
            statements.c.sequence,
            func.max(statements.c.version).label("version"),
        )
        .where(statements.c.period_id == period_id)
        .group_by(
            statements.c.kind,
            statements.c.pi_email,
            statements.c.project_id,
            statements.c.currency,
            statements.c.number,
            statements.c.sequence,
        )
    ).all()
    out = {(r.kind, r.pi_email, r.project_id, r.currency): (r.number, r.sequence, r.version) for r in rows}
    return out, max((r.sequence for r in rows), default=0)


def add(conn: Connection, values: dict, pdf: bytes, detail_csv: bytes | None) -> int:
    sid = conn.execute(insert(statements).values(**values)).inserted_primary_key[0]
    conn.execute(insert(statement_documents).values(statement_id=sid, pdf=pdf, detail_csv=detail_csv))
    return sid


def retire(conn: Connection, statement_id: int, status: str, by_id: int | None, now: datetime) -> None:
    conn.execute(
        update(statements)
        .where(statements.c.id == statement_id)
        .values(status=status, superseded_by_id=by_id, superseded_at=now)
    )


def listing(
    conn: Connection,
    period_id: int,
    *,
    pi: str | None = None,
    project: str | None = None,
    all_versions: bool = False,
):
    q = select(*_LIGHT).where(*_key_filters(period_id, pi, project))
    if not all_versions:
        q = q.where(statements.c.status == "current")
    return conn.execute(q.order_by(statements.c.sequence, statements.c.version)).all()


def by_number(conn: Connection, number: str, version: int | None = None):
    q = (
        select(statements, periods.c.name.label("period"))
        .join(periods, periods.c.id == statements.c.period_id)
        .where(statements.c.number == number)
    )
    q = q.where(statements.c.version == version) if version else q.order_by(statements.c.version.desc())
    return conn.execute(q.limit(1)).first()


def by_ids(conn: Connection, ids: list[int], *, with_data: bool = False):
    cols = list(statements.c) if with_data else _LIGHT
    out = []
    for i in range(0, len(ids), _CHUNK):
        out += conn.execute(select(*cols).where(statements.c.id.in_(ids[i : i + _CHUNK]))).all()
    return sorted(out, key=lambda r: (r.sequence, r.version))


def versions(conn: Connection, number: str):
    return conn.execute(
        select(*_LIGHT).where(statements.c.number == number).order_by(statements.c.version)
    ).all()


def document(conn: Connection, statement_id: int):
    return conn.execute(
        select(statement_documents).where(statement_documents.c.statement_id == statement_id)
    ).first()


def documents(conn: Connection, ids: list[int]) -> dict[int, object]:
    out = {}
    for i in range(0, len(ids), _CHUNK):
        for r in conn.execute(
            select(statement_documents).where(statement_documents.c.statement_id.in_(ids[i : i + _CHUNK]))
        ):
            out[r.statement_id] = r
    return out


def mark_sent(conn: Connection, ids: list[int], now: datetime) -> None:
    for i in range(0, len(ids), _CHUNK):
        conn.execute(
            update(statements)
            .where(statements.c.id.in_(ids[i : i + _CHUNK]), statements.c.sent_at.is_(None))
            .values(sent_at=now)
        )


# -- the email log -----------------------------------------------------------------------------
def add_message(conn: Connection, values: dict, statement_ids: list[int]) -> int:
    values = dict(values, recipients=json.dumps(values["recipients"], sort_keys=True))
    mid = conn.execute(insert(statement_messages).values(**values)).inserted_primary_key[0]
    if statement_ids:
        conn.execute(
            insert(statement_message_items), [{"message_id": mid, "statement_id": s} for s in statement_ids]
        )
    return mid


def finish_message(conn: Connection, mid: int, **values) -> None:
    conn.execute(update(statement_messages).where(statement_messages.c.id == mid).values(**values))


def message(conn: Connection, message_id: int):
    return conn.execute(
        select(statement_messages, periods.c.name.label("period"))
        .join(periods, periods.c.id == statement_messages.c.period_id)
        .where(statement_messages.c.id == message_id)
    ).first()


def messages(conn: Connection, period_id: int, *, status: str | None = None):
    q = select(statement_messages).where(statement_messages.c.period_id == period_id)
    if status:
        q = q.where(statement_messages.c.status == status)
    return conn.execute(q.order_by(statement_messages.c.id)).all()


def message_items(conn: Connection, message_ids: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {m: [] for m in message_ids}
    for i in range(0, len(message_ids), _CHUNK):
        for r in conn.execute(
            select(statement_message_items)
            .where(statement_message_items.c.message_id.in_(message_ids[i : i + _CHUNK]))
            .order_by(statement_message_items.c.statement_id)
        ):
            out[r.message_id].append(r.statement_id)
    return out


def resent(conn: Connection, message_ids: list[int]) -> set[int]:
    """Those of the messages that were resent successfully since."""
    rows = conn.execute(
        select(statement_messages.c.resend_of_id).where(
            statement_messages.c.resend_of_id.in_(message_ids), statement_messages.c.status == "sent"
        )
    )
    return {r.resend_of_id for r in rows}
