"""charges partitioned by billing period on PostgreSQL (migration 0017, storage/partitions):
an existing ledger is upgraded with its rows, ids and disputes; a period's replace, close,
statements and journal read its partition only; `db check` reports what the database no
longer enforces."""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime

import pytest
from alembic import command
from db_helpers import INPUTS, ROOT, figures
from sqlalchemy import event, func, insert, select, text

from openchargeback.services.database import check_database
from openchargeback.services.ingest.loading import ingest
from openchargeback.storage import db
from openchargeback.storage.portal_tables import charge_disputes
from openchargeback.storage.tables import charges

BEFORE = "0016_pi_portal"


def _dispute(ctx, charge_id: int) -> None:
    with ctx.engine.begin() as conn:
        conn.execute(
            insert(charge_disputes).values(
                charge_id=charge_id,
                pi_email="ada@example.edu",
                reason="not ours",
                raised_by="ada",
                raised_at=datetime(2025, 2, 3, tzinfo=UTC),
                open=True,
            )
        )


def _migrate(engine, revision: str) -> None:
    with engine.begin() as conn:
        cfg = db.alembic_config(engine, conn)
        if revision == "head":
            command.upgrade(cfg, revision)
        else:
            command.downgrade(cfg, revision)


def _layout(engine) -> dict[str, int]:
    """partition -> rows (PostgreSQL), or {"charges": rows} for one table."""
    with engine.connect() as conn:
        if (
            conn.dialect.name == "sqlite"
            or conn.exec_driver_sql(
                "SELECT relkind FROM pg_class WHERE oid = 'charges'::regclass"
            ).scalar_one()
            == "r"
        ):
            return {"charges": conn.execute(select(func.count()).select_from(charges)).scalar_one()}
        names = conn.exec_driver_sql(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'charges'::regclass"
        ).scalars()
        return {n: conn.exec_driver_sql(f'SELECT count(*) FROM "{n}"').scalar_one() for n in list(names)}


def test_upgrade_keeps_an_existing_ledger(db_url, make_ctx):
    """Rows imported and disputed under the head schema, taken down to 0016 (unpartitioned,
    the dispute's foreign key back) and up again: the same figures, one partition a period
    on PostgreSQL, the id sequence continues, `db check` passes."""
    ctx = make_ctx(db_url)
    for source in ("aws", "azure"):
        ingest(ctx, INPUTS / f"{source}_2025-01.csv", source, period="2025-01")
    ingest(ctx, INPUTS / "aws_2025-12.csv", "aws", period="2025-12")
    with ctx.engine.connect() as conn:
        top = conn.execute(select(func.max(charges.c.id))).scalar_one()
        counted = conn.execute(select(charges.c.period_id, func.count()).group_by(charges.c.period_id))
        per_period = {pid: n for pid, n in counted}
    _dispute(ctx, top)
    before = figures(db_url)
    pg = ctx.dialect == "postgresql"

    _migrate(ctx.engine, BEFORE)
    assert _layout(ctx.engine) == {"charges": sum(per_period.values())}
    assert figures(db_url) == before
    _migrate(ctx.engine, "head")
    assert figures(db_url) == before
    if pg:
        assert sorted(_layout(ctx.engine).values()) == sorted(per_period.values())
        assert set(_layout(ctx.engine)) == {"charges_2025_01", "charges_2025_12"}
    report = check_database(ctx, files=False)
    assert report.ok, report.as_json()

    added = ingest(ctx, INPUTS / "azure_2025-12.csv", "azure", period="2025-12")
    with ctx.engine.connect() as conn:  # the sequence went with the table
        new = conn.execute(select(func.count()).select_from(charges).where(charges.c.id > top)).scalar_one()
    assert new == added.rows > 0


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_db_check_reports_what_the_partitioned_table_no_longer_enforces(db_url, make_ctx):
    ctx = make_ctx(db_url)
    ingest(ctx, INPUTS / "aws_2025-01.csv", "aws", period="2025-01")
    ingest(ctx, INPUTS / "aws_2025-12.csv", "aws", period="2025-12")
    assert check_database(ctx, files=False).ok
    with ctx.engine.begin() as conn:
        rows = conn.execute(select(charges).order_by(charges.c.id)).mappings().all()
        first, last = rows[0], rows[-1]
        # the key is (id, period_id): the id of a 2025-01 charge again in 2025-12 is accepted
        conn.execute(insert(charges).values({**last, "id": first["id"]}))
    _dispute(ctx, 10**9)  # no foreign key: accepted
    problems = {r.name: r.problems for r in check_database(ctx, files=False).results}
    assert problems["references"] == (
        "1 charge id(s) held by more than one charge",
        "1 dispute(s) of a charge that does not exist",
    )


