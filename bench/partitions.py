"""Partitioning benchmark (issue 15): P periods of N charges on PostgreSQL, each imported by
the ingest service; then a `--replace` of one period's file (N new rows) and the dashboard
of another period, once with charges partitioned by period (this version's schema) and
once with the one table it had before migration 0017.

    python bench/partitions.py [--rows-per-period 1000000] [--periods 10]
                               [--layouts unpartitioned,partitioned] [--db-url URL]

Each layout gets a fresh schema of --db-url (default: the test PostgreSQL), dropped at the
end. "unpartitioned" is the head schema with charges turned back into one table the way
migration 0017's downgrade does, and no partition made for a new period. Not part of the
test suite.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from focusgen import generate  # noqa: E402
from pgschema import DEFAULT_DB, fresh_schema  # noqa: E402

MIGRATION = HERE.parent / "src/openchargeback/storage/migrations/versions/0017_charge_partitions.py"


def _unpartition(engine) -> None:
    """charges as one table (primary key id), as before migration 0017."""
    spec = importlib.util.spec_from_file_location("m0017", MIGRATION)
    assert spec is not None and spec.loader is not None
    mig = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mig)
    with engine.begin() as conn:
        indexes, fks = mig._swap_out(conn)
        conn.exec_driver_sql(f"CREATE TABLE charges (LIKE {mig._OLD} INCLUDING DEFAULTS)")
        conn.exec_driver_sql("ALTER TABLE charges ADD CONSTRAINT charges_pkey PRIMARY KEY (id)")
        mig._swap_in(conn, indexes, fks)


def _run(url: str, layout: str, rows: int, count: int, tmp: Path) -> dict[str, float]:
    from openchargeback.storage import partitions, staging

    add, attached, direct_to = partitions.add, partitions.attached, staging.PostgresStage.direct_to
    try:
        if layout == "unpartitioned":  # one table: nothing to attach to it, nor to fill first
            partitions.add = lambda *args, **kw: None
            partitions.attached = lambda conn: _Every()
            staging.PostgresStage.direct_to = lambda *args, **kw: None  # type: ignore[method-assign]
        return _measure(url, layout, rows, count, tmp)
    finally:
        partitions.add, partitions.attached = add, attached
        staging.PostgresStage.direct_to = direct_to  # type: ignore[method-assign]


class _Every:
    """Every period "has its partition" in the one-table layout."""

    def __contains__(self, period_id: object) -> bool:
        return True


def _measure(url: str, layout: str, rows: int, count: int, tmp: Path) -> dict[str, float]:
    from openchargeback.config import Settings
    from openchargeback.services.context import build_context
    from openchargeback.services.ingest.loading import ingest
    from openchargeback.services.insights import dashboard

    cfg = {"database": {"url": url}, "sources": [{"name": "aws", "display_name": "Amazon Web Services"}]}
    ctx = build_context(Settings.model_validate(cfg), actor="bench")
    if layout == "unpartitioned":
        _unpartition(ctx.engine)
    names = [f"{2024 + (m // 12)}-{m % 12 + 1:02d}" for m in range(count)]
    path = tmp / "aws.csv"
    load = 0.0
    for n, name in enumerate(names):
        generate(path, rows, period=name, seed=n)
        t0 = time.perf_counter()
        assert ingest(ctx, path, "aws", name).rows == rows
        load += time.perf_counter() - t0
        print(f"  {layout}: {name} loaded ({(n + 1) * rows:,} charges)", flush=True)
    with ctx.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    replaced, shown = names[len(names) // 2], names[len(names) // 2 - 1]
    generate(path, rows, period=replaced, seed=1000)
    t0 = time.perf_counter()
    assert ingest(ctx, path, "aws", replaced, replace=True).rows == rows
    replace = time.perf_counter() - t0
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        dashboard(ctx, shown)
        times.append(time.perf_counter() - t0)
    with ctx.engine.connect() as conn:  # the table, or its partitions, with their indexes
        size = conn.execute(
            text(
                "SELECT coalesce((SELECT sum(pg_total_relation_size(relid)) "
                "FROM pg_partition_tree('charges')), pg_total_relation_size('charges'))"
            )
        ).scalar_one()
    ctx.engine.dispose()
    path.unlink()
    return {
        "load": load,
        "replace": replace,
        "dashboard_first": times[0],
        "dashboard_again": statistics.median(times[1:]),
        "mb": size / 2**20,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows-per-period", type=int, default=1_000_000)
    ap.add_argument("--periods", type=int, default=10)
    ap.add_argument("--layouts", default="unpartitioned,partitioned")
    ap.add_argument("--db-url", default=DEFAULT_DB, help="PostgreSQL server (a fresh schema each layout)")
    args = ap.parse_args()
    results = {}
    for layout in args.layouts.split(","):
        if layout not in ("unpartitioned", "partitioned"):
            ap.error(f"unknown layout {layout!r}")
        with fresh_schema(args.db_url) as url, tempfile.TemporaryDirectory() as tmpdir:
            results[layout] = _run(url, layout, args.rows_per_period, args.periods, Path(tmpdir))
    print(
        f"\n{args.periods} periods x {args.rows_per_period:,} charges (PostgreSQL)\n"
        f"{'layout':<14} {'load s':>8} {'replace s':>10} {'dashboard s':>12} {'again s':>8} {'MB':>7}"
    )
    for layout, r in results.items():
        print(
            f"{layout:<14} {r['load']:>8.1f} {r['replace']:>10.1f} {r['dashboard_first']:>12.2f} "
            f"{r['dashboard_again']:>8.2f} {r['mb']:>7.0f}"
        )


if __name__ == "__main__":
    main()
