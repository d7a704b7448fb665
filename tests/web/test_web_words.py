"""The web says it in its own words (issue 17): no command-line syntax (a command, a
``--flag``, a backtick) in any template, in any page a role reads, or in the refusals the
web shows where an action was taken (the period's close, the journal's export, the
statements' Generate, an import job's refusals). An invalid period in a page's address is
a 404 page that says why, not an empty page (a query's ``period`` is checked by the app's
guard: tests/web/security)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from .cli_words import cli_syntax
from .conftest import INPUTS, ROLES
from .test_routes import ROUTES

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "openchargeback" / "web" / "templates"


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_no_template_holds_command_syntax(path):
    text = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", path.read_text(), flags=re.S)
    assert cli_syntax(text) == []


@pytest.mark.parametrize("role", ROLES)
def test_no_page_shows_command_syntax(clients, role):
    c = clients[role]
    shown = {}
    for method, path, *_ in ROUTES:
        if method == "GET":
            r = c.get(path)
            if r.status_code == 200 and r.headers["content-type"].startswith("text/html"):
                shown[path] = cli_syntax(r.text)
    assert len(shown) > 20 and {p: hits for p, hits in shown.items() if hits} == {}


def _post(c, path, data, **kw):
    return c.post(path, data={**data, "csrf_token": c.csrf}, follow_redirects=False, **kw)


def test_refusals_are_said_on_the_page_where_the_action_was_taken(web, clients):
    from statements.conftest import review_some

    a = clients["admin"]
    review_some(web[0].state.ctx, "2025-01")  # one charge rejected, one left pending
    # the period is open and a charge waits for review: the checklist says so and why
    page = a.get("/periods/2025-01").text
    assert re.search(r'id="step-close" data-state="blocked"', page)
    assert re.search(r'id="close-period" disabled', page) and 'id="close-why"' in page
    assert re.search(r'id="step-generate" disabled', page) and re.search(r'id="step-export" disabled', page)
    r = _post(a, "/periods/2025-01/close", {})
    assert r.status_code == 409 and 'id="close-refused"' in r.text and 'id="checklist"' in r.text
    r = _post(a, "/periods/2025-01/close", {"force": "1", "reason": " "})
    assert r.status_code == 422 and 'id="action-refused"' in r.text and "needs a reason" in r.text
    r = _post(a, "/periods/2025-01/finalize", {})
    assert r.status_code == 409 and 'id="action-refused"' in r.text and "still open" in r.text
    # the journal's refusal: on the journal page, with the form as it was
    r = _post(a, "/journal/export", {"period": "2025-01", "format": "summary"})
    assert r.status_code == 409 and 'id="action-refused"' in r.text and 'id="journal-export"' in r.text
    assert "export a draft" in r.text and '<option value="summary" selected>' in r.text
    # Generate on an open period: refused at once, on the statements page
    r = _post(a, "/statements/generate", {"period": "2025-01"})
    assert r.status_code == 409 and 'id="action-refused"' in r.text and 'id="statements-table"' in r.text
    for refused in (r.text, _post(a, "/periods/2025-01/close", {}).text):
        assert cli_syntax(refused) == [], refused


def _upload(c, name: str, body: bytes, **options) -> str:
    q = "&".join([f"filename={name}", "source=storage", *(f"{k}=true" for k in options)])
    r = c.post(f"/imports/upload?{q}", content=body, headers={"X-CSRF-Token": c.csrf, "HX-Request": "true"})
    assert r.status_code == 200, r.text
    job = re.search(r'id="job-(\d+)"', r.text).group(1)
    deadline = time.monotonic() + 60
    while True:
        html = c.get(f"/imports/jobs/{job}", headers={"HX-Request": "true"}).text
        if re.search(r'data-status="(done|failed|interrupted)"', html):
            return html
        assert time.monotonic() < deadline, "the import job did not finish"
        time.sleep(0.2)


def test_import_jobs_say_their_refusals_in_the_web_words(clients):
    a = clients["admin"]
    sample = (INPUTS / "storage_2025-01.csv").read_bytes()
    duplicate = _upload(a, "storage_2025-01.csv", sample)  # the seed imported this very file
    assert "duplicate: not imported" in duplicate and ">imported<" not in duplicate
    lines = sample.decode().splitlines(keepends=True)
    overlap = _upload(a, "storage_2025-01-b.csv", "".join(lines[:-1]).encode())  # rows already held
    assert "already in the ledger" in overlap and "with Replace" in overlap
    broken = "".join([lines[0], lines[1].replace(",", ",not-a-date,", 1), *lines[2:3]]).encode()
    invalid = _upload(a, "storage_2025-02-x.csv", broken)
    assert 'data-status="failed"' in invalid and "Skip invalid rows" in invalid
    for html in (duplicate, overlap, invalid):
        assert cli_syntax(html) == [], html


@pytest.mark.parametrize("path", ["/periods/2025-13", "/periods/x"])
def test_an_invalid_period_in_the_address_is_a_404_page(clients, path):
    r = clients["viewer"].get(path)
    assert r.status_code == 404 and "is not a month in the form YYYY-MM" in r.text
