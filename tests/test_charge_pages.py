"""Pages of charges under load (issues 15 and 18): key pagination walks exactly the
filtered set in the file order; the totals equal SQL sums; PostgreSQL pages are index
range scans, plans from fresh statistics, and many readers finding a rollup stale at
once rebuild it once without an error. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import sys
import threading
import uuid
from dataclasses import replace
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, text

from conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))
from focusgen import generate  # noqa: E402

SERVICE = "Amazon Relational Database Service"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def loaded(request, tmp_path_factory):
    """Two imports of one period, one per source (3,000 charges), 40 projects; read-only
    for the tests, so made once per backend."""
    from conftest import PG_URL, _pg_available, settings_dict
    from openchargeback.config import Settings
    from openchargeback.services.context import build_context
    from openchargeback.services.ingest.loading import ingest

    tmp = tmp_path_factory.mktemp("pages")
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp}/billing.db"
    else:
        if not _pg_available():
            pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
        schema = f"t_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{PG_URL}{'&' if '?' in PG_URL else '?'}options=-csearch_path%3D{schema}"
    ctx = build_context(Settings.model_validate(settings_dict(url)), actor="tester")
    for source, seed in (("aws", 1), ("azure", 2)):
        path = tmp / f"{source}.csv"
        generate(path, 1500, projects=40, seed=seed)
        ingest(ctx, path, source, "2025-01")
    yield ctx
    ctx.engine.dispose()
    if schema is not None:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


FILTERS = [
    {},
    {"project": "proj-0003"},
    {"pi": "pi3@example.edu"},
    {"project": "proj-0007", "service": SERVICE},  # 7 = 2 mod 5: RDS rows,
    {"fund": "FUND-007", "source": "azure"},
]


def _expected(ctx, where: str, params: dict) -> tuple[list[int], Decimal]:
    """The ids in file order and the billed total (rejected excluded), from SQL."""
    sql = (
        "SELECT c.id, c.billed_cost, c.review FROM charges c JOIN charge_details d ON d.id = c.detail_id "
        f"JOIN sources s ON s.id = c.source_id WHERE {where} "
        "ORDER BY c.period_id, c.source_id, c.import_id, c.id"
    )
    with ctx.engine.connect() as conn:
        rows = conn.execute(text(sql), params).all()
    total = sum((Decimal(r.billed_cost) / 10**12 for r in rows if r.review != "rejected"), Decimal(0))
    return [r.id for r in rows], total


@pytest.mark.parametrize("given", FILTERS, ids=lambda f: "+".join(f) or "none")
def test_pages_walk_the_filtered_set_in_file_order_with_sql_totals(loaded, given):
    from openchargeback.services import charges

    ctx = loaded
    where, params = ["1 = 1"], {}
    column = {"project": "c.project_id", "pi": "c.pi_email", "fund": "c.fund_org"}
    column |= {"service": "d.service_name", "source": "s.name"}
    for k, v in given.items():
        where.append(f"{column[k]} = :{k}")
        params[k] = v
    ids, total = _expected(ctx, " AND ".join(where), params)
    assert len(ids) > 20  # several pages
    q = charges.Query(period="2025-01", **given)
    seen, first = [], None
    while True:
        p = charges.page(ctx, q, limit=7)
        first = first or p
        seen += [r.id for r in p.rows]
        if p.next_cursor is None:
            break
        q = replace(q, after=p.next_cursor)
    assert seen == ids
    assert first.totals.rows == len(ids) and first.totals.billed == total
    # without totals (the API): the same rows, and no totals computed
    bare = charges.page(ctx, charges.Query(period="2025-01", **given), limit=7, totals=False)
    assert [r.id for r in bare.rows] == ids[:7] and bare.totals is None


def _limit_child(plan: dict) -> dict | None:
    """The node under the first Limit of an EXPLAIN (FORMAT JSON) plan."""
    if plan["Node Type"] == "Limit":
        return plan["Plans"][0]
    for sub in plan.get("Plans", []):
        found = _limit_child(sub)
        if found is not None:
            return found
    return None


@pytest.mark.parametrize("given", [{}, {"project_id": "proj-0003"}, {"pi_email": "pi3@example.edu"}])
def test_a_deep_page_is_an_index_range_scan(loaded, given):
    """The page's keys come in order from one index range, from the key on: no sort of
    the period (PostgreSQL: 0.4 s a page at 1,000,000 charges) and no scan up to the key
    (SQLite's reading of a row-value comparison: 1 s)."""
    from sqlalchemy import select

    from openchargeback.storage import charges as repo

    f = repo.ChargeFilter(period_id=1, **given)
    pieces = repo._beyond(f, "file", False, (1, 1, 1, 5))
    assert len(pieces) == 3  # the period is fixed: (source, import, id), (source, import), (source)
    stmt = select(repo._keys_page(f, "file", False, pieces[0], 51))
    sql = str(stmt.compile(dialect=loaded.engine.dialect, compile_kwargs={"literal_binds": True}))
    with loaded.engine.connect() as conn:
        if loaded.dialect == "sqlite":
            plan = " / ".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
            assert "INDEX ix_charges_period_" in plan and "id>?)" in plan and "TEMP B-TREE" not in plan, plan
            return
        conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: make the planner show its index
        plan = conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + sql).scalar_one()
    plan = plan if isinstance(plan, list) else json.loads(plan)
    child = _limit_child(plan[0]["Plan"])
    assert child is not None and child["Node Type"] in ("Index Scan", "Index Only Scan"), child
    assert "(id > 5)" in child["Index Cond"], child


