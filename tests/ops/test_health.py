"""/healthz and /readyz: no login, no data, security headers; /readyz is 503 when the
database is gone or behind, or when jobs wait with no live worker."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from openchargeback.config import Settings
from openchargeback.services import health
from openchargeback.services.context import Context
from openchargeback.storage import db
from openchargeback.storage import jobs as jobs_repo
from openchargeback.web.app import create_app

SECRET = "health-test-secret-0a9b8c7d6e5f4a3b2c1d0e9f8a7b"


def settings_for(url: str, tmp_path, **jobs) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": url},
            "server": {"secret_key": SECRET, "data_dir": str(tmp_path / "data")},
            "jobs": jobs,
        }
    )


@pytest.fixture
def app_for(tmp_path):
    made = []

    def make(url: str, **jobs):
        app = create_app(settings_for(url, tmp_path, **jobs))
        client = TestClient(app, base_url="https://testserver")
        client.__enter__()  # lifespan: the embedded worker, when on
        made.append(client)
        return app, client

    yield make
    for client in made:
        client.__exit__(None, None, None)


def test_healthz_and_readyz_answer_without_login(db_url, app_for):
    _app, client = app_for(db_url)
    r = client.get("/healthz")
    assert r.status_code == 200 and r.text == "ok\n"
    assert r.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "no-store"
    assert "set-cookie" not in r.headers
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert body["checks"]["schema"] == {"ok": True, "detail": db.HEAD_REVISION}
    assert body["checks"]["jobs"]["ok"] is True
    assert r.headers["X-Frame-Options"] == "DENY"


def test_readyz_queued_jobs_need_a_live_worker(db_url, app_for):
    app, client = app_for(db_url, serve_runs_worker=False, lease_seconds=30)
    ctx = app.state.ctx
    now = ctx.clock()
    with ctx.write() as conn:
        jobs_repo.create(conn, {"kind": "import", "actor": "t", "params": "{}", "created_at": now})
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["status"] == "not ready"
    detail = r.json()["checks"]["jobs"]["detail"]
    assert detail == "1 queued and no worker heard from within 30 s (last: never)"
    # a worker that fell silent (a dead one's last heartbeat) does not make it ready
    with ctx.write() as conn:
        jobs_repo.worker_started(conn, "elsewhere:1:dead", now - timedelta(minutes=5))
    r = client.get("/readyz")
    assert r.status_code == 503
    assert "(last: " in r.json()["checks"]["jobs"]["detail"] and "never" not in r.text
    # a live one does (this test's own process, heard from now)
    from openchargeback.services.jobs.queue import HOST

    with ctx.write() as conn:
        jobs_repo.worker_started(conn, f"{HOST}:{os.getpid()}:probe", now)
    r = client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"]["jobs"]["detail"] == "1 queued, 0 running, 1 worker(s) alive"


def test_readyz_schema_behind(db_url, app_for):
    app, client = app_for(db_url)
    with app.state.ctx.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0010_statement_notices'"))
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"]["schema"] == {
        "ok": False,
        "detail": f"at 0010_statement_notices, this version needs {db.HEAD_REVISION}",
    }


def test_readiness_database_unreachable(tmp_path):
    engine = db.make_engine("postgresql+psycopg://nobody:hunter2@127.0.0.1:1/none?connect_timeout=2")
    try:
        r = health.readiness(Context(settings_for("sqlite://", tmp_path), engine))
    finally:
        engine.dispose()
    assert not r.ready
    assert [(c.name, c.ok, c.detail) for c in r.checks] == [("database", False, "unreachable")]
