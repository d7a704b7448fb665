"""Ingest benchmark: generate an N-row FOCUS 1.2 file, time `ingest` into SQLite and
PostgreSQL beside a raw bulk load of the same file, print the time, rows/s, the ratio
product / raw, peak RSS and the stored totals against the file's. Every measurement
runs in a fresh process (its peak RSS is its own), per database raw load first.

    python bench/ingest.py --rows 1000000 [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
    python bench/ingest.py --rows 300000 --realistic --all-flagged --repeat 3

--realistic writes the file of issue 21 (focusgen.generate_realistic: three providers,
thousands of resources and projects, hourly charge periods, five charge categories, 10
decimals) and imports it with the example configuration's review rules; --all-flagged
then gives it fund codes that match no fund pattern. Without --realistic, --all-flagged
imports the benchmark's own file with ``-p 2024-12`` (every row ``period_mismatch``).
--repeat N runs the raw load and the import N times each, in turns, and prints the
medians (on a shared machine one run's figures can be 20 % off).

The raw load is the floor of any import: pyarrow's streaming CSV reader, every cell as
text, the Tags JSON parsed into pi_email / project_id / fund_org, written into one wide
table with no checks: ``executemany`` in one transaction on SQLite, ``COPY FROM STDIN``
on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

# the example configuration's review rules (config.example.yaml)
EXAMPLE_REVIEW = {
    "fund_org_patterns": ["[A-Z]{2,6}(-[A-Z0-9]{2,8}){1,3}"],
    "flag_patterns": [{"name": "gpu", "field": "service", "pattern": "GPU", "reason": "GPU usage"}],
    "max_charge": "5000",
    "large_credit": "500",
    "growth_percent": "50",
    "growth_amount": "1000",
}
TAG_FIELDS = ("pi_email", "project_id", "fund_org")


def _fresh_pg_schema(url: str) -> None:
    """Empty the schema of the URL's search_path (the run's own: see main)."""
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    with eng.begin() as conn:
        schema = conn.execute(text("SHOW search_path")).scalar_one().split(",")[0].strip().strip('"')
        schema = "public" if schema.startswith("$") else schema
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"'))
    eng.dispose()


def _fresh_sqlite(url: str) -> str:
    """No database file at the URL's path (an earlier run's is removed); the path."""
    db = url.removeprefix("sqlite:///")
    for suffix in ("", "-wal", "-shm"):
        Path(db + suffix).unlink(missing_ok=True)
    return db


def _peak_mb() -> int:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def run_one(url: str, path: str, period: str | None, review: bool) -> dict:
    from openchargeback.config import Settings
    from openchargeback.services.context import build_context
    from openchargeback.services.ingest.loading import ingest

    if url.startswith("postgresql"):
        _fresh_pg_schema(url)
    else:
        _fresh_sqlite(url)
    config: dict = {"database": {"url": url}, "sources": [{"name": "aws"}]}
    if review:
        config["review"] = EXAMPLE_REVIEW
    ctx = build_context(Settings.model_validate(config), actor="bench")
    t0 = time.perf_counter()
    result = ingest(ctx, path, "aws", period)  # a period other than the file's flags every row
    seconds = time.perf_counter() - t0
    return {
        "rows": result.rows,
        "seconds": round(seconds, 2),
        "peak_rss_mb": _peak_mb(),
        "flagged": result.flagged,
        "write_s": result.write_seconds,
        "totals": {
            f"{t.column} {t.currency}": [str(t.file_total), str(t.stored_total)] for t in result.totals
        },
    }


def _raw_batches(path: str):
    """(header, per batch: the columns as Python lists, the three tag fields)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    with open(path, newline="", encoding="utf-8") as fh:
        import csv

        header = next(csv.reader(fh))
    names = [f"c{i}" for i in range(len(header))]
    reader = pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 20),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}),
    )
    tags = header.index("Tags")
    for rb in reader:
        cols = [c.to_pylist() for c in rb.columns]
        parsed = [json.loads(t) if t else {} for t in cols[tags]]
        yield header, cols, [[d.get(f) for d in parsed] for f in TAG_FIELDS]


def raw_sqlite(url: str, path: str) -> dict:
    import sqlite3

    db = _fresh_sqlite(url)
    t0 = time.perf_counter()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    rows, insert = 0, None
    conn.execute("BEGIN")
    for header, cols, tag_cols in _raw_batches(path):
        if insert is None:
            names = [f'"{h}"' for h in header] + list(TAG_FIELDS)
            conn.execute(f"CREATE TABLE raw_load ({', '.join(names)})")
            insert = f"INSERT INTO raw_load VALUES ({', '.join('?' * len(names))})"
        conn.executemany(insert, zip(*cols, *tag_cols, strict=True))
        rows += len(cols[0])
    conn.execute("COMMIT")
    conn.close()
    return {"rows": rows, "seconds": round(time.perf_counter() - t0, 2), "peak_rss_mb": _peak_mb()}


def raw_pg(url: str, path: str) -> dict:
    import psycopg

    _fresh_pg_schema(url)
    t0 = time.perf_counter()
    rows = 0
    batches = _raw_batches(path)
    header, cols, tag_cols = next(batches)
    names = [f'"{h}"' for h in header] + list(TAG_FIELDS)
    with (
        psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn,
        conn.cursor() as cur,
    ):
        cur.execute(f"CREATE TABLE raw_load ({', '.join(n + ' text' for n in names)})")
        with cur.copy("COPY raw_load FROM STDIN") as copy:
            while True:
                for row in zip(*cols, *tag_cols, strict=True):
                    copy.write_row(row)
                rows += len(cols[0])
                try:
                    header, cols, tag_cols = next(batches)
                except StopIteration:
                    break
    return {"rows": rows, "seconds": round(time.perf_counter() - t0, 2), "peak_rss_mb": _peak_mb()}


