"""Metrics: off by default, a bearer token required, counters that move (requests by
route, imports, jobs, database errors), several web processes summed."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from openchargeback.config import Settings
from openchargeback.services.ingest import ingest
from openchargeback.storage import jobs as jobs_repo
from openchargeback.web.app import create_app
from openchargeback.web.metrics import MULTIPROC_ENV

from .conftest import SECRET, free_port, served

TOKEN = "metrics-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
INPUTS = Path(__file__).resolve().parents[2] / "sample_data" / "inputs"


def sample(url: str, tmp_path, **metrics) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": url},
            "sources": [{"name": "aws"}, {"name": "hpc"}],
            "server": {"secret_key": SECRET, "data_dir": str(tmp_path / "data")},
            "metrics": metrics,
        }
    )


def value(body: str, name: str, **labels) -> float:
    """The sample ``name{labels}`` of an exposition (0 when absent)."""
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in body.splitlines():
        m = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if m and m.group(1) == name and (m.group(2) or "") == want:
            return float(m.group(3))
    return 0.0


@pytest.fixture
def client_for(tmp_path, monkeypatch):
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    made = []

    def make(url: str, **metrics) -> TestClient:
        c = TestClient(create_app(sample(url, tmp_path, **metrics)), base_url="https://testserver")
        c.__enter__()
        made.append(c)
        return c

    yield make
    for c in made:
        c.__exit__(None, None, None)


def test_off_by_default(sqlite_url, client_for):
    assert client_for(sqlite_url).get("/metrics", headers=AUTH).status_code == 404


def test_enabled_needs_a_token():
    with pytest.raises(ValueError, match="metrics.enabled needs metrics.token"):
        Settings.model_validate({"metrics": {"enabled": True}})


def test_listen_settings():
    def metrics(**m):
        return Settings.model_validate({"metrics": {"enabled": True, **m}}).metrics

    assert metrics(listen="127.0.0.1:9464").listen_address == ("127.0.0.1", 9464)
    assert metrics(listen="[::1]:9464").listen_address == ("::1", 9464)
    with pytest.raises(ValueError, match="which metrics.listen replaces: leave one out"):
        metrics(listen="127.0.0.1:9464", token=TOKEN)
    for bad in ("9464", "127.0.0.1:0", "host:70000", "a b:1"):
        with pytest.raises(ValueError, match="expected HOST:PORT, such as 127.0.0.1:9464"):
            metrics(listen=bad)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_metrics_on_an_address_of_their_own(sqlite_url, ops_config, monkeypatch, workers):
    """metrics.listen: serve's main process answers scrapes there without a token, with
    every web process's counters summed; the web's port has no /metrics."""
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    port = free_port()
    config = ops_config(sqlite_url, metrics={"enabled": True, "listen": f"127.0.0.1:{port}"})
    key = {"method": "GET", "route": "/healthz", "status": "200"}
    args = ("--workers", "2") if workers == 2 else ()
    with served(config, args=args) as (base, proc):

        def scrape() -> str:
            r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30)
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
            return r.text

        def counted(expected: float) -> str:
            """A request is counted once its response is sent: the scrape that follows
            may come first. Scrapes until the count is ``expected`` (or 10 s passed)."""
            deadline = time.monotonic() + 10
            while True:
                body = scrape()
                got = value(body, "openchargeback_http_requests_total", **key)
                if got == expected or time.monotonic() > deadline:
                    assert got == expected
                    return body
                time.sleep(0.05)

        counted(1)  # serve's readiness check
        for _ in range(6):  # a new connection each: with two processes, both may answer
            assert httpx.get(f"{base}/healthz", timeout=30).status_code == 200
        body = counted(7)
        assert "# TYPE openchargeback_workers_alive gauge" in body  # read from the database
        assert httpx.get(f"{base}/metrics", timeout=30).status_code == 404
    assert f"metrics on http://127.0.0.1:{port}/metrics" in proc.log_path.read_text()


def test_token_required(sqlite_url, client_for):
    c = client_for(sqlite_url, enabled=True, token=TOKEN)
    r = c.get("/metrics")
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    assert "openchargeback_" not in r.text
    assert c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"}).status_code == 401
    assert c.get("/metrics", headers={"Authorization": TOKEN}).status_code == 401
    r = c.get("/metrics", headers=AUTH)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")


def test_counters_move(db_url, client_for, tmp_path):
    c = client_for(db_url, enabled=True, token=TOKEN)
    ctx = c.app.state.ctx
    before = c.get("/metrics", headers=AUTH).text
    for _ in range(3):
        assert c.get("/healthz").status_code == 200
    c.get("/no/such/page")
    after = c.get("/metrics", headers=AUTH).text
    key = {"method": "GET", "route": "/healthz", "status": "200"}
    assert (
        value(after, "openchargeback_http_requests_total", **key)
        - value(before, "openchargeback_http_requests_total", **key)
        == 3
    )
    assert value(after, "openchargeback_http_request_duration_seconds_count", route="/healthz") >= 3
    assert (
        value(after, "openchargeback_http_requests_total", method="GET", route="unmatched", status="404") >= 1
    )
    assert value(after, "openchargeback_imports_total", source="aws") == 0

    result = ingest(ctx, INPUTS / "aws_2025-01.csv", "aws")
    with ctx.write() as conn:
        jobs_repo.create(conn, {"kind": "import", "actor": "t", "params": "{}", "created_at": ctx.clock()})
        conn.execute(
            text("UPDATE jobs SET status = 'failed', started_at = created_at, finished_at = created_at")
        )
    body = c.get("/metrics", headers=AUTH).text
    assert value(body, "openchargeback_imports_total", source="aws") == 1
    assert value(body, "openchargeback_import_rows_total", source="aws") == result.rows > 0
    assert value(body, "openchargeback_import_duration_seconds_count", source="aws") == 1
    assert value(body, "openchargeback_import_refusals_total") == 1
    assert value(body, "openchargeback_jobs", kind="import", state="failed") == 1
    assert value(body, "openchargeback_job_duration_seconds_count", kind="import", state="failed") == 1
    assert "# TYPE openchargeback_email_messages gauge" in body
    assert "# TYPE openchargeback_workers_alive gauge" in body


def test_database_errors_counted(sqlite_url, client_for):
    c = client_for(sqlite_url, enabled=True, token=TOKEN)
    ctx = c.app.state.ctx
    name = "openchargeback_database_errors_total"
    before = sum(value(c.get("/metrics", headers=AUTH).text, name, error=e) for e in ("OperationalError",))
    with pytest.raises(Exception, match="no such table"), ctx.read() as conn:
        conn.execute(text("SELECT * FROM no_such_table"))
    after = value(c.get("/metrics", headers=AUTH).text, name, error="OperationalError")
    assert after == before + 1


@pytest.mark.slow
def test_several_web_processes_are_summed(sqlite_url, ops_config, tmp_path):
    """serve --workers 2: each process counts in $PROMETHEUS_MULTIPROC_DIR (emptied at
    start: a stale file of an earlier run would break the scrape), and the scrape sums them."""
    folder = tmp_path / "prom"
    folder.mkdir()
    (folder / "counter_999999.db").write_bytes(b"not a metrics file")
    config = ops_config(sqlite_url, metrics={"enabled": True, "token": TOKEN})
    key = {"method": "GET", "route": "/readyz", "status": "200"}
    with served(config, env={MULTIPROC_ENV: str(folder)}, args=("--workers", "2")) as (base, _proc):
        assert not (folder / "counter_999999.db").exists()
        sent = 0
        # a new connection each time, until both processes have answered some
        while sent < 400 and len({p.name for p in folder.glob("counter_*.db")}) < 2:
            for _ in range(10):
                assert httpx.get(f"{base}/readyz", timeout=30).status_code == 200
                sent += 1
        assert len({p.name for p in folder.glob("counter_*.db")}) >= 2, "both web processes count"
        # a process counts a request once it has answered it: wait for the last ones
        deadline = time.monotonic() + 10
        while True:
            body = httpx.get(f"{base}/metrics", headers=AUTH, timeout=30).text
            got = value(body, "openchargeback_http_requests_total", **key)
            if got >= sent or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert got == sent
