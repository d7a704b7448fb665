"""Web load benchmark (issue 15): a period of N charges on PostgreSQL, C concurrent
logged-in users browsing for S seconds (dashboard, charges: first, filtered and deep
pages, projects, the review queue) while an import of M rows runs as a job on a separate
`openchargeback worker`; once with each number of web processes (`serve --workers W`).
Prints requests per second, p50/p95/p99 and errors per run, and the import's time.

    python bench/web_load.py [--charges 1000000] [--import-rows 200000] [--users 50]
                             [--seconds 60] [--workers 1,2] [--think S] [--db-url URL]

The database is a fresh schema of --db-url (default: the test PostgreSQL), dropped at
the end. The load generator runs on the same machine as the server: on a small machine
it takes a share of the CPU the server would otherwise have. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from focusgen import generate  # noqa: E402
from pgschema import DEFAULT_DB, fresh_schema  # noqa: E402
from webserver import _free_port  # noqa: E402

PASSWORD = "bench-password-123"


def _config(tmp: Path, url: str) -> Path:
    cfg = tmp / "config.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "database": {"url": url},
                "dev_mode": True,  # plain http on 127.0.0.1: cookies without Secure
                "sources": [{"name": "aws", "display_name": "Amazon Web Services"}],
                "server": {
                    "secret_key": "bench-" + "k7Qz9xLm2Rp4Tw8Y" * 3,
                    "data_dir": str(tmp / "up"),
                    "max_upload_mb": 2000,
                },
                "jobs": {"serve_runs_worker": False},  # the import runs on `worker`
            }
        )
    )
    return cfg


def _load(cfg: Path, tmp: Path, charges: int) -> None:
    from openchargeback.config import load_settings
    from openchargeback.services import users
    from openchargeback.services.context import build_context
    from openchargeback.services.ingest.loading import ingest

    ctx = build_context(load_settings(cfg), actor="bench")
    path = tmp / "aws_2025-01.csv"
    t0 = time.perf_counter()
    generate(path, charges)
    print(f"generated {charges:,} charges in {time.perf_counter() - t0:.1f} s", flush=True)
    t0 = time.perf_counter()
    result = ingest(ctx, path, "aws", "2025-01")
    print(f"loaded them (ingest service) in {time.perf_counter() - t0:.1f} s", flush=True)
    path.unlink()
    assert result.rows == charges
    users.add_user(ctx, "bench", PASSWORD, "admin")
    ctx.engine.dispose()


class Server:
    """`serve --workers W` and one `worker`, as separate processes."""

    def __init__(self, cfg: Path, tmp: Path, workers: int):
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "openchargeback"]
        self.logs = [open(tmp / f"serve-{workers}.log", "wb"), open(tmp / f"worker-{workers}.log", "wb")]  # noqa: SIM115
        self.procs = [
            subprocess.Popen(
                [*args, "serve", "-c", str(cfg), "--port", str(self.port), "--workers", str(workers)],
                stdout=self.logs[0],
                stderr=subprocess.STDOUT,
            ),
            subprocess.Popen(
                [*args, "worker", "-c", str(cfg)], stdout=self.logs[1], stderr=subprocess.STDOUT
            ),
        ]
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                self.stop()
                raise SystemExit(f"server did not start; see {tmp}")
            time.sleep(0.3)

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
        for log in self.logs:
            log.close()


async def _login(client: httpx.AsyncClient) -> str:
    page = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = await client.post(
        "/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token, "next": "/"}
    )
    assert r.status_code == 303, r.text[:300]
    account = await client.get("/account")
    return re.search(r'name="csrf_token" value="([^"]+)"', account.text).group(1)


def _pages(deep_after: str) -> list[tuple[str, str]]:
    return [
        ("dashboard", "/?period=2025-01"),
        ("charges", "/charges?period=2025-01"),
        (
            "charges filtered",
            "/charges?period=2025-01&project=proj-0042&service=Amazon+Relational+Database+Service",
        ),
        ("charges PI", "/charges?period=2025-01&pi=pi7@example.edu"),
        ("charges deep", f"/charges?period=2025-01&after={deep_after}"),
        ("projects", "/projects?period=2025-01"),
        ("review queue", "/review?period=2025-01"),
    ]


async def _user(client, pages, until: float, rng: random.Random, out: dict, think: float) -> None:
    while time.monotonic() < until:
        if think:  # a person reads a page before the next: 0 makes every user a busy loop
            await asyncio.sleep(rng.uniform(0, 2 * think))
        name, path = rng.choice(pages)
        t0 = time.perf_counter()
        try:
            r = await client.get(path)
            ok, why = r.status_code == 200, f"{name}: HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            ok, why = False, f"{name}: {type(exc).__name__}"
        ms = (time.perf_counter() - t0) * 1000
        out["all"].append(ms)
        out.setdefault(name, []).append(ms)
        if not ok:
            out["errors"] += 1
            out["why"][why] = out["why"].get(why, 0) + 1


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def _run(base: str, users: int, seconds: int, import_file: Path, think: float) -> dict:
    limits = httpx.Limits(max_connections=users + 5)
    clients = [httpx.AsyncClient(base_url=base, timeout=120, limits=limits) for _ in range(users)]
    try:
        csrfs = [await _login(c) for c in clients]
        html = (await clients[0].get("/charges/rows?period=2025-01")).text
        first_id = int(re.search(r'href="/charges/(\d+)"', html).group(1))
        from openchargeback.services.charges import encode_cursor

        pages = _pages(encode_cursor((1, 1, 1, first_id + int(_charges * 0.98))))
        for _name, path in pages:  # each page once, warm
            assert (await clients[0].get(path)).status_code == 200, path
        # the import, as a job, while the users browse
        started = time.monotonic()
        r = await clients[0].post(
            "/imports/upload",
            params={"filename": import_file.name, "source": "aws"},
            content=import_file.read_bytes(),
            headers={"X-CSRF-Token": csrfs[0]},
        )
        assert r.status_code == 200, r.text[:300]
        job = re.search(r'id="job-(\d+)"', r.text).group(1)
        out: dict = {"all": [], "errors": 0, "why": {}}
        until = time.monotonic() + seconds
        t0 = time.monotonic()
        users = (_user(c, pages, until, random.Random(i), out, think) for i, c in enumerate(clients))
        await asyncio.gather(*users)
        elapsed = time.monotonic() - t0
        status, import_s = "running", None
        while time.monotonic() - started < 3600:
            html = (await clients[0].get(f"/imports/jobs/{job}")).text
            status = re.search(r'data-status="(\w+)"', html).group(1)
            if status in ("done", "failed", "interrupted"):
                import_s = time.monotonic() - started
                if status != "done":
                    print(re.sub(r"<[^>]+>", " ", html)[:500])
                break
            await asyncio.sleep(1)
        out.update(elapsed=elapsed, import_status=status, import_seconds=import_s)
        return out
    finally:
        for c in clients:
            await c.aclose()


_charges = 0


def main() -> None:
    global _charges
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--charges", type=int, default=1_000_000)
    ap.add_argument("--import-rows", type=int, default=200_000)
    ap.add_argument("--users", type=int, default=50)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--workers", default="1,2", help="web process counts to run, e.g. 1,2")
    ap.add_argument("--think", type=float, default=0.0, help="mean seconds a user waits between pages")
    ap.add_argument("--db-url", default=DEFAULT_DB, help="PostgreSQL server (a fresh schema is used)")
    args = ap.parse_args()
    _charges = args.charges
    results = []
    with fresh_schema(args.db_url) as url, tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        cfg = _config(tmp, url)
        _load(cfg, tmp, args.charges)
        for n, workers in enumerate(int(w) for w in args.workers.split(",")):
            period = f"2025-{n + 2:02d}"  # a new period each run: nothing to replace
            imp = tmp / f"aws_{period}.csv"
            generate(imp, args.import_rows, period=period, seed=100 + n)
            server = Server(cfg, tmp, workers)
            try:
                out = asyncio.run(_run(server.base, args.users, args.seconds, imp, args.think))
            finally:
                server.stop()
            imp.unlink()
            results.append((workers, out))
            _print(workers, out, args)
    print(
        f"\n{'web processes':>13} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'import':>14}   ({args.charges:,} charges, {args.users} users, think {args.think} s, "
        f"{args.seconds} s, import of {args.import_rows:,} rows)"
    )
    for workers, out in results:
        imp = f"{out['import_seconds']:.0f} s" if out["import_seconds"] else out["import_status"]
        print(
            f"{workers:>13} {len(out['all']) / out['elapsed']:>7.1f} {_pct(out['all'], 0.5):>8.0f} "
            f"{_pct(out['all'], 0.95):>8.0f} {_pct(out['all'], 0.99):>8.0f} {out['errors']:>7} {imp:>14}"
        )


def _print(workers: int, out: dict, args) -> None:
    print(f"\n{workers} web process(es): {len(out['all']):,} requests in {out['elapsed']:.0f} s")
    print(f"{'page':<18} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for name, values in out.items():
        if name in ("all", "errors") or not isinstance(values, list):
            continue
        print(
            f"{name:<18} {len(values):>6} {statistics.median(values):>8.0f} "
            f"{_pct(values, 0.95):>8.0f} {_pct(values, 0.99):>8.0f}"
        )
    why = "".join(f"; {k} x{n}" for k, n in sorted(out["why"].items()))
    print(f"errors: {out['errors']}{why}; import job: {out['import_status']}", flush=True)


if __name__ == "__main__":
    main()
