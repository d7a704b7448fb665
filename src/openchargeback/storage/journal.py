"""What journals are built from (besides the allocation's
:func:`openchargeback.storage.allocation.charge_lines`), and the record of every journal
export.

- :func:`account_codes`: the distinct account codes of approved charges, with the first
  charge carrying each (validation messages name it);
- :func:`approved_charges`: the approved charges one by one (the ``standard`` format),
  streamed in chunks;
- exports: add, list, get, the stored file, the last posted one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, func, insert, select

from openchargeback.storage import writers
from openchargeback.storage.charges import APPROVED
from openchargeback.storage.journal_tables import journal_documents, journal_exports
from openchargeback.storage.tables import charge_details, charges, periods, sources
from openchargeback.storage.types import AnyRow, inserted_id

_LIGHT = [c for c in journal_exports.c if c.name != "postings"]
_STREAM_CHUNK = 5_000


def account_codes(conn: Connection, period_id: int) -> Sequence[AnyRow]:
    """(code, first charge id, number of charges, source) of every account code on the
    period's approved charges."""
    q = (
        select(
            charges.c.account_code.label("code"),
            func.min(charges.c.id).label("first_id"),
            func.count().label("n"),
            sources.c.name.label("source"),
        )
        .join(sources, sources.c.id == charges.c.source_id)
        .where(charges.c.period_id == period_id, APPROVED, charges.c.account_code.is_not(None))
        .group_by(charges.c.account_code, sources.c.name)
        .order_by(func.min(charges.c.id))
    )
    return conn.execute(q).all()


def approved_charges(conn: Connection, period_id: int) -> Iterator[AnyRow]:
    """The period's approved charges in id order, streamed."""
    q = (
        select(
            charges.c.id,
            sources.c.name.label("source"),
            sources.c.cost_basis,
            charges.c.pi_email,
            charges.c.project_id,
            charges.c.fund_org,
            charge_details.c.service_name,
            charges.c.resource_id,
            charges.c.resource_name,
            charges.c.billing_currency,
            charges.c.list_cost,
            charges.c.billed_cost,
            charges.c.effective_cost,
            charges.c.account_code,
            charges.c.reference_1,
            charges.c.reference_2,
        )
        .join(charge_details, charge_details.c.id == charges.c.detail_id)
        .join(sources, sources.c.id == charges.c.source_id)
        .where(charges.c.period_id == period_id, APPROVED)
        .order_by(charges.c.id)
        .execution_options(yield_per=_STREAM_CHUNK)
    )
    yield from conn.execute(q)


def recoveries(conn: Connection) -> Sequence[AnyRow]:
    return conn.execute(
        select(sources.c.name, sources.c.display_name, sources.c.gl_fund_org, sources.c.gl_account)
    ).all()


# -- exports ---------------------------------------------------------------------------------------
def lock_period(conn: Connection, period_id: int) -> None:
    """Hold the period row until the transaction ends (PostgreSQL; a SQLite writer holds the
    database already), so that two exports of a period take running numbers in turn and
    its status cannot change under an export."""
    writers.locking(conn, select(periods.c.id).where(periods.c.id == period_id).with_for_update())


def next_sequence(conn: Connection, period_id: int) -> int:
    top = conn.execute(
        select(func.max(journal_exports.c.sequence)).where(journal_exports.c.period_id == period_id)
    ).scalar()
    return (top or 0) + 1


def add_export(conn: Connection, values: dict[str, Any], content: bytes) -> int:
    export_id = inserted_id(conn.execute(insert(journal_exports).values(**values)))
    conn.execute(insert(journal_documents).values(export_id=export_id, content=content))
    return export_id


def _with_period(*cols: ColumnElement[Any]) -> Select[*tuple[Any, ...]]:
    return select(*cols, periods.c.name.label("period")).join(
        periods, periods.c.id == journal_exports.c.period_id
    )


def listing(conn: Connection, period_id: int | None = None, limit: int = 500) -> Sequence[AnyRow]:
    q = _with_period(*_LIGHT)
    if period_id is not None:
        q = q.where(journal_exports.c.period_id == period_id)
    return conn.execute(q.order_by(journal_exports.c.id.desc()).limit(limit)).all()


def get(conn: Connection, export_id: int, *, with_postings: bool = False) -> AnyRow | None:
    cols = list(journal_exports.c) if with_postings else _LIGHT
    return conn.execute(_with_period(*cols).where(journal_exports.c.id == export_id)).first()


def last_posted(conn: Connection, period_id: int) -> AnyRow | None:
    """The latest export of the period that was not a draft and recorded its postings."""
    return conn.execute(
        _with_period(*journal_exports.c)
        .where(
            journal_exports.c.period_id == period_id,
            journal_exports.c.draft.is_(False),
            journal_exports.c.postings.is_not(None),
        )
        .order_by(journal_exports.c.sequence.desc())
        .limit(1)
    ).first()


def content(conn: Connection, export_id: int) -> bytes | None:
    return conn.execute(
        select(journal_documents.c.content).where(journal_documents.c.export_id == export_id)
    ).scalar()


def tally(conn: Connection, period_id: int) -> tuple[int, int]:
    """(exports, exports for posting) of the period: every export, and those that were not
    drafts and recorded postings (what accounting posts)."""
    posting = (journal_exports.c.draft.is_(False)) & journal_exports.c.postings.is_not(None)
    row = conn.execute(
        select(func.count(), func.count().filter(posting)).where(journal_exports.c.period_id == period_id)
    ).one()
    return row[0], row[1]