def _analysed(ctx) -> dict[str, object]:
    """Table -> when PostgreSQL last analysed it (on request), for the tables pages join."""
    with ctx.engine.connect() as conn:
        return dict(
            conn.execute(
                text(
                    "SELECT relname, last_analyze FROM pg_stat_user_tables "
                    "WHERE schemaname = current_schema() "
                    "AND (relname IN ('charge_details', 'tag_sets') OR relname LIKE 'charges%')"
                )
            ).all()
        )


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_an_import_leaves_statistics_for_every_table_a_page_joins(ctx, tmp_path, monkeypatch):
    """Autovacuum may be off or late: a charge_details said empty made every page of
    charges loop over all of it (0.4 s at 1,000,000 charges). An import analyses the
    partitions it wrote, not the other periods' (charges as a whole samples them all, so
    its cost grew every month): a period's close refreshes those."""
    from openchargeback.services.ingest import loading
    from openchargeback.services.periods import change_status

    monkeypatch.setattr(loading, "ANALYZE_ROWS", 100)  # a large import's, on a small file
    generate(tmp_path / "aws_1.csv", 300, projects=10, period="2025-01")
    generate(tmp_path / "aws_2.csv", 300, projects=10, period="2025-02")
    loading.ingest(ctx, tmp_path / "aws_1.csv", "aws")
    first = _analysed(ctx)
    assert first["charges_2025_01"] and first["charge_details"] and first["tag_sets"], first
    assert first["charges"] is None, "an import leaves charges as a whole to the close"
    loading.ingest(ctx, tmp_path / "aws_2.csv", "aws")
    second = _analysed(ctx)
    assert second["charges_2025_02"] and second["charge_details"] > first["charge_details"]
    assert second["charges_2025_01"] == first["charges_2025_01"], "another period's import analysed it"
    change_status(ctx, "2025-01", "close", force=True, reason="test")
    closed = _analysed(ctx)
    assert closed["charges"] is not None and closed["charges_2025_02"] > second["charges_2025_02"]


def test_many_readers_finding_a_rollup_stale_rebuild_it_once(loaded):
    from openchargeback.services.insights import refresh
    from openchargeback.storage import rollups

    ctx = loaded
    refresh(ctx)
    with ctx.engine.connect() as conn:
        before = conn.execute(text("SELECT count(*), sum(rows) FROM charge_rollups")).one()
    errors: list[BaseException] = []
    for _ in range(3):
        with ctx.write() as conn:
            rollups.invalidate(conn, 1)
        gate = threading.Barrier(8)

        def reader(gate: threading.Barrier = gate) -> None:
            try:
                gate.wait()
                refresh(ctx)
            except BaseException as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=reader) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    with ctx.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*), sum(rows) FROM charge_rollups")).one() == before
        assert conn.execute(text("SELECT count(*) FROM rollup_state")).scalar_one() == 1
