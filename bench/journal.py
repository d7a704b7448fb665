"""Journal benchmark: a period of N charges over P projects (bench/focusgen.py), imported
into SQLite, reviewed (pending charges approved) and closed; then each built-in format is
exported in a fresh process, timed, with its peak RSS.

    python bench/journal.py [--rows 1000000] [--projects 1000] [--formats gl summary standard]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def _settings(url: str, out: str):
    from openchargeback.config import Settings

    return Settings.model_validate(
        {
            "database": {"url": url},
            "sources": [
                {
                    "name": "aws",
                    "display_name": "Amazon Web Services",
                    "gl_fund_org": "RC-CLOUD-0001",
                    "gl_account": "4410",
                }
            ],
            "journal": {"output_dir": out},
        }
    )


def prepare(url: str, path: str, out: str) -> dict:
    from openchargeback.services import review as review
    from openchargeback.services.context import build_context
    from openchargeback.services.ingest.loading import ingest
    from openchargeback.services.periods import change_status

    ctx = build_context(_settings(url, out), actor="bench")
    t0 = time.perf_counter()
    result = ingest(ctx, path, "aws")
    t1 = time.perf_counter()
    review.correct(
        ctx,
        "2025-01",
        review.Selection(status="all", reason="missing_fund_org"),
        fund_org="BENCH-0001",
        note="bench",
    )  # a journal needs every fund/org
    review.approve(ctx, "2025-01", review.Selection(status="pending"), note="bench")
    change_status(ctx, "2025-01", "close")
    return {"rows": result.rows, "ingest_s": round(t1 - t0, 1), "close_s": round(time.perf_counter() - t1, 1)}


def run_export(url: str, out: str, fmt: str) -> dict:
    from openchargeback.services.context import build_context
    from openchargeback.services.journal.export import export_journal

    ctx = build_context(_settings(url, out), actor="bench")
    t0 = time.perf_counter()
    r = export_journal(ctx, "2025-01", fmt)
    seconds = time.perf_counter() - t0
    return {
        "format": fmt,
        "seconds": round(seconds, 1),
        "rows": r.export.rows,
        "bytes": r.export.size_bytes,
        "balanced": r.export.balanced,
        "charged": {t.currency: str(t.charged) for t in r.export.totals},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"step {args[1]} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--projects", type=int, default=1000)
    ap.add_argument("--formats", nargs="+", default=["gl", "summary", "standard"])
    ap.add_argument("--step", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:
        name, *rest = args.step
        print(json.dumps(prepare(*rest) if name == "prepare" else run_export(*rest)))
        return
    from focusgen import generate

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "focus.csv"
        t0 = time.perf_counter()
        expected = generate(path, args.rows, projects=args.projects)
        print(
            f"generated {args.rows:,} charges over {args.projects:,} projects in "
            f"{time.perf_counter() - t0:.0f} s; BilledCost {expected}"
        )
        url, out = f"sqlite:///{tmp}/bench.db", f"{tmp}/journals"
        p = _child("--step", "prepare", url, str(path), out)
        print(f"imported {p['rows']:,} rows in {p['ingest_s']} s; approved and closed in {p['close_s']} s")
        for fmt in args.formats:
            r = _child("--step", "export", url, out, fmt)
            print(
                f"export-journal -f {fmt}: {r['rows']:,} rows, {r['bytes']:,} bytes in {r['seconds']} s; "
                f"peak RSS {r['peak_rss_mb']:,} MB; charged {r['charged']}"
                + ("" if fmt in ("standard", "summary") else f"; balanced {r['balanced']}")
            )


if __name__ == "__main__":
    main()
