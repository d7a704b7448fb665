"""Ingest benchmark: generate an N-row FOCUS 1.2 file, time `ingest` into SQLite and
PostgreSQL, print rows/s and peak RSS. Each backend runs in a fresh process so that
its peak RSS is its own.

    python bench/ingest.py --rows 1000000 [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
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
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def run_one(url: str, path: str, reset: bool, period: str | None = None) -> dict:
    from openchargeback.config import Settings
    from openchargeback.services.context import build_context
    from openchargeback.services.ingest.loading import ingest

    if reset and url.startswith("postgresql"):
        from sqlalchemy import create_engine, text

        eng = create_engine(url)
        with eng.begin() as conn:  # the schema of the URL's search_path (public by default)
            schema = conn.execute(text("SHOW search_path")).scalar_one().split(",")[0].strip().strip('"')
            schema = "public" if schema.startswith("$") else schema
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"'))
        eng.dispose()
    settings = Settings.model_validate({"database": {"url": url}, "sources": [{"name": "aws"}]})
    ctx = build_context(settings, actor="bench")
    t0 = time.perf_counter()
    result = ingest(ctx, path, "aws", period)  # a period other than the file's flags every row
    seconds = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "rows": result.rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(result.rows / seconds),
        "peak_rss_mb": round(peak_mb),
        "flagged": result.flagged,
        "write_s": result.write_seconds,
        "billed": str(next(t.stored_total for t in result.totals if t.column == "BilledCost")),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument(
        "--pg",
        default=os.environ.get("OPENCHARGEBACK_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    )
    ap.add_argument("--skip-pg", action="store_true")
    ap.add_argument("--skip-sqlite", action="store_true")
    ap.add_argument("--all-flagged", action="store_true", help="import with -p 2024-12: every row flagged")
    ap.add_argument("--one", nargs=2, metavar=("URL", "FILE"), help=argparse.SUPPRESS)
    ap.add_argument("--period", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], args.one[1], reset=True, period=args.period)))
        return
    from focusgen import generate

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"focus_{args.rows}.csv"
        t0 = time.perf_counter()
        expected = generate(path, args.rows)
        print(
            f"generated {args.rows:,} rows ({path.stat().st_size / 1e6:,.0f} MB) "
            f"in {time.perf_counter() - t0:.1f} s; BilledCost {expected}"
        )
        targets = [] if args.skip_sqlite else [("sqlite", f"sqlite:///{tmp}/bench.db")]
        if not args.skip_pg:
            targets.append(("postgresql", args.pg))
        for name, url in targets:
            out = subprocess.run(
                [sys.executable, __file__, "--one", url, str(path)]
                + (["--period", "2024-12"] if args.all_flagged else []),
                capture_output=True,
                text=True,
            )
            if out.returncode:
                print(f"{name}: failed\n{out.stderr}")
                continue
            r = json.loads(out.stdout)
            ok = "matches" if r["billed"].rstrip("0") == str(expected).rstrip("0") else "DIFFERS from"
            print(
                f"{name:<10} {r['rows']:>10,} rows in {r['seconds']:>6.2f} s = "
                f"{r['rows_per_s']:>8,} rows/s, peak RSS {r['peak_rss_mb']:,} MB, "
                f"{r['flagged']:,} flagged, write lock/transaction {r['write_s']} s; "
                f"billed total {ok} the file"
            )


if __name__ == "__main__":
    main()
