"""SQL of the database checks: the engine's own (SQLite ``quick_check`` /
``integrity_check`` and ``foreign_key_check``; PostgreSQL: every table read through,
and ``amcheck`` when installed) and the ledger's invariants. Each returns a list of
problems in words; an empty list is a pass."""

from __future__ import annotations

import weakref
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, and_, exists, func, not_, or_, select, text
from sqlalchemy.exc import DBAPIError

from openchargeback.domain.errors import DatabaseFault
from openchargeback.storage import partitions
from openchargeback.storage.journal_tables import journal_documents, journal_exports
from openchargeback.storage.portal_tables import charge_disputes
from openchargeback.storage.schema import metadata
from openchargeback.storage.statement_tables import statement_documents, statements
from openchargeback.storage.sums import money_sum, read_sum
from openchargeback.storage.tables import (
    charge_details,
    charges,
    import_totals,
    imports,
    periods,
    sources,
    tag_sets,
)

# The FOCUS money columns an import's control totals name, and where they are stored.
MONEY = {
    "BilledCost": charges.c.billed_cost,
    "EffectiveCost": charges.c.effective_cost,
    "ListCost": charges.c.list_cost,
    "ContractedCost": charges.c.contracted_cost,
}
_SHOWN = 20  # problems listed per check; the rest counted

# Engines whose SQLite file passed quick_check in this process (see guard_writes).
_checked: weakref.WeakSet[Engine] = weakref.WeakSet()


def quick_check(conn: Connection, *, full: bool = False) -> list[str]:
    """SQLite's own check of the file: ``quick_check`` (every page and record, in one
    read of the file) or with ``full`` ``integrity_check`` (also that indexes match
    their tables)."""
    pragma = "integrity_check" if full else "quick_check"
    rows = [str(r[0]) for r in conn.exec_driver_sql(f"PRAGMA {pragma}({_SHOWN})")]
    return [] if rows == ["ok"] else rows


def unchecked(engine: Engine) -> bool:
    """Whether guard_writes has still to look at this engine's SQLite file."""
    return engine.dialect.name == "sqlite" and engine not in _checked


def guard_writes(engine: Engine, conn: Connection) -> None:
    """Before a process's first write to a SQLite file: refuse it when ``quick_check``
    finds damage, so that nothing is added to a damaged ledger. Once per engine: about
    0.5 s per 330 MB of database (1,000,000 charges) from the page cache."""
    if not unchecked(engine):
        return
    try:
        problems = quick_check(conn)
    except DBAPIError as exc:  # damage bad enough that the check itself stops on it
        problems = [str(exc.orig or exc).splitlines()[0]]
    if problems:
        from openchargeback.storage.faults import DAMAGED_NEXT, DAMAGED_WEB, describe

        damaged = (
            f"{describe(engine.url)} is damaged: SQLite's quick_check found {len(problems)}"
            f"{'+' if len(problems) >= _SHOWN else ''} problem(s), the first: {problems[0]}; "
            f"nothing was written."
        )
        raise DatabaseFault(f"{damaged} {DAMAGED_NEXT}", web=f"{damaged} {DAMAGED_WEB}")
    _checked.add(engine)


def foreign_key_check(conn: Connection) -> list[str]:
    """SQLite: rows whose foreign key names a row that does not exist (enforced on
    every write, so only a file changed behind our back has them)."""
    out = []
    for table, rowid, parent, _fk in conn.exec_driver_sql("PRAGMA foreign_key_check"):
        out.append(f"{table} row {rowid} refers to a missing row of {parent}")
    return out


