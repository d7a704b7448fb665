"""CLI start-up benchmark: how long a cron line waits for `openchargeback` to begin.

Builds a small instance in a temporary directory (a config and a SQLite database with
one sample import), then runs `openchargeback --version` and
`openchargeback report totals -p PERIOD -c CONFIG` as fresh processes, N times each,
and prints the median wall time (with min, max and the median CPU time, which shows
how much of the wall time was waiting for a busy machine) and the peak RSS of each
against its target.

    python bench/cli_start.py [--runs 5] [--check] [--src DIR]

--check exits 1 when a median is over its target; --src DIR runs the code in DIR (for
instance an older checkout's src/) instead of the installed package.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "inputs" / "aws_2025-01.csv"
PERIOD = "2025-01"
TARGETS = {"--version": 0.3, "report totals": 0.8}  # seconds, median


def command() -> list[str]:
    """The installed console script, or the same entry point through this Python."""
    script = Path(sys.executable).with_name("openchargeback")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from openchargeback.cli.app import main; main()"]


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS in MiB) of one process, its own rusage
    from wait4."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}: {err}")
    if proc.stderr:
        proc.stderr.close()
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # KiB on Linux


def build_instance(base: Path, cli: list[str], env: dict[str, str]) -> Path:
    config = base / "config.yaml"
    config.write_text(
        f"database:\n  url: sqlite:///{base / 'billing.db'}\n"
        "currency: USD\n"
        "sources:\n  - name: aws\n    display_name: Amazon Web Services\n"
    )
    subprocess.run(
        [*cli, "ingest", str(SAMPLE), "-s", "aws", "-p", PERIOD, "-c", str(config)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return config


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--check", action="store_true", help="exit 1 when a median is over its target")
    ap.add_argument("--src", type=Path, help="run the openchargeback package found in this directory")
    args = ap.parse_args()

    env = dict(os.environ)
    env.pop("OPENCHARGEBACK_CONFIG", None)
    if args.src:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(args.src.resolve()), env.get("PYTHONPATH")]))
    cli = command()
    over = []
    with tempfile.TemporaryDirectory(prefix="ocb-cli-start-") as tmp:
        config = build_instance(Path(tmp), cli, env)
        cases = {
            "--version": [*cli, "--version"],
            "report totals": [*cli, "report", "totals", "-p", PERIOD, "-c", str(config)],
        }
        print(f"{'command':<16} {'median':>8} {'min':>7} {'max':>7} {'CPU':>7} {'peak RSS':>9} {'target':>7}")
        for name, argv in cases.items():
            run_once(argv, env)  # warm the page cache and the .pyc files once
            runs = [run_once(argv, env) for _ in range(args.runs)]
            times = [t for t, _, _ in runs]
            median, peak = statistics.median(times), max(m for _, _, m in runs)
            cpu = statistics.median(c for _, c, _ in runs)
            target = TARGETS[name]
            flag = "" if median <= target else "  OVER"
            print(
                f"{name:<16} {median:>7.3f}s {min(times):>6.3f}s {max(times):>6.3f}s "
                f"{cpu:>6.3f}s {peak:>5.0f} MiB {target:>6.1f}s{flag}"
            )
            if median > target:
                over.append(name)
    return 1 if args.check and over else 0


if __name__ == "__main__":
    sys.exit(main())
