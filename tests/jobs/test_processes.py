"""Several processes on one PostgreSQL database: two `serve` web processes and a separate
`worker` (jobs.serve_runs_worker off). A web import and a statement generation started
through one web process are followed to completion through the other. A `kill -9` of
the worker in the middle of an import leaves the job interrupted once its lease has
passed, and the next worker runs it again (an import is repeatable); in the middle of a
send it leaves the send interrupted, and the next worker does not send again. While no
worker is alive, /readyz reports queued jobs without one."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from conftest import INPUTS, ROOT

sys.path.insert(0, str(ROOT / "bench"))
from focusgen import generate  # noqa: E402

pytestmark = pytest.mark.slow  # five processes, a 20,000-row import
PASSWORD = "correct horse battery"
LEASE = 3


def _port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Procs:
    """The processes a test starts, each logging to a file; all ended at teardown."""

    def __init__(self, tmp: Path, cfg: Path):
        self.tmp, self.cfg, self.all = tmp, cfg, []

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115
        p = subprocess.Popen(
            [sys.executable, "-m", "openchargeback", *args, "-c", str(self.cfg)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.tmp,
        )
        self.all.append((p, log))
        return p

    def web(self, name: str) -> str:
        port = _port()
        p = self.start(name, "serve", "--port", str(port))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/login", timeout=2)
                return base
            except httpx.HTTPError:
                assert p.poll() is None, (self.tmp / f"{name}.log").read_text()
                assert time.monotonic() < deadline, f"{name} did not start"
                time.sleep(0.2)

    def stop(self) -> None:
        for p, log in self.all:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            log.close()


def _kill9(p: subprocess.Popen) -> None:
    """SIGSTOP first, so that it is stopped right where it is, then SIGKILL; reaped, so
    that its pid names no process (a zombie still answers kill 0)."""
    os.kill(p.pid, signal.SIGSTOP)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(10)


def _until(what: str, check, timeout: float = 120.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


@pytest.fixture
def site(tmp_path, db_url, fault_smtp):
    from openchargeback.config import load_settings
    from openchargeback.services import users
    from openchargeback.services.context import build_context
    from statements.conftest import fault_email, statement_settings
    from web.conftest import SECRET, SOURCES

    cfg = tmp_path / "config.yaml"
    settings = {
        "database": {"url": db_url},
        "dev_mode": False,  # email through SMTP (the fault server), not the outbox
        "sources": SOURCES,
        "server": {"secret_key": SECRET, "data_dir": str(tmp_path / "data")},
        "jobs": {"serve_runs_worker": False, "lease_seconds": LEASE, "poll_seconds": 0.2},
        **statement_settings(tmp_path, email=fault_email(fault_smtp)),
    }
    cfg.write_text(yaml.safe_dump(settings))
    ctx = build_context(load_settings(cfg), actor="tests")
    users.add_user(ctx, "admin", PASSWORD, "admin")
    procs = Procs(tmp_path, cfg)
    try:
        yield ctx, procs
    finally:
        procs.stop()
        ctx.engine.dispose()


class Browser(httpx.Client):
    """A client that sends the session's cookies over plain http to 127.0.0.1: outside
    dev mode (which would send email to the outbox) they are Secure, and httpx keeps
    those for https."""

    def __init__(self):
        super().__init__(timeout=30)
        self.jar: dict[str, str] = {}

    def send(self, request, **kw):
        if self.jar:
            request.headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.jar.items())
        response = super().send(request, **kw)
        self.jar.update(response.cookies)
        return response


def _login(client: httpx.Client, base: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get(f"{base}/login").text).group(1)
    r = client.post(
        f"{base}/login", data={"username": "admin", "password": PASSWORD, "csrf_token": token, "next": "/"}
    )
    assert r.status_code == 303, r.text[:500]
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(f"{base}/account").text).group(1)


def _upload(client, base, csrf, path: Path, source: str) -> int:
    r = client.post(
        f"{base}/imports/upload",
        params={"filename": path.name, "source": source},
        content=path.read_bytes(),
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 200, r.text[:500]
    return int(re.search(r'id="job-(\d+)"', r.text).group(1))


def _status(html: str) -> str:
    return re.search(r'data-status="(\w+)"', html).group(1)


def _poll(client, url: str, statuses=("done", "failed"), timeout: float = 180.0) -> str:
    """The job's partial from ``url`` once its status is one of ``statuses``."""
    got: list[str] = []

    def check() -> bool:
        got[:] = [client.get(url).text]
        return _status(got[0]) in statuses

    _until(f"{url} to be {' or '.join(statuses)}", check, timeout, every=0.2)
    return got[0]


