"""The database's faults in the web's own words (issue 17): the CLI's message says what to
run (`openchargeback db restore ...`); the web page (a 503), a job's error and the API's
problem+json say what happened and what to do without command syntax, and the API's
domain errors use the same web wording."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy.exc import OperationalError

from openchargeback.storage import faults

from .cli_words import cli_syntax


def _sqlite(message: str, code: int) -> sqlite3.Error:
    exc = sqlite3.OperationalError(message)
    exc.sqlite_errorcode = code  # type: ignore[attr-defined]
    return exc


SQLITE = {
    "full": _sqlite("database or disk is full", 13),
    "read-only": _sqlite("attempt to write a readonly database", 8),
    "damaged": _sqlite("database disk image is malformed", 11),
    "locked": _sqlite("database is locked", 5),
    "cannot open": _sqlite("unable to open database file", 14),
    "disk error": _sqlite("disk I/O error", 10),
    "constraint": _sqlite("UNIQUE constraint failed: periods.name", 19),
}
POSTGRES = {
    "full": psycopg.errors.DiskFull("could not extend file"),
    "read-only": psycopg.errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction"),
    "damaged": psycopg.errors.DataCorrupted("invalid page in block 7"),
    "busy": psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"),
    "no rights": psycopg.errors.InsufficientPrivilege("permission denied for table charges"),
    "unreachable": psycopg.errors.ConnectionFailure("connection refused"),
    "constraint": psycopg.errors.UniqueViolation("duplicate key value violates unique constraint"),
}


@pytest.mark.parametrize(
    ("url", "error"),
    [("sqlite:////srv/billing.db", e) for e in SQLITE.values()]
    + [("postgresql+psycopg://u@db.example.edu/billing", e) for e in POSTGRES.values()],
    ids=[f"sqlite {k}" for k in SQLITE] + [f"postgresql {k}" for k in POSTGRES],
)
def test_each_fault_has_web_words_that_say_what_happened_and_what_to_do(url, error):
    fault = faults.fault_of(error, url)
    assert fault is not None and fault.http_status == 503
    assert cli_syntax(fault.web) == [], fault.web
    assert fault.web != fault.message or not cli_syntax(fault.message)
    # the same facts: which database, and that nothing was written (or why it could not be)
    name = faults.describe(url)
    assert name in fault.web and ("nothing was written" in fault.web or "try again" in fault.web)
    assert ("administrator" in fault.web) or ("again" in fault.web), fault.web


def _damaged(*args, **kwargs):
    raise OperationalError("SELECT 1", {}, sqlite3.DatabaseError("database disk image is malformed"))


def test_the_503_page_and_the_api_problem_speak_web_words(web, clients, monkeypatch):
    from openchargeback.services import insights, periods, tokens

    app, _ = web
    monkeypatch.setattr(insights, "periods_overview", _damaged)
    r = clients["viewer"].get("/periods")
    assert r.status_code == 503 and "is damaged" in r.text and "Not available now" in r.text
    assert "Ask your administrator" in r.text and cli_syntax(r.text) == [], r.text
    assert "Traceback" not in r.text and "OperationalError" not in r.text

    secret = tokens.create(app.state.ctx, "reviewer", "write").secret
    api = clients[None]
    auth = {"Authorization": f"Bearer {secret}"}
    monkeypatch.setattr(periods, "list_periods", _damaged)
    r = api.get("/api/v1/periods", headers=auth)
    assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json", r.text
    detail = r.json()["detail"]
    assert "is damaged" in detail and "Ask your administrator" in detail and cli_syntax(detail) == []
    # a domain error whose CLI wording names a flag: the API says it as the web does
    r = api.post("/api/v1/review/reject", json={"period": "2025-01", "ids": [1], "note": " "}, headers=auth)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
    assert r.json()["detail"] == "rejecting needs a note saying why"
