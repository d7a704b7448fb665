"""Statements benchmark: a period of N charges over P projects (bench/focusgen.py),
imported into SQLite, reviewed (pending charges approved) and closed; then `generate`
is timed: P statements, PDFs printed and stored. Also one project of M charges.
Each step runs in a fresh process so that its peak RSS is its own; the PDF printing
pool's workers are reported apart.

    python bench/statements.py [--rows 1000000] [--projects 1000] [--single 100000]

Targets (2 cores): 1,000 statements from 1,000,000 charges in at most 180 s with peak
RSS at most 1.5 GB; one project of 100,000 charges in at most 5 s.
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
            "sources": [{"name": "aws", "display_name": "Amazon Web Services"}],
            "statements": {
                "output_dir": out,
                "number_prefix": "BENCH",
                "branding": {"organisation": "Research Computing Services", "currency_symbol": "$"},
            },
        }
    )


def prepare(url: str, path: str, out: str) -> dict:
    """Import, approve what is pending, close."""
    from openchargeback.services import review as review
    from openchargeback.services.context import build_context
    from openchargeback.services.ingest.loading import ingest
    from openchargeback.services.periods import change_status

    ctx = build_context(_settings(url, out), actor="bench")
    t0 = time.perf_counter()
    result = ingest(ctx, path, "aws")
    t1 = time.perf_counter()
    approved = review.approve(ctx, "2025-01", review.Selection(status="pending"), note="bench")
    change_status(ctx, "2025-01", "close")
    return {
        "rows": result.rows,
        "ingest_s": round(t1 - t0, 1),
        "approved_pending": approved.count,
        "review_close_s": round(time.perf_counter() - t1, 1),
    }


def run_generate(url: str, out: str) -> dict:
    import os
    import threading

    import psutil

    from openchargeback.services.context import build_context
    from openchargeback.services.statements.generation import generate

    me = psutil.Process()
    peak = {"total": 0, "worker": 0}
    stop = threading.Event()

    def watch() -> None:  # this process plus its PDF workers, every 0.2 s
        while not stop.is_set():
            try:
                kids = [c.memory_info().rss for c in me.children(recursive=True)]
                total = me.memory_info().rss + sum(kids)
                peak["total"] = max(peak["total"], total)
                peak["worker"] = max([peak["worker"], *kids])
            except psutil.Error:
                pass
            stop.wait(0.2)

    threading.Thread(target=watch, daemon=True).start()
    ctx = build_context(_settings(url, out), actor="bench")
    load = os.getloadavg()[0]
    cpu0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    marks: list[float] = []

    def progress(done: int, total: int) -> None:
        if done == 1 or done == total:
            marks.append(time.perf_counter())

    t0 = time.perf_counter()
    result = generate(ctx, "2025-01", progress=progress)
    seconds = time.perf_counter() - t0
    end = time.perf_counter()
    stop.set()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(b.ru_utime + b.ru_stime - a.ru_utime - a.ru_stime for a, b in zip(cpu0, cpu1, strict=True))
    self_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pages = sum(1 for s in result.statements if s.path)
    total = sum(s.due_total for s in result.statements)
    return {
        "statements": len(result.statements),
        "files": pages,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu, 1),
        "load_before": round(load, 1),
        "peak_rss_mb": round(self_mb),
        "peak_total_rss_mb": round(peak["total"] / 2**20),
        "worker_peak_rss_mb": round(peak["worker"] / 2**20),
        "due_total": str(total),
        "approved_totals": {c: str(a) for c, a in result.approved_totals},
        "charges": sum(s.charge_count for s in result.statements),
        "phases": {
            "read_and_build": round(marks[0] - t0, 1) if marks else None,
            "print": round(marks[-1] - marks[0], 1) if marks else None,
            "store": round(end - marks[-1], 1) if marks else None,
        },
    }


def _child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"step {args[0]} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000, help="charges of the period case (0: skip)")
    ap.add_argument("--projects", type=int, default=1000)
    ap.add_argument("--single", type=int, default=100_000, help="charges of the one-project case (0: skip)")
    ap.add_argument("--step", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:
        name, *rest = args.step
        print(json.dumps(prepare(*rest) if name == "prepare" else run_generate(*rest)))
        return
    from focusgen import generate

    with tempfile.TemporaryDirectory() as tmp:
        cases = [("period", args.rows, args.projects)] if args.rows else []
        if args.single:
            cases.append(("one project", args.single, 1))
        for label, rows, projects in cases:
            path = Path(tmp) / f"focus_{label.replace(' ', '_')}.csv"
            t0 = time.perf_counter()
            expected = generate(path, rows, projects=projects)
            print(
                f"[{label}] generated {rows:,} charges over {projects:,} project(s) in "
                f"{time.perf_counter() - t0:.0f} s; BilledCost {expected}"
            )
            url = f"sqlite:///{tmp}/{label.replace(' ', '_')}.db"
            out = f"{tmp}/out_{label.replace(' ', '_')}"
            p = _child("--step", "prepare", url, str(path), out)
            print(
                f"[{label}] imported {p['rows']:,} rows in {p['ingest_s']} s; approved "
                f"{p['approved_pending']:,} pending and closed in {p['review_close_s']} s"
            )
            r = _child("--step", "generate", url, out)
            print(
                f"[{label}] generate: {r['statements']:,} statements ({r['files']:,} PDFs) from "
                f"{r['charges']:,} charges in {r['seconds']} s ({r['cpu_seconds']} CPU-s; load average "
                f"{r['load_before']} before); peak RSS {r['peak_rss_mb']:,} MB, with the PDF workers "
                f"{r['peak_total_rss_mb']:,} MB (a worker at most {r['worker_peak_rss_mb']:,} MB); "
                f"amount due {r['due_total']} = approved {r['approved_totals']}"
            )
            ph = r["phases"]
            print(
                f"[{label}]   phases: read, sum and build until the first PDF {ph['read_and_build']} s, "
                f"print the PDFs {ph['print']} s, store and write files {ph['store']} s"
            )


if __name__ == "__main__":
    main()