def _row(ctx, job_id):
    from openchargeback.storage import jobs as repo

    with ctx.read() as conn:
        return repo.get(conn, job_id)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_two_web_processes_and_workers_that_die(site, tmp_path, fault_smtp):
    from openchargeback.services import jobs
    from openchargeback.services.periods import change_status

    ctx, procs = site
    web1, web2 = procs.web("web1"), procs.web("web2")
    worker_a = procs.start("worker-a", "worker")
    client = Browser()  # one session for both web processes: it lives in the database
    csrf = _login(client, web1)

    # an import started through web1, followed through web2
    job = _upload(client, web1, csrf, INPUTS / "hpc_2025-01.csv", "hpc")
    html = _poll(client, f"{web2}/imports/jobs/{job}")
    assert _status(html) == "done", html
    assert 'rows into <a href="/periods/2025-01" class="period-link">2025-01</a>' in html
    assert f"job #{job}" in client.get(f"{web2}/imports").text

    # a statement generation started through web1, followed through web2
    change_status(ctx, "2025-01", "close", "tests", force=True)
    r = client.post(
        f"{web1}/statements/generate",
        data={"period": "2025-01", "csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    sjob = int(re.search(r'id="statement-job-(\d+)"', r.text).group(1))
    html = _poll(client, f"{web2}/statements/jobs/{sjob}")
    assert _status(html) == "done" and "new or new versions" in html, html

    # kill -9 of the worker in the middle of an import
    big = tmp_path / "aws_2025-02.csv"
    generate(big, 20_000, period="2025-02")
    job = _upload(client, web1, csrf, big, "aws")
    _until("the import to start", lambda: _row(ctx, job).status == "running", every=0.02)
    _kill9(worker_a)
    killed_at = time.monotonic()
    html = _poll(client, f"{web2}/imports/jobs/{job}", ("interrupted", "done", "failed"))
    assert _status(html) == "interrupted" and "stopped before it finished" in html
    assert time.monotonic() - killed_at >= LEASE - 1  # not before its lease passed
    health = jobs.health(ctx)
    assert not health.worker_alive and health.running == 1
    # a job queued now has no worker: /readyz says so (the same file again: a duplicate)
    again = _upload(client, web1, csrf, INPUTS / "hpc_2025-01.csv", "hpc")
    ready = httpx.get(f"{web2}/readyz")
    assert ready.status_code == 503 and "no worker heard from" in ready.json()["checks"]["jobs"]["detail"]

    worker_b = procs.start("worker-b", "worker")
    html = _poll(client, f"{web2}/imports/jobs/{job}")
    assert _status(html) == "done" and "20,000" in html, html
    row = _row(ctx, job)
    assert row.attempts == 2 and "queued again" in row.error
    with ctx.read() as conn:
        imports = conn.exec_driver_sql(
            "SELECT count(*) FROM imports WHERE filename = 'aws_2025-02.csv'"
        ).scalar()
    assert imports == 1
    assert "Already imported" in _poll(client, f"{web2}/imports/jobs/{again}")
    assert httpx.get(f"{web2}/readyz").status_code == 200 and jobs.health(ctx).worker_alive

    # kill -9 in the middle of a send: interrupted, never sent again by a worker
    fault_smtp.plan(data=["delay:60"])  # the server keeps the message and answers late
    r = client.post(
        f"{web1}/statements/send",
        data={"period": "2025-01", "csrf_token": csrf},
        headers={"HX-Request": "true"},
    )
    send = int(re.search(r'id="statement-job-(\d+)"', r.text).group(1))
    fault_smtp.wait_for(lambda: len(fault_smtp.data_started()) == 1, timeout=120)
    _kill9(worker_b)
    procs.start("worker-c", "worker")
    row = _until("the send marked interrupted", lambda: (r := _row(ctx, send)).status == "interrupted" and r)
    assert row.attempts == 1 and "in doubt" in row.error
    html = client.get(f"{web2}/statements/jobs/{send}").text
    assert _status(html) == "interrupted" and "in doubt" in html
    time.sleep(2 * LEASE)  # worker C goes on polling: nothing is sent again
    assert len(fault_smtp.data_started()) == 1 and _row(ctx, send).status == "interrupted"