def _child(*args: str) -> dict | None:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode:
        print(f"failed: {' '.join(args[:1])}\n{out.stderr}")
        return None
    result: dict = json.loads(out.stdout)
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument(
        "--pg",
        default=os.environ.get("OPENCHARGEBACK_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    )
    ap.add_argument("--skip-pg", action="store_true")
    ap.add_argument("--skip-sqlite", action="store_true")
    ap.add_argument("--skip-raw", action="store_true", help="time the import only")
    ap.add_argument("--realistic", action="store_true", help="the realistic file of issue 21")
    ap.add_argument("--all-flagged", action="store_true", help="every row flagged (see the module doc)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each, raw and product in turns; medians")
    ap.add_argument("--file", help="import this file (written by an earlier run) instead of generating one")
    ap.add_argument("--one", nargs=2, metavar=("URL", "FILE"), help=argparse.SUPPRESS)
    ap.add_argument("--raw", nargs=2, metavar=("URL", "FILE"), help=argparse.SUPPRESS)
    ap.add_argument("--period", help=argparse.SUPPRESS)
    ap.add_argument("--review", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], args.one[1], args.period, args.review)))
        return
    if args.raw:
        url, path = args.raw
        print(json.dumps(raw_sqlite(url, path) if url.startswith("sqlite") else raw_pg(url, path)))
        return
    from focusgen import generate, generate_realistic

    with tempfile.TemporaryDirectory() as tmp:
        if args.file:
            path, expected = Path(args.file), None
        else:
            kind = "realistic" if args.realistic else "focusgen"
            path = Path(tmp) / f"{kind}_{args.rows}.csv"
            t0 = time.perf_counter()
            expected = (
                generate_realistic(path, args.rows, unmatched_funds=args.all_flagged)
                if args.realistic
                else generate(path, args.rows)
            )
            print(
                f"generated {kind} file of {args.rows:,} rows ({path.stat().st_size / 1e6:,.0f} MB) "
                f"in {time.perf_counter() - t0:.1f} s; BilledCost {expected}"
            )
        flags = ["--review"] if args.realistic else []
        if args.all_flagged and not args.realistic:
            flags += ["--period", "2024-12"]
        targets = (
            [] if args.skip_sqlite else [("sqlite", f"sqlite:///{tmp}/bench.db", f"sqlite:///{tmp}/raw.db")]
        )
        schema = f"bench_ingest_{uuid.uuid4().hex[:10]}"  # a schema of its own, dropped at the end
        if not args.skip_pg:
            url = f"{args.pg}{'&' if '?' in args.pg else '?'}options=-csearch_path%3D{schema}"
            targets.append(("postgresql", url, url))
        try:
            _measure(targets, path, expected, flags, args.skip_raw, args.repeat)
        finally:
            if not args.skip_pg:
                _drop_schema(args.pg, schema)


def _drop_schema(url: str, schema: str) -> None:
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    eng.dispose()


def _measure(
    targets: list, path: Path, expected: Decimal | None, flags: list[str], skip_raw: bool, repeat: int
) -> None:
    for name, url, raw_url in targets:
        raws, runs = [], []
        for _ in range(repeat):  # raw and product in turns: a noisy machine slows both alike
            raw = None if skip_raw else _child("--raw", raw_url, str(path))
            r = _child("--one", url, str(path), *flags)
            if r is None:
                break
            runs.append(r)
            if raw is not None:
                raws.append(raw)
        if not runs:
            continue
        r = sorted(runs, key=lambda x: x["seconds"])[len(runs) // 2]  # the median run
        billed = Decimal(r["totals"]["BilledCost USD"][1])
        ok = "" if expected is None else f" ({'equals' if billed == expected else 'DIFFERS FROM'} the file's)"
        each = f" (median of {', '.join(str(x['seconds']) for x in runs)})" if len(runs) > 1 else ""
        print(
            f"{name:<10} {r['rows']:>10,} rows in {r['seconds']:>6.2f} s{each} = "
            f"{round(r['rows'] / r['seconds']):>8,} rows/s, peak RSS {r['peak_rss_mb']:,} MB, "
            f"{r['flagged']:,} flagged, write lock/transaction {r['write_s']} s"
        )
        if raws:
            raw = sorted(raws, key=lambda x: x["seconds"])[len(raws) // 2]
            each = f" (median of {', '.join(str(x['seconds']) for x in raws)})" if len(raws) > 1 else ""
            print(
                f"{'':<10} raw load {raw['seconds']:.2f} s{each} (peak RSS {raw['peak_rss_mb']:,} MB): "
                f"product / raw = {r['seconds'] / raw['seconds']:.2f}"
            )
        for column, (file_total, stored) in r["totals"].items():
            same = "=" if Decimal(file_total) == Decimal(stored) else "!="
            print(f"{'':<10} {column}: file {file_total} {same} stored {stored}")
        print(f"{'':<10} stored BilledCost {billed}{ok}")


if __name__ == "__main__":
    main()
