"""Slurm conversion benchmark: generate N sacct --parsable2 job lines (allocations of
several accounts, partitions, QOS, GPU types and states; some crossing a month end),
convert them to FOCUS through the same service call as `openchargeback convert slurm`,
print lines/s and peak RSS. The target: 1,000,000 lines in at most 20 s on 2 cores.

    python bench/convert.py --lines 1000000 [--steps] [--ledger]

--steps adds a .batch and an .extern step row per job (3x the lines; steps are read and
skipped). --ledger uses the example rate table with allowances (SQLite ledger); the
default drops its subsidies so that no database is involved.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = (
    "JobID|JobIDRaw|JobName|Account|User|Partition|QOS|State|ExitCode|Start|End|Elapsed|"
    "ElapsedRaw|AllocCPUS|ReqMem|AllocTRES|ReqTRES|TRESUsageInTot|NodeList"
)
ACCOUNTS = ["genomics", "climate", "physics", "acme", "chem", "bio", "astro", ""]
USERS = [f"user{i:03d}" for i in range(200)]
STATES = ["COMPLETED"] * 12 + ["FAILED", "CANCELLED by 0", "TIMEOUT", "OUT_OF_MEMORY", "PENDING"]


def generate(path: Path, lines: int, steps: bool, seed: int = 8) -> int:
    rnd = random.Random(seed)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    written = 0
    with open(path, "w") as f:
        f.write(HEADER + "\n")
        for i in range(1, lines + 1):
            start = base + timedelta(seconds=rnd.randrange(0, 31 * 86400))
            secs = rnd.choice((30, 300, 3600, 7200, 86400, 3 * 86400))
            end = start + timedelta(seconds=secs)
            gpu = rnd.random() < 0.2
            part = "gpu" if gpu else rnd.choice(("cpu", "cpu", "bigmem"))
            cpus = rnd.choice((1, 2, 4, 8, 16, 32))
            mem = rnd.choice(("500M", "1G", "4G", "16000M", "64G"))
            tres = f"billing={cpus},cpu={cpus},mem={mem},node=1"
            if gpu:
                t = rnd.choice(("a100", "v100"))
                n = rnd.choice((1, 2, 4))
                tres = f"billing={cpus + 4 * n},cpu={cpus},gres/gpu:{t}={n},gres/gpu={n},mem={mem},node=1"
            state = rnd.choice(STATES)
            s, e = start.strftime("%Y-%m-%dT%H:%M:%S"), end.strftime("%Y-%m-%dT%H:%M:%S")
            if state == "PENDING":
                s = e = "Unknown"
            acct = rnd.choice(ACCOUNTS)
            f.write(
                f"{i}|{i}|job{i % 977}|{acct}|{rnd.choice(USERS)}|{part}|"
                f"{rnd.choice(('normal', 'normal', 'high'))}|{state}|0:0|{s}|{e}|00:00:00|{secs}|"
                f"{cpus}|{mem}|{tres}|{tres}||node{i % 64:03d}\n"
            )
            written += 1
            if steps:
                for step in ("batch", "extern"):
                    f.write(
                        f"{i}.{step}|{i}.{step}|{step}|{acct}||||COMPLETED|0:0|{s}|{e}|00:00:00|{secs}|"
                        f"{cpus}||cpu={cpus},mem={mem},node=1||cpu=00:00:01,mem=2000K|node{i % 64:03d}\n"
                    )
                    written += 1
    return written


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--steps", action="store_true")
    ap.add_argument("--ledger", action="store_true")
    ap.add_argument("--per-job", action="store_true")
    args = ap.parse_args()

    import yaml

    from openchargeback.config import Settings
    from openchargeback.services.context import build_context
    from openchargeback.services.convert.conversion import ConvertRequest, convert

    with tempfile.TemporaryDirectory() as tmp:
        tmpd = Path(tmp)
        sacct = tmpd / "sacct.txt"
        t0 = time.perf_counter()
        n = generate(sacct, args.lines, args.steps)
        print(
            f"generated {n:,} sacct lines ({sacct.stat().st_size / 1e6:,.0f} MB) "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        rates = ROOT / "sample_data" / "rates" / "rates.example.yaml"
        table = yaml.safe_load(rates.read_text())
        for qos, price in ((None, "0.015"), ("high", "0.02")):
            table["rates"].append(
                {
                    "service": "hpc",
                    "resource": "cpu",
                    "partition": "bigmem",
                    "qos": qos,
                    "unit": "core-hour",
                    "price": price,
                    "from": "2025-07-01",
                }
            )
        if not args.ledger:
            table.pop("subsidies")
        table_path = tmpd / "rates.yaml"
        table_path.write_text(yaml.safe_dump(table))
        ctx = None
        if args.ledger:
            ctx = build_context(
                Settings.model_validate({"database": {"url": f"sqlite:///{tmp}/b.db"}}), actor="bench"
            )
        t0, c0 = time.perf_counter(), time.process_time()
        r = convert(
            ConvertRequest(
                "slurm",
                (sacct,),
                tmpd / "out.csv",
                table_path,
                ROOT / "sample_data" / "attribution" / "attribution.example.yaml",
                per_job=args.per_job,
            ),
            ctx=ctx,
        )
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rep = r.report
        print(
            f"converted {rep['records']:,} lines ({rep['used']:,} billable allocations) in {secs:.2f} s "
            f"(CPU {cpu:.2f} s) = {rep['records'] / secs:,.0f} lines/s; {r.rows:,} FOCUS rows; "
            f"peak RSS {peak:,.0f} MB; load average {os.getloadavg()[0]:.1f}"
        )
        print(
            f"  list {r.list_total:.2f}, billed {r.billed_total:.2f} {r.currency}; "
            f"skipped {sum(rep['skipped'].values()):,}; ledger runs {len(r.ledger)}"
        )
        verdict = "within" if secs <= 20 or args.lines < 1_000_000 else "OVER"
        print(f"  target: 1,000,000 lines in <= 20 s: {verdict} ({secs:.2f} s)")
        if ctx:
            ctx.engine.dispose()
    sys.exit(0)


if __name__ == "__main__":
    main()
