"""Import records: what file, from where, which rows, control totals, problems."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Connection, and_, case, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from openchargeback.storage.review import FINGERPRINT
from openchargeback.storage.sums import money_sum, read_sum
from openchargeback.storage.tables import (
    charges,
    import_problems,
    import_replacements,
    import_totals,
    imports,
    periods,
    sources,
)
from openchargeback.storage.types import AnyRow, inserted_id

_PROBLEM_CHUNK = 5_000


class ProblemRecord(Protocol):
    """A problem found in an import's file (``focus.batch.Problem``)."""

    @property
    def line(self) -> int: ...
    @property
    def column(self) -> str | None: ...
    @property
    def value(self) -> str | None: ...
    @property
    def expected(self) -> str: ...


def find_active_by_sha(conn: Connection, sha256: str) -> AnyRow | None:
    return conn.execute(
        select(imports, sources.c.name.label("source_name"))
        .join(sources, sources.c.id == imports.c.source_id)
        .where(imports.c.sha256 == sha256, imports.c.status == "complete")
        .order_by(imports.c.id)
    ).first()


# The columns that make two charges the same charge: the review carry-over pairs rows by
# this fingerprint, and the currency.
_SAME = ("billing_currency", *FINGERPRINT)


def overlaps(
    conn: Connection, import_id: int, source_id: int, period_ids: list[int]
) -> list[tuple[int, str, int, Decimal]]:
    """Rows of ``import_id`` identical to an active row of an earlier import of the same
    source and periods: (earlier import id, currency, rows, billed) per earlier import.

    One grouping of the source's rows of those periods by the fingerprint (GROUP BY
    takes NULLs as equal, as identity wants): linear, whatever the planner knows."""
    if not period_ids:
        return []
    earlier = conn.execute(
        select(func.count())
        .select_from(imports)
        .where(imports.c.source_id == source_id, imports.c.status == "complete", imports.c.id != import_id)
    ).scalar_one()
    if not earlier:  # a source's first import: nothing to compare with
        return []
    mine = charges.c.import_id == import_id
    dialect = conn.dialect.name
    groups = (
        select(
            charges.c.billing_currency.label("currency"),
            func.min(case((~mine, charges.c.import_id))).label("old_id"),
            func.sum(case((mine, 1), else_=0)).label("n"),
            *money_sum(dialect, case((mine, charges.c.billed_cost)), "billed"),
        )
        .where(charges.c.source_id == source_id, charges.c.period_id.in_(period_ids))
        .group_by(*(charges.c[c] for c in _SAME))
        .subquery()
    )
    sums = [func.sum(c).label(c.name) for c in groups.c if c.name.startswith("billed")]
    rows = conn.execute(
        select(groups.c.old_id, groups.c.currency, func.sum(groups.c.n).label("n"), *sums)
        .where(groups.c.old_id.is_not(None), groups.c.n > 0)
        .group_by(groups.c.old_id, groups.c.currency)
        .order_by(groups.c.old_id, groups.c.currency)
    ).all()
    return [(r.old_id, r.currency, int(r.n), read_sum(dialect, r, "billed")) for r in rows]


def source_parties(conn: Connection, source_id: int, except_import: int) -> list[str]:
    """The ``parties`` (JSON) recorded on the source's active earlier imports."""
    return [
        p
        for p in conn.execute(
            select(imports.c.parties).where(
                imports.c.source_id == source_id,
                imports.c.status == "complete",
                imports.c.id != except_import,
                imports.c.parties.is_not(None),
            )
        ).scalars()
    ]


def parties_by_source(conn: Connection, except_import: int) -> dict[str, list[str]]:
    """Source name -> the parties recorded on its active imports."""
    out: dict[str, list[str]] = {}
    for name, parties in conn.execute(
        select(sources.c.name, imports.c.parties)
        .join(sources, sources.c.id == imports.c.source_id)
        .where(imports.c.status == "complete", imports.c.id != except_import, imports.c.parties.is_not(None))
    ):
        out.setdefault(name, []).append(parties)
    return out


def by_ids(conn: Connection, ids: Iterable[int]) -> Sequence[AnyRow]:
    return conn.execute(select(imports).where(imports.c.id.in_(list(ids))).order_by(imports.c.id)).all()


def hold_period(conn: Connection, period_id: int) -> str:
    """The period's status, its row share-locked until the transaction ends (PostgreSQL;
    SQLite's write transaction already excludes every other writer)."""
    return str(
        conn.execute(
            select(periods.c.status).where(periods.c.id == period_id).with_for_update(read=True)
        ).scalar_one()
    )


class ActiveDuplicate(Exception):
    """Another active import holds the same file (its SHA-256): the unique index said so."""


def create(conn: Connection, values: dict[str, Any]) -> int:
    return inserted_id(conn.execute(insert(imports).values(**values)))


def finish(conn: Connection, import_id: int, values: dict[str, Any]) -> None:
    """Complete the import; ActiveDuplicate when the same file became active meanwhile."""
    try:
        with conn.begin_nested():
            conn.execute(update(imports).where(imports.c.id == import_id).values(**values))
    except IntegrityError as exc:
        if "sha256" in str(exc.orig):
            raise ActiveDuplicate() from None
        raise


def add_totals(conn: Connection, import_id: int, totals: list[dict[str, Any]]) -> None:
    if totals:
        conn.execute(insert(import_totals), [{"import_id": import_id, **t} for t in totals])