def _partitions_read(plan: object) -> set[str]:
    found: set[str] = set()
    if isinstance(plan, dict):
        name = plan.get("Relation Name")
        if isinstance(name, str) and name.startswith("charges_"):
            found.add(name)
        for v in plan.values():
            found |= _partitions_read(v)
    elif isinstance(plan, list):
        for v in plan:
            found |= _partitions_read(v)
    return found


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_periods_work_reads_its_partition_only(db_url, make_ctx, tmp_path):
    """Every statement on charges while a period is replaced, closed, given statements and
    exported to the journal is explained (EXPLAIN, in its own transaction, with its own
    parameters): none reads another period's partition."""
    sys.path.insert(0, str(ROOT / "tests"))
    from openchargeback.services.journal import export_journal
    from openchargeback.services.periods import change_status
    from openchargeback.services.statements import generate
    from statements.conftest import SOURCES, statement_settings

    ctx = make_ctx(db_url, **statement_settings(tmp_path))
    for period in ("2025-01", "2025-12"):
        for source in SOURCES:
            ingest(ctx, INPUTS / f"{source}_{period}.csv", source, period=period)

    on_charges = re.compile(r"\bcharges\b", re.IGNORECASE)
    query = re.compile(r"\s*(SELECT|WITH|INSERT|UPDATE|DELETE)\b", re.IGNORECASE)
    read: dict[str, set[str]] = {}

    def explain(conn, cursor, statement, parameters, context, executemany):
        if executemany or not on_charges.search(statement) or not query.match(statement):
            return
        with cursor.connection.cursor() as cur:
            cur.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
            plan = cur.fetchone()[0]
        read[statement] = _partitions_read(plan if not isinstance(plan, str) else json.loads(plan))

    fewer = tmp_path / "aws_2025-01.csv"  # the month's file again, one row fewer
    fewer.write_text("".join((INPUTS / "aws_2025-01.csv").read_text().splitlines(keepends=True)[:-1]))
    event.listen(ctx.engine, "after_cursor_execute", explain)
    try:
        assert ingest(ctx, fewer, "aws", period="2025-01", replace=True).rows
        change_status(ctx, "2025-01", "close", "tests", force=True)
        generate(ctx, "2025-01")
        export_journal(ctx, "2025-01", "standard", tmp_path / "journal")
    finally:
        event.remove(ctx.engine, "after_cursor_execute", explain)
    assert len(read) > 10, "\n\n".join(read)
    assert any(parts == {"charges_2025_01"} for parts in read.values()), read
    wider = {s: p for s, p in read.items() if p - {"charges_2025_01"}}
    assert not wider, "\n\n".join(f"{sorted(p)}\n{s}" for s, p in wider.items())
    with ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM charges_2025_12")).scalar_one() > 0


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_an_archived_period_detaches_and_attaches_again(db_url, make_ctx):
    """The procedure of docs/operations/postgresql.md: a detached period's charges leave
    the ledger (its imports are not counted as short by `db check`), the other periods'
    stay; attached again, everything is as before."""
    ctx = make_ctx(db_url)
    ingest(ctx, INPUTS / "aws_2025-01.csv", "aws", period="2025-01")
    ingest(ctx, INPUTS / "aws_2025-12.csv", "aws", period="2025-12")
    before = figures(db_url)
    with ctx.engine.begin() as conn:
        pid = conn.execute(text("SELECT id FROM periods WHERE name = '2025-01'")).scalar_one()
        conn.execute(text("ALTER TABLE charges DETACH PARTITION charges_2025_01"))
    assert set(_layout(ctx.engine)) == {"charges_2025_12"}
    assert int(figures(db_url)["rows charges"]) == _layout(ctx.engine)["charges_2025_12"]
    report = check_database(ctx, files=False)
    assert report.ok, report.as_json()
    with ctx.engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE charges ATTACH PARTITION charges_2025_01 FOR VALUES IN ({pid})"))
    assert figures(db_url) == before
    assert check_database(ctx, files=False).ok