def postgres_check(conn: Connection) -> list[str]:
    """PostgreSQL: read every table through (a damaged page fails the read), and run
    amcheck's ``bt_index_check`` on our indexes when the extension is installed."""
    out = []
    for table in metadata.sorted_tables:
        try:
            with conn.begin_nested():
                conn.execute(select(func.count()).select_from(table)).scalar_one()
        except Exception as exc:  # noqa: BLE001 - a damaged table is reported, the rest go on
            out.append(f"table {table.name} cannot be read: {str(exc).splitlines()[0]}")
    has_amcheck = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'amcheck'")).first()
    if has_amcheck:
        names = [t.name for t in metadata.sorted_tables]
        indexes = conn.execute(
            text(
                "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "JOIN pg_class t ON t.oid = i.indrelid JOIN pg_am a ON a.oid = c.relam "
                "WHERE t.relname = ANY(:names) AND a.amname = 'btree' "
                "AND t.relnamespace = to_regnamespace(current_schema())::oid"
            ),
            {"names": names},
        ).scalars()
        for index in indexes:
            try:
                with conn.begin_nested():
                    conn.execute(text("SELECT bt_index_check(CAST(:i AS regclass))"), {"i": index})
            except Exception as exc:  # noqa: BLE001
                out.append(f"index {index}: {str(exc).splitlines()[0]}")
    return out


def import_totals_check(conn: Connection) -> list[str]:
    """Each import still whole (complete, nothing of it replaced) holds the rows and the
    sums its control totals recorded."""
    dialect = conn.dialect.name
    whole = and_(imports.c.status == "complete", imports.c.replaced_by_id.is_(None))
    cols: list[Any] = []
    for name, column in MONEY.items():
        cols += money_sum(dialect, column, name)
    sums = conn.execute(
        select(charges.c.import_id, charges.c.billing_currency, func.count().label("n"), *cols)
        .where(charges.c.import_id.in_(select(imports.c.id).where(whole)))
        .group_by(charges.c.import_id, charges.c.billing_currency)
    ).all()
    stored: dict[tuple[int, str, str], Decimal] = {}
    counts: dict[int, int] = {}
    for r in sums:
        counts[r.import_id] = counts.get(r.import_id, 0) + int(r.n)
        for name in MONEY:
            stored[(r.import_id, r.billing_currency, name)] = read_sum(dialect, r, name)
    out = []
    archived = partitions.archived(conn)  # an import of an archived period has its rows there
    checked = set()
    for imp in conn.execute(
        select(imports.c.id, imports.c.filename, imports.c.row_count, imports.c.periods)
        .where(whole)
        .order_by(imports.c.id)
    ):
        if set(imp.periods.split(",")) & archived:
            continue
        checked.add(imp.id)
        if counts.get(imp.id, 0) != imp.row_count:
            out.append(
                f"import #{imp.id} ({imp.filename}) recorded {imp.row_count} rows, "
                f"the ledger holds {counts.get(imp.id, 0)}"
            )
    for t in conn.execute(
        select(import_totals).where(import_totals.c.import_id.in_(select(imports.c.id).where(whole)))
    ):
        got = stored.get((t.import_id, t.currency, t.cost_column), Decimal(0))
        if t.cost_column in MONEY and got != t.stored_total and t.import_id in checked:
            out.append(
                f"import #{t.import_id}: {t.cost_column} {t.currency} recorded {t.stored_total}, "
                f"the ledger holds {got} (a difference of {got - t.stored_total})"
            )
    return out