def add_problems(conn: Connection, import_id: int, problems: Iterable[ProblemRecord]) -> None:
    rows = [
        {
            "import_id": import_id,
            "line": p.line,
            "column_name": p.column,
            "value": p.value,
            "expected": p.expected,
        }
        for p in problems
    ]
    for i in range(0, len(rows), _PROBLEM_CHUNK):
        conn.execute(insert(import_problems), rows[i : i + _PROBLEM_CHUNK])


def stored_totals(
    conn: Connection,
    import_id: int,
    source_id: int,
    period_ids: list[int],
    money_columns: Mapping[str, ColumnElement[Any]],
) -> dict[tuple[str, str], Decimal]:
    """(currency, FOCUS column) -> exact sum of what is stored for the import."""
    dialect = conn.dialect.name
    cols: list[ColumnElement[Any]] = []
    for focus_name, column in money_columns.items():
        cols += money_sum(dialect, column, focus_name)
    rows = conn.execute(
        select(charges.c.billing_currency, *cols)
        .where(
            charges.c.period_id.in_(period_ids),
            charges.c.source_id == source_id,
            charges.c.import_id == import_id,
        )
        .group_by(charges.c.billing_currency)
    ).all()
    return {(r.billing_currency, name): read_sum(dialect, r, name) for r in rows for name in money_columns}


def replace_earlier(
    conn: Connection, new_id: int, source_id: int, period_ids: list[int]
) -> list[tuple[int, int, int]]:
    """Remove the source's charges of these periods that came from earlier imports."""
    done: list[tuple[int, int, int]] = []
    for period_id in period_ids:
        counts = conn.execute(
            select(charges.c.import_id, func.count().label("n"))
            .where(
                charges.c.source_id == source_id,
                charges.c.period_id == period_id,
                charges.c.import_id != new_id,
            )
            .group_by(charges.c.import_id)
        ).all()
        for old_id, n in counts:
            conn.execute(
                delete(charges).where(and_(charges.c.import_id == old_id, charges.c.period_id == period_id))
            )
            conn.execute(
                insert(import_replacements).values(
                    import_id=new_id, replaced_import_id=old_id, period_id=period_id, rows_removed=n
                )
            )
            done.append((old_id, period_id, n))
    for old_id in {d[0] for d in done}:
        # what is left of the earlier import is in its other periods: only their partitions
        # are read (PostgreSQL), through the (period, source, import) index
        named = conn.execute(select(imports.c.periods).where(imports.c.id == old_id)).scalar_one()
        others = list(
            conn.execute(
                select(periods.c.id).where(
                    periods.c.name.in_(named.split(",")), periods.c.id.not_in(period_ids)
                )
            ).scalars()
        )
        rest = and_(
            charges.c.period_id.in_(others), charges.c.source_id == source_id, charges.c.import_id == old_id
        )
        left = (
            conn.execute(select(func.count()).select_from(charges).where(rest)).scalar_one() if others else 0
        )
        values: dict[str, Any] = {"replaced_by_id": new_id}
        if not left:
            values["status"] = "replaced"
        conn.execute(update(imports).where(imports.c.id == old_id).values(**values))
    return done


def get(conn: Connection, import_id: int) -> AnyRow | None:
    return conn.execute(
        select(imports, sources.c.name.label("source_name"))
        .join(sources, sources.c.id == imports.c.source_id)
        .where(imports.c.id == import_id)
    ).first()


def list_recent(
    conn: Connection, *, source_id: int | None = None, period: str | None = None, limit: int = 50
) -> Sequence[AnyRow]:
    q = (
        select(imports, sources.c.name.label("source_name"))
        .join(sources, sources.c.id == imports.c.source_id)
        .order_by(imports.c.id.desc())
        .limit(limit)
    )
    if source_id is not None:
        q = q.where(imports.c.source_id == source_id)
    if period:
        q = q.where(imports.c.periods.contains(period))
    return conn.execute(q).all()


def totals(conn: Connection, import_id: int) -> Sequence[AnyRow]:
    return conn.execute(
        select(import_totals)
        .where(import_totals.c.import_id == import_id)
        .order_by(import_totals.c.currency, import_totals.c.cost_column)
    ).all()


def problems(conn: Connection, import_id: int, limit: int | None = None) -> Sequence[AnyRow]:
    q = (
        select(import_problems)
        .where(import_problems.c.import_id == import_id)
        .order_by(import_problems.c.line, import_problems.c.id)
    )
    if limit:
        q = q.limit(limit)
    return conn.execute(q).all()


def replacements(conn: Connection, import_id: int) -> Sequence[AnyRow]:
    """Both directions: what this import replaced, and what replaced it."""
    q = (
        select(import_replacements, periods.c.name.label("period"))
        .join(periods, periods.c.id == import_replacements.c.period_id)
        .where(
            (import_replacements.c.import_id == import_id)
            | (import_replacements.c.replaced_import_id == import_id)
        )
    )
    return conn.execute(q).all()


def period_files(conn: Connection, period: str) -> int:
    """How many complete imports hold rows of ``period`` (its files in the ledger)."""
    return conn.execute(
        select(func.count()).where(imports.c.status == "complete", imports.c.periods.contains(period))
    ).scalar_one()
