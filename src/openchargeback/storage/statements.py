"""Statement versions, their documents, the email log, the claims of statement versions by
messages and the send lock of a period."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from openchargeback.storage.charges import APPROVED
from openchargeback.storage.statement_tables import (
    statement_claims,
    statement_documents,
    statement_message_items,
    statement_messages,
    statement_send_locks,
    statements,
)
from openchargeback.storage.tables import charges, periods
from openchargeback.storage.types import AnyRow, inserted_id

_LIGHT = [c for c in statements.c if c.name != "data"]
_CHUNK = 5_000


def _key_filters(period_id: int, pi: str | None, project: str | None) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = [statements.c.period_id == period_id]
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
) -> Sequence[AnyRow]:
    cols = list(statements.c) if with_data else _LIGHT
    return conn.execute(
        select(*cols)
        .where(*_key_filters(period_id, pi, project), statements.c.status == "current")
        .order_by(statements.c.sequence)
    ).all()


def numbers(
    conn: Connection, period_id: int
) -> tuple[dict[tuple[str, str | None, str | None, str], tuple[str, int, int]], int]:
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


def add(conn: Connection, values: dict[str, Any], pdf: bytes, detail_csv: bytes | None) -> int:
    sid = inserted_id(conn.execute(insert(statements).values(**values)))
    conn.execute(
        insert(statement_documents).values(
            statement_id=sid,
            pdf=pdf,
            detail_csv=detail_csv,
            pdf_sha256=hashlib.sha256(pdf).hexdigest(),
            csv_sha256=hashlib.sha256(detail_csv).hexdigest() if detail_csv is not None else None,
        )
    )
    return sid


def references(conn: Connection, period_id: int) -> Sequence[AnyRow]:
    """The distinct (currency, PI, project, reference_1, reference_2) of the period's
    approved charges that carry a reference (grant or request numbers, by the tag mapping)."""
    keys = (
        charges.c.billing_currency,
        charges.c.pi_email,
        charges.c.project_id,
        charges.c.reference_1,
        charges.c.reference_2,
    )
    return conn.execute(
        select(*keys)
        .where(
            charges.c.period_id == period_id,
            APPROVED,
            (charges.c.reference_1.is_not(None)) | (charges.c.reference_2.is_not(None)),
        )
        .group_by(*keys)
    ).all()


def current_files(
    conn: Connection, period_id: int | None = None, *, pi: str | None = None, project: str | None = None
) -> Sequence[AnyRow]:
    """What the output directory must hold: per current version (of one period, or of
    all), its period's name, number, version and its documents' hashes and sizes, without
    the documents themselves."""
    q = (
        select(
            statements.c.id,
            periods.c.name.label("period"),
            periods.c.status.label("period_status"),
            statements.c.number,
            statements.c.version,
            statement_documents.c.pdf_sha256,
            statement_documents.c.csv_sha256,
            func.length(statement_documents.c.pdf).label("pdf_size"),
            func.length(statement_documents.c.detail_csv).label("csv_size"),
        )
        .join(periods, periods.c.id == statements.c.period_id)
        .join(statement_documents, statement_documents.c.statement_id == statements.c.id)
        .where(statements.c.status == "current")
    )
    if period_id is not None:
        q = q.where(*_key_filters(period_id, pi, project))
    return conn.execute(q.order_by(periods.c.name, statements.c.sequence)).all()


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
) -> Sequence[AnyRow]:
    q = select(*_LIGHT).where(*_key_filters(period_id, pi, project))
    if not all_versions:
        q = q.where(statements.c.status == "current")
    return conn.execute(q.order_by(statements.c.sequence, statements.c.version)).all()


def by_number(conn: Connection, number: str, version: int | None = None) -> AnyRow | None:
    q = (
        select(statements, periods.c.name.label("period"))
        .join(periods, periods.c.id == statements.c.period_id)
        .where(statements.c.number == number)
    )
    q = q.where(statements.c.version == version) if version else q.order_by(statements.c.version.desc())
    return conn.execute(q.limit(1)).first()


def by_ids(conn: Connection, ids: list[int], *, with_data: bool = False) -> list[AnyRow]:
    cols = list(statements.c) if with_data else _LIGHT
    out: list[AnyRow] = []
    for i in range(0, len(ids), _CHUNK):
        out += conn.execute(select(*cols).where(statements.c.id.in_(ids[i : i + _CHUNK]))).all()
    return sorted(out, key=lambda r: (r.sequence, r.version))


def versions(conn: Connection, number: str) -> Sequence[AnyRow]:
    return conn.execute(
        select(*_LIGHT).where(statements.c.number == number).order_by(statements.c.version)
    ).all()


def document(conn: Connection, statement_id: int) -> AnyRow | None:
    return conn.execute(
        select(statement_documents).where(statement_documents.c.statement_id == statement_id)
    ).first()


def documents(conn: Connection, ids: list[int]) -> dict[int, AnyRow]:
    out: dict[int, AnyRow] = {}
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
def add_message(conn: Connection, values: dict[str, Any], statement_ids: list[int]) -> int:
    values = dict(values, recipients=json.dumps(values["recipients"], sort_keys=True))
    mid = inserted_id(conn.execute(insert(statement_messages).values(**values)))
    if statement_ids:
        conn.execute(
            insert(statement_message_items), [{"message_id": mid, "statement_id": s} for s in statement_ids]
        )
    return mid


def finish_message(conn: Connection, mid: int, **values: Any) -> None:
    conn.execute(update(statement_messages).where(statement_messages.c.id == mid).values(**values))


def message(conn: Connection, message_id: int) -> AnyRow | None:
    return conn.execute(
        select(statement_messages, periods.c.name.label("period"))
        .join(periods, periods.c.id == statement_messages.c.period_id)
        .where(statement_messages.c.id == message_id)
    ).first()


def messages(conn: Connection, period_id: int, *, status: str | None = None) -> Sequence[AnyRow]:
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
            statement_messages.c.resend_of_id.in_(message_ids),
            statement_messages.c.status.in_(("sent", "partial")),
        )
    )
    return {r.resend_of_id for r in rows}


def set_status(conn: Connection, message_ids: list[int], status: str, *, where_status: str) -> list[int]:
    """Move those of the messages still in ``where_status`` to ``status``; the ids moved."""
    moved = [
        r.id
        for r in conn.execute(
            select(statement_messages.c.id).where(
                statement_messages.c.id.in_(message_ids), statement_messages.c.status == where_status
            )
        )
    ]
    if moved:
        conn.execute(
            update(statement_messages)
            .where(statement_messages.c.id.in_(moved), statement_messages.c.status == where_status)
            .values(status=status)
        )
    return moved


def unfinished(conn: Connection, period_id: int) -> Sequence[AnyRow]:
    """Messages of the period without an outcome (queued or sending)."""
    return conn.execute(
        select(statement_messages)
        .where(
            statement_messages.c.period_id == period_id,
            statement_messages.c.status.in_(("queued", "sending")),
        )
        .order_by(statement_messages.c.id)
    ).all()


def retired_sent(conn: Connection, period_id: int) -> Sequence[AnyRow]:
    """Versions of the period that were sent and are now superseded or withdrawn."""
    return conn.execute(
        select(*_LIGHT)
        .where(
            statements.c.period_id == period_id,
            statements.c.status.in_(("superseded", "withdrawn")),
            statements.c.sent_at.is_not(None),
        )
        .order_by(statements.c.sequence, statements.c.version)
    ).all()


def carried_by(conn: Connection, statement_ids: list[int], *, kind: str | None) -> dict[int, list[AnyRow]]:
    """statement id -> the delivered (sent or partial) messages of ``kind`` (None: the
    statement messages) that carried it, oldest first."""
    out: dict[int, list[AnyRow]] = {s: [] for s in statement_ids}
    kind_filter = statement_messages.c.kind.is_(None) if kind is None else statement_messages.c.kind == kind
    for i in range(0, len(statement_ids), _CHUNK):
        rows = conn.execute(
            select(statement_message_items.c.statement_id, statement_messages)
            .join(statement_messages, statement_messages.c.id == statement_message_items.c.message_id)
            .where(
                statement_message_items.c.statement_id.in_(statement_ids[i : i + _CHUNK]),
                statement_messages.c.status.in_(("sent", "partial")),
                kind_filter,
            )
            .order_by(statement_messages.c.id)
        )
        for r in rows:
            out[r.statement_id].append(r)
    return out


# -- claims: a statement version belongs to at most one unfinished message ------------------------
def claims(conn: Connection, statement_ids: list[int]) -> dict[int, int]:
    """statement id -> the message that holds it, for those of the versions claimed."""
    out: dict[int, int] = {}
    for i in range(0, len(statement_ids), _CHUNK):
        for r in conn.execute(
            select(statement_claims).where(statement_claims.c.statement_id.in_(statement_ids[i : i + _CHUNK]))
        ):
            out[r.statement_id] = r.message_id
    return out


def claim(conn: Connection, message_id: int, statement_ids: list[int], now: datetime) -> None:
    """Claim the versions for the message (the primary key refuses a version claimed
    already: IntegrityError)."""
    if statement_ids:
        conn.execute(
            insert(statement_claims),
            [{"statement_id": s, "message_id": message_id, "claimed_at": now} for s in statement_ids],
        )


def transfer_claims(conn: Connection, from_message: int, to_message: int) -> list[int]:
    """Hand the claims of one message to another; the statement ids handed over."""
    ids = [
        r.statement_id
        for r in conn.execute(
            select(statement_claims.c.statement_id).where(statement_claims.c.message_id == from_message)
        )
    ]
    conn.execute(
        update(statement_claims)
        .where(statement_claims.c.message_id == from_message)
        .values(message_id=to_message)
    )
    return ids


def release(conn: Connection, message_id: int) -> None:
    conn.execute(delete(statement_claims).where(statement_claims.c.message_id == message_id))


# -- the send lock of a period -------------------------------------------------------------------
def lock(conn: Connection, period_id: int) -> AnyRow | None:
    return conn.execute(
        select(statement_send_locks).where(statement_send_locks.c.period_id == period_id)
    ).first()


def take_lock(conn: Connection, values: dict[str, Any], *, replacing: str | None = None) -> bool:
    """Insert the lock row (or replace the row whose token is ``replacing``); False when
    another batch holds it. Run alone in its transaction: a refused insert ends it."""
    if replacing is None:
        try:
            with conn.begin_nested():
                conn.execute(insert(statement_send_locks).values(**values))
        except IntegrityError:
            return False
        return True
    result = conn.execute(
        update(statement_send_locks)
        .where(
            statement_send_locks.c.period_id == values["period_id"],
            statement_send_locks.c.token == replacing,
        )
        .values(**values)
    )
    return result.rowcount == 1


def renew_lock(conn: Connection, period_id: int, token: str, expires_at: datetime) -> bool:
    result = conn.execute(
        update(statement_send_locks)
        .where(statement_send_locks.c.period_id == period_id, statement_send_locks.c.token == token)
        .values(expires_at=expires_at)
    )
    return result.rowcount == 1


def release_lock(conn: Connection, period_id: int, token: str) -> None:
    conn.execute(
        delete(statement_send_locks).where(
            statement_send_locks.c.period_id == period_id, statement_send_locks.c.token == token
        )
    )


def tally(conn: Connection, period_id: int) -> tuple[int, int, int]:
    """(current, sent, failed) of the period: its current statement versions, those of them
    sent, and its messages that did not reach everyone (failed, partial or in doubt) and
    were not resent since."""
    sent = statements.c.sent_at.is_not(None)
    current, sent_count = conn.execute(
        select(func.count(), func.count().filter(sent)).where(
            statements.c.period_id == period_id, statements.c.status == "current"
        )
    ).one()
    retried = (
        select(statement_messages.c.resend_of_id)
        .where(
            statement_messages.c.resend_of_id.is_not(None),
            statement_messages.c.status.in_(("sent", "partial")),
        )
        .scalar_subquery()
    )
    failed = conn.execute(
        select(func.count()).where(
            statement_messages.c.period_id == period_id,
            statement_messages.c.status.in_(("failed", "partial", "in_doubt")),
            statement_messages.c.id.not_in(retried),
        )
    ).scalar_one()
    return current, sent_count, failed
