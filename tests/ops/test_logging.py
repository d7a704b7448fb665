"""Logging: one structured line per request (method, route template, status, duration,
user, client, request id echoed), per CLI command and per error with its context, in
text or JSON, to a file or standard error; never a secret."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
from fastapi.testclient import TestClient

from openchargeback import logs
from openchargeback.config import Settings
from openchargeback.services import users
from openchargeback.web.app import create_app

from .conftest import SECRET, login_form, served

SMTP_PASSWORD = "smtp-Pa55word-that-must-not-leak"
USER_PASSWORD = "correct horse battery staple"
DB_PASSWORD = "db-pass-w0rd"


@pytest.fixture(autouse=True)
def _restore_logging():
    root = logging.getLogger()
    level, before = root.level, list(root.handlers)
    yield
    for h in list(root.handlers):
        if h not in before:
            root.removeHandler(h)
            h.close()
    root.setLevel(level)


def lines(path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


@pytest.mark.slow  # a served process
def test_served_json_lines_per_request(sqlite_url, ops_config, make_ctx, tmp_path):
    log_file = tmp_path / "log" / "ocb.jsonl"
    config = ops_config(
        sqlite_url,
        logging={"format": "json", "file": str(log_file)},
        email={"password": SMTP_PASSWORD, "username": "mailer"},
        server={"trusted_proxies": ["127.0.0.1"]},
    )
    users.add_user(make_ctx(sqlite_url), "alice", USER_PASSWORD, "admin")
    with served(config) as (base, _proc), httpx.Client(base_url=base, timeout=30) as client:
        r = client.get("/healthz", headers={"X-Request-ID": "req-from-proxy-0001"})
        assert r.headers["X-Request-ID"] == "req-from-proxy-0001"
        via = {"X-Request-ID": "via-proxy-0002", "X-Forwarded-For": "198.51.100.20"}
        assert client.get("/healthz", headers=via).status_code == 200
        generated = client.get("/healthz", headers={"X-Request-ID": "bad id; forged"}).headers["X-Request-ID"]
        assert generated != "bad id; forged" and len(generated) == 32
        token = login_form(client)
        bad = {"username": "alice", "password": "wrong-" + USER_PASSWORD, "csrf_token": token, "next": "/"}
        assert client.post("/login", data=bad).status_code == 401
        good = {"username": "alice", "password": USER_PASSWORD, "csrf_token": token, "next": "/"}
        assert client.post("/login", data=good, follow_redirects=False).status_code == 303
        assert client.get("/charges/999999?secret=query-text").status_code == 404
        assert client.get("/no/such/page").status_code == 404
    found = lines(log_file)
    requests = [x for x in found if x["logger"] == "openchargeback.request"]
    by_id = {x["request_id"]: x for x in requests}
    first = by_id["req-from-proxy-0001"]
    assert first["method"] == "GET" and first["route"] == "/healthz" and first["status"] == 200
    assert isinstance(first["duration_ms"], float) and first["client"] == "127.0.0.1"
    assert first["level"] == "INFO" and first["timestamp"].endswith("+00:00") and first["pid"] > 0
    assert generated in by_id
    assert by_id["via-proxy-0002"]["client"] == "198.51.100.20"  # behind a trusted proxy
    logins = [x for x in requests if x["route"] == "/login" and x["method"] == "POST"]
    assert [x["status"] for x in logins] == [401, 303]
    charge = next(x for x in requests if x["route"] == "/charges/{charge_id}")
    assert (charge["status"], charge["user"]) == (404, "alice")  # the template, never the value
    assert any(x["route"] == "unmatched" and x["status"] == 404 for x in requests)
    text = log_file.read_text()
    for secret in (SMTP_PASSWORD, USER_PASSWORD, SECRET, "999999", "query-text", "/no/such/page"):
        assert secret not in text
    # uvicorn's own lines come through the same formatter; its access log gives way to ours
    assert not any(x["logger"] == "uvicorn.access" for x in found)


def _app(tmp_path, **extra) -> TestClient:
    data = {
        "database": {"url": f"sqlite:///{tmp_path}/billing.db"},
        "server": {"secret_key": SECRET, "data_dir": str(tmp_path / "data")},
        "email": {"password": SMTP_PASSWORD},
        **extra,
    }
    app = create_app(Settings.model_validate(data))

    def boom():
        raise RuntimeError(f"the relay refused {SMTP_PASSWORD} and {SECRET}")

    app.add_api_route("/boom/{what}", boom)
    return TestClient(app, base_url="https://testserver", raise_server_exceptions=False)


def test_error_logged_with_context_and_no_secret(tmp_path):
    log_file = tmp_path / "errors.log"
    with _app(tmp_path, logging={"format": "text", "file": str(log_file)}) as client:
        r = client.get("/boom/now", headers={"X-Request-ID": "trace-me-1234"})
        assert r.status_code == 500
        assert SMTP_PASSWORD not in r.text and "Traceback" not in r.text
    text = log_file.read_text()
    error = next(x for x in text.split("\n") if "openchargeback.error" in x)
    assert "ERROR" in error and "GET /boom/{what} failed" in error
    assert "route=/boom/{what}" in error and "request_id=trace-me-1234" in error and "status=500" in error
    assert "Traceback" in text and "RuntimeError: the relay refused ******** and ********" in text
    assert SMTP_PASSWORD not in text and SECRET not in text


def test_redactor_masks_every_secret_as_written_and_as_json():
    settings = Settings.model_validate(
        {
            "database": {"url": f"postgresql+psycopg://billing:{DB_PASSWORD}@db.example.edu/billing"},
            "server": {"secret_key": 'se"cret\\key-with-quotes-0123456789abcdef'},
            "email": {"password": SMTP_PASSWORD},
        }
    )
    redact = logs.Redactor(logs.secrets_of(settings))
    raw = f"url {settings.database.url} smtp {SMTP_PASSWORD} key {settings.server.secret_key}"
    masked = "url postgresql+psycopg://billing:********@db.example.edu/billing smtp ******** key ********"
    assert redact(raw) == masked
    assert redact(json.dumps({"m": settings.server.secret_key})) == '{"m": "********"}'


def test_cli_command_lines(tmp_path, sqlite_url, write_config, run_cli):
    log_file = tmp_path / "cli.log"
    config = write_config(
        sqlite_url, logging={"format": "json", "file": str(log_file)}, email={"password": SMTP_PASSWORD}
    )
    code, _out, err = run_cli("periods", "list", "-c", config)
    assert code == 0 and err == ""  # standard error stays the user's
    code, _out, err = run_cli("periods", "close", "1999-01", "-c", config)
    assert code == 1 and err.startswith("error:")
    found = [x for x in lines(log_file) if x["logger"] == "openchargeback.command"]
    assert [(x["command"], x["outcome"], x["exit_code"]) for x in found] == [
        ("periods list", "ok", 0),
        ("periods close", "refused", 1),
    ]
    assert all(x["user"] and x["duration_ms"] >= 0 for x in found)
    assert found[1]["level"] == "WARNING"
    assert SMTP_PASSWORD not in log_file.read_text()


def test_cli_without_a_log_file_writes_no_log(sqlite_url, write_config, run_cli):
    config = write_config(sqlite_url)
    code, _out, err = run_cli("periods", "list", "-c", config)
    assert (code, err) == (0, "")


def test_job_lines(tmp_path, sqlite_url, make_ctx):
    """The worker's line per job (what, who, outcome, duration) in the configured format."""
    import shutil
    from pathlib import Path

    from openchargeback.services import jobs

    log_file = tmp_path / "jobs.log"
    ctx = make_ctx(
        sqlite_url,
        logging={"format": "json", "file": str(log_file)},
        server={"data_dir": str(tmp_path / "data")},
    )
    logs.configure(ctx.settings, service=True)
    upload = tmp_path / "data" / "u1" / "aws_2025-01.csv"
    upload.parent.mkdir(parents=True)
    shutil.copy(Path(__file__).resolve().parents[2] / "sample_data" / "inputs" / "aws_2025-01.csv", upload)
    job_id = jobs.start_import(ctx.as_actor("web:alice"), upload, "aws", "2025-01")
    worker = jobs.Worker(ctx)
    assert worker.run_once()
    line = next(x for x in lines(log_file) if x["logger"] == "openchargeback.jobs" and x.get("job") == job_id)
    assert (line["kind"], line["actor"], line["outcome"]) == ("import", "web:alice", "done")
    assert line["seconds"] >= 0 and line["level"] == "INFO"