def orphans_check(conn: Connection) -> list[str]:
    """Charges, disputes, statements and journal exports that refer to what does not
    exist (or, for a charge, to an import that was replaced); a charge id held twice."""
    checks = [
        (
            "charge(s) without their import, or of a replaced import",
            select(func.count())
            .select_from(charges)
            .where(
                not_(
                    exists().where(
                        imports.c.id == charges.c.import_id,
                        imports.c.status == "complete",
                    )
                )
            ),
        ),
        (
            "charge(s) of a period, source, detail or tag set that does not exist",
            select(func.count())
            .select_from(charges)
            .where(
                or_(
                    not_(exists().where(periods.c.id == charges.c.period_id)),
                    not_(exists().where(sources.c.id == charges.c.source_id)),
                    not_(exists().where(charge_details.c.id == charges.c.detail_id)),
                    and_(
                        charges.c.tag_set_id.is_not(None),
                        not_(exists().where(tag_sets.c.id == charges.c.tag_set_id)),
                    ),
                )
            ),
        ),
        (
            # charges is partitioned on PostgreSQL: its key is (id, period_id), not the id alone
            "charge id(s) held by more than one charge",
            select(func.count()).select_from(
                select(charges.c.id).group_by(charges.c.id).having(func.count() > 1).subquery()
            ),
        ),
        (
            "dispute(s) of a charge that does not exist",
            select(func.count())
            .select_from(charge_disputes)
            .where(
                not_(exists().where(charges.c.id == charge_disputes.c.charge_id)),
                charge_disputes.c.withdrawn_by_import.is_(None),  # unless a --replace withdrew it
            ),
        ),
        (
            "statement version(s) without their PDF",
            select(func.count())
            .select_from(statements)
            .where(not_(exists().where(statement_documents.c.statement_id == statements.c.id))),
        ),
        (
            "journal export(s) without their file",
            select(func.count())
            .select_from(journal_exports)
            .where(not_(exists().where(journal_documents.c.export_id == journal_exports.c.id))),
        ),
    ]
    out = []
    for what, query in checks:
        n = conn.execute(query).scalar_one()
        if n:
            out.append(f"{n} {what}")
    return out


def statements_check(conn: Connection) -> list[str]:
    """Issued statements keep their history: one current version per number, and a
    superseded version names the version that replaced it."""
    out = []
    doubled = conn.execute(
        select(statements.c.number, func.count().label("n"))
        .where(statements.c.status == "current")
        .group_by(statements.c.number)
        .having(func.count() > 1)
    ).all()
    out += [f"statement {r.number} has {r.n} current versions" for r in doubled[:_SHOWN]]
    orphaned = conn.execute(
        select(statements.c.number, statements.c.version).where(
            statements.c.status == "superseded", statements.c.superseded_by_id.is_(None)
        )
    ).all()
    out += [f"statement {r.number} v{r.version} is superseded but names no later version" for r in orphaned]
    return out


def ledger_figures(conn: Connection) -> dict[str, str]:
    """What a copy or a restore must keep: rows per table, charge sums per currency and
    column, statement totals, and a digest of every stored document."""
    import hashlib

    dialect = conn.dialect.name
    out: dict[str, str] = {}
    for table in metadata.sorted_tables:
        out[f"rows {table.name}"] = str(conn.execute(select(func.count()).select_from(table)).scalar_one())
    cols: list[Any] = []
    for name, column in MONEY.items():
        cols += money_sum(dialect, column, name)
    for r in conn.execute(select(charges.c.billing_currency, *cols).group_by(charges.c.billing_currency)):
        for name in MONEY:
            out[f"charges {name} {r.billing_currency}"] = str(read_sum(dialect, r, name))
    for r in conn.execute(
        select(statements.c.currency, statements.c.status, statements.c.due_total).order_by(statements.c.id)
    ):
        key = f"statements due {r.status} {r.currency}"
        out[key] = str(Decimal(out.get(key, "0")) + r.due_total)
    for name, query in (
        ("statement documents", select(statement_documents).order_by(statement_documents.c.statement_id)),
        ("journal documents", select(journal_documents).order_by(journal_documents.c.export_id)),
    ):
        digest = hashlib.sha256()
        for row in conn.execution_options(yield_per=100).execute(query):
            for value in row:
                digest.update(repr(value).encode() if not isinstance(value, bytes) else value)
        out[f"digest {name}"] = digest.hexdigest()
    return out


def holds_data(conn: Connection) -> list[str]:
    """The tables that hold rows, leaving out ``sources`` (written from the
    configuration whenever a command starts): an empty list for an empty database."""
    present = set(conn.dialect.get_table_names(conn))
    return [
        t.name
        for t in metadata.sorted_tables
        if t.name != "sources"
        and t.name in present
        and conn.execute(select(func.count()).select_from(t)).scalar_one()
    ]
