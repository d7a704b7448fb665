"""The registry in the web: PI, project and fund lists and forms, CSV import (refused
whole with line numbers) and export, the project page with its splits, the split form
(closed periods refused as the service words it), adjustments, budgets on the
dashboard and the project page, htmx partials, CSRF and roles.

Data: January (closed, forced) and December (open) of the sample files."""

from __future__ import annotations

import re

import pytest

from .conftest import login, seed, web_settings

PROJECT = "genomics-sequencing"
PI = "zorp.blinkman@example.edu"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from fastapi.testclient import TestClient

    from openchargeback.services import periods
    from openchargeback.services.context import build_context
    from openchargeback.web.app import create_app

    tmp = tmp_path_factory.mktemp("registry-web")
    settings = web_settings(tmp, budgets={"alert_thresholds": [50, 100]})
    seed(settings, files=("aws_2025-01.csv", "storage_2025-01.csv", "aws_2025-12.csv", "storage_2025-12.csv"))
    ctx = build_context(settings, actor="seed")
    periods.change_status(ctx, "2025-01", "close", "registry tests", force=True)
    ctx.engine.dispose()
    app = create_app(settings)
    clients = {}
    for role in ("admin", "viewer"):
        c = TestClient(app, base_url="https://testserver")
        assert login(c, role).status_code == 303
        c.csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/account").text).group(1)
        clients[role] = c
    yield app, clients
    app.state.runner.shutdown()
    app.state.ctx.engine.dispose()


def _post(c, path, data=None, files=None, **kw):
    return c.post(
        path, data={**(data or {}), "csrf_token": c.csrf}, files=files, follow_redirects=False, **kw
    )


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture(scope="module")
def admin(site):
    return site[1]["admin"]


@pytest.fixture(scope="module")
def viewer(site):
    return site[1]["viewer"]


@pytest.fixture(scope="module")
def registered(admin):
    """PI, two funds (one with a budget) and the project, added through the forms."""
    r = _post(
        admin,
        "/registry/pis",
        {
            "email": "Zorp.Blinkman@example.edu",
            "name": "Zorp Blinkman",
            "department": "Biology",
            "billing_contacts": "a@example.edu; b@example.edu",
        },
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/registry/pis?saved=")
    for code, extra in (
        ("NSF-123", {"description": "NSF award 123", "budget": "1000"}),
        ("DEPT-9", {"description": "Department 9"}),
        ("BIO-2024-001", {"description": "Biology core"}),
    ):
        assert _post(admin, "/registry/funds", {"code": code, **extra}).status_code == 303
    r = _post(
        admin,
        "/registry/projects",
        {
            "project_id": PROJECT,
            "pi_email": PI,
            "name": "Genome sequencing",
            "status": "active",
            "start_date": "2024-07-01",
            "end_date": "2026-06-30",
            "default_fund": "BIO-2024-001",
            "budget": "2000",
            "budget_per": "fiscal_year",
        },
    )
    assert r.status_code == 303, r.text
    return PROJECT


# -- lists, forms ---------------------------------------------------------------------------------
def test_lists_show_records_and_only_admins_get_change_controls(registered, admin, viewer):
    html = viewer.get("/registry/pis").text
    assert PI in html and "Zorp Blinkman" in html and "a@example.edu, b@example.edu" in html
    assert 'id="add-record"' not in html and "/registry/pis/edit" not in html and "import-form" not in html
    html = admin.get("/registry/pis").text
    assert 'id="add-record"' in html and "/registry/pis/edit?key=" in html and 'id="import-form"' in html
    projects = viewer.get("/registry/projects").text
    assert f"/projects/detail?key={PROJECT}" in projects and "fiscal year" in projects
    assert admin.get("/registry", follow_redirects=False).headers["location"] == "/registry/projects"
    assert viewer.get("/registry/nothing").status_code == 404


def test_filter_is_an_htmx_partial(registered, viewer):
    r = viewer.get("/registry/funds?q=nsf", headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text and "<tr" in r.text
    assert "NSF-123" in r.text and "DEPT-9" not in r.text
    full = viewer.get("/registry/funds?q=nsf").text
    assert "<html" in full and 'hx-get="/registry/funds"' in full
    assert "Nothing matches" in viewer.get("/registry/funds?q=zzz", headers={"HX-Request": "true"}).text


def test_edit_form_keeps_the_key_and_clears_empty_fields(registered, admin):
    page = admin.get("/registry/funds/edit?key=DEPT-9")
    assert page.status_code == 200 and 'value="Department 9"' in page.text
    r = _post(
        admin,
        "/registry/funds/edit",
        {"key": "DEPT-9", "code": "OTHER", "description": "", "valid_from": "2025-01-01"},
    )
    assert r.status_code == 303
    rows = admin.get("/registry/funds/export.csv").text.splitlines()
    assert "DEPT-9,,2025-01-01,,," in rows and not any(x.startswith("OTHER") for x in rows)


def test_refused_form_shows_the_message_and_keeps_what_was_typed(registered, admin):
    r = _post(
        admin,
        "/registry/projects",
        {"project_id": "p-ghost", "pi_email": "ghost@example.edu", "name": "Ghost project"},
    )
    assert r.status_code == 404
    assert "PI ghost@example.edu is not in the registry" in r.text and 'value="Ghost project"' in r.text
    r = _post(admin, "/registry/funds", {"code": "BAD", "valid_from": "2025-02-01", "valid_to": "2025-01-01"})
    assert r.status_code == 422 and "valid_to 2025-01-01 is before valid_from 2025-02-01" in r.text
    r = _post(admin, "/registry/funds", {"code": "NSF-123"})
    assert r.status_code == 409 and "already in the registry" in r.text
    assert "p-ghost" not in admin.get("/registry/projects").text


# -- CSV import and export ------------------------------------------------------------------------
def test_import_refused_whole_with_line_numbers(registered, admin):
    before = admin.get("/registry/projects/export.csv").text
    csv_text = (
        b"project_id,pi_email,name\n"
        b"p-good," + PI.encode() + b",Good\n"
        b"p-bad,nobody,Bad\n"
        b"p-ghost,ghost@example.edu,Ghost\n"
    )
    r = _post(admin, "/registry/projects/import", files={"file": ("projects.csv", csv_text, "text/csv")})
    assert r.status_code == 422
    problems = re.findall(r"<li><code>(.*?)</code></li>", r.text)
    assert problems[0].startswith("projects.csv:3: pi_email &#39;nobody&#39;: not an email address")
    assert problems[1].startswith(
        "projects.csv:4: project p-ghost: PI ghost@example.edu is not in the registry"
    )
    assert "projects.csv: 2 problem(s); nothing was imported" in r.text
    assert "Nothing was imported" in r.text
    assert admin.get("/registry/projects/export.csv").text == before  # p-good was not imported


def test_import_adds_and_updates_and_reports(registered, admin):
    data = b"code,description\nNEW-1,New fund\nNSF-123,NSF award 123 (renamed)\n"
    r = _post(admin, "/registry/funds/import", files={"file": ("funds.csv", data, "text/csv")})
    assert r.status_code == 303
    page = admin.get(r.headers["location"]).text
    assert "funds.csv: 1 added, 1 updated, 0 unchanged." in page
    assert "NSF award 123 (renamed)" in page
    r = _post(admin, "/registry/funds/import", files={"file": ("empty.csv", b"", "text/csv")})
    assert r.status_code == 422 and "empty.csv: the file is empty" in r.text
    latin1 = "code\nÉ-1\n".encode("latin-1")
    r = _post(admin, "/registry/funds/import", files={"file": ("latin1.csv", latin1)})
    assert r.status_code == 422 and "not UTF-8" in r.text
    r = _post(admin, "/registry/funds/import", data={})
    assert r.status_code == 422 and "choose a CSV file" in r.text


def test_export_neutralises_formulas_and_imports_back(registered, admin):
    r = _post(admin, "/registry/funds", {"code": "EVIL", "description": "=HYPERLINK(1)"})
    assert r.status_code == 303
    r = admin.get("/registry/funds/export.csv")
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    assert "EVIL,'=HYPERLINK(1)" in r.text
    back = _post(admin, "/registry/funds/import", files={"file": ("funds.csv", r.content)})
    assert back.status_code == 303 and "updated=0" in back.headers["location"]  # nothing changed


# -- the project page and splits ------------------------------------------------------------------
def _split_60_40(admin):
    """From 2025-12 on (tests may run in any order and on several workers: each sets what it needs)."""
    return _post(
        admin,
        "/registry/projects/split",
        {
            "key": PROJECT,
            "fund": ["NSF-123", "DEPT-9", "", ""],
            "percent": ["60", "40", "", ""],
            "first": "2025-12",
            "last": "",
            "scope": "all",
            "reason": "NSF award starts",
            "do": "set",
        },
    )


def test_project_page_shows_its_registry_record(registered, viewer):
    html = viewer.get(f"/projects/detail?key={PROJECT}&period=2025-01").text
    start = html.index('id="project-fields"')
    fields = _text(html[start : html.index("</dl>", start)])
    assert "Zorp Blinkman" in fields and "Biology" in fields and "active" in fields
    assert "2024-07-01 → 2026-06-30" in fields and "BIO-2024-001" in fields and "Biology core" in fields
    assert "$2,000.00 per fiscal year" in fields
    assert "No split in force" in html  # splits set by other tests start later
    assert "2025-01 is closed: its splits can no longer change" in html
    assert 'id="set-split"' not in html  # a viewer cannot change it
    assert 'hx-get="/registry/budgets/project?' in html  # the project has a budget


def test_a_registered_project_without_charges_has_a_page(registered, admin, viewer):
    assert _post(admin, "/registry/projects", {"project_id": "p-new", "pi_email": PI}).status_code == 303
    html = viewer.get("/projects/detail?key=p-new").text
    assert "No charges yet" in html and 'id="project-fields"' in html
    r = viewer.get("/projects/detail?key=nothing-at-all")
    assert r.status_code == 404 and "has no charges and is not in the registry" in r.text


def test_split_60_40_shows_both_funds_and_is_audited(registered, admin, viewer):
    form = admin.get(f"/registry/projects/split?key={PROJECT}&period=2025-01")
    assert form.status_code == 200 and 'value="2025-01"' in form.text
    assert 'option value="BIO-2024-001" selected' in form.text  # no split: the default fund, 100 %
    r = _split_60_40(admin)
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith(f"/projects/detail?key={PROJECT}&period=2025-12&split=saved")
    html = viewer.get(r.headers["location"]).text
    start = html.index('id="splits-in-force"')
    table = html[start : html.index("</table>", start)]
    shares = dict(re.findall(r'data-fund="([^"]+)">.*?class="num share">([\d.]+) %', table, re.S))
    assert shares == {"NSF-123": "60", "DEPT-9": "40"}
    assert "Split saved" in html
    audit = admin.get("/audit?action=split.set").text
    assert "split.set" in audit and PROJECT in audit and "NSF award starts" in audit


def test_split_touching_a_closed_period_is_refused_with_the_service_message(registered, admin):
    r = _post(
        admin,
        "/registry/projects/split",
        {
            "key": PROJECT,
            "fund": ["NSF-123", "DEPT-9"],
            "percent": ["50", "50"],
            "first": "2025-01",
            "scope": "all",
            "do": "set",
        },
    )
    assert r.status_code == 409
    assert "would change period 2025-01, which is closed; reopen it first" in r.text
    assert 'id="split-error"' in r.text and 'value="50"' in r.text  # the form as typed
    r = _post(admin, "/registry/projects/split", {"key": PROJECT, "first": "2025-01", "do": "clear"})
    assert r.status_code == 409


def test_split_form_problems(registered, admin):
    r = _post(
        admin,
        "/registry/projects/split",
        {
            "key": PROJECT,
            "fund": ["NSF-123", "DEPT-9"],
            "percent": ["60", "30"],
            "first": "2026-01",
            "do": "set",
        },
    )
    assert r.status_code == 422 and "100" in _text(r.text)
    r = _post(
        admin,
        "/registry/projects/split",
        {"key": PROJECT, "fund": ["NSF-123", ""], "percent": ["60", "40"], "first": "2026-01", "do": "set"},
    )
    assert r.status_code == 422 and "each row needs a fund and a percentage" in r.text
    r = _post(
        admin,
        "/registry/projects/split",
        {
            "key": PROJECT,
            "fund": ["NSF-123"],
            "percent": ["100"],
            "first": "2026-01",
            "scope": "sources",
            "do": "set",
        },
    )
    assert r.status_code == 422 and "choose at least one of the sources" in r.text


def test_split_scoped_to_a_source_then_cleared(registered, admin, viewer):
    r = _post(
        admin,
        "/registry/projects/split",
        {
            "key": PROJECT,
            "fund": ["DEPT-9"],
            "percent": ["100"],
            "first": "2026-02",
            "last": "2026-03",
            "scope": "sources",
            "source": ["storage"],
            "do": "set",
        },
    )
    assert r.status_code == 303, r.text
    html = viewer.get(f"/projects/detail?key={PROJECT}&period=2026-02").text
    assert "source storage" in html
    r = _post(
        admin,
        "/registry/projects/split",
        {
            "key": PROJECT,
            "first": "2026-02",
            "last": "2026-03",
            "scope": "sources",
            "source": ["storage"],
            "do": "clear",
        },
    )
    assert r.status_code == 303 and "split=cleared" in r.headers["location"]
    assert "source storage" not in viewer.get(f"/projects/detail?key={PROJECT}&period=2026-02").text


# -- adjustments ----------------------------------------------------------------------------------
def test_adjustment_credit_is_listed_negative(registered, admin, viewer):
    r = _post(
        admin,
        "/registry/adjustments",
        {
            "period": "2025-12",
            "kind": "credit",
            "amount": "125.50",
            "reason": "goodwill credit",
            "project": PROJECT,
        },
    )
    assert r.status_code == 303
    html = viewer.get("/registry/adjustments?period=2025-12").text
    start = html.index('<tr id="adj-')
    row = _text(html[start : html.index("</tr>", start)])
    assert "credit" in row and "−$125.50" in row and PI in row and "goodwill credit" in row
    assert 'id="adjustment-form"' not in html  # viewers read only
    r = _post(
        admin,
        "/registry/adjustments",
        {
            "period": "2025-12",
            "kind": "charge",
            "amount": "20",
            "reason": "allocation purchase",
            "fund": "DEPT-9",
        },
    )
    assert r.status_code == 303
    assert "$20.00" in viewer.get("/registry/adjustments?period=2025-12").text
    assert "adjustment.add" in admin.get("/audit?action=adjustment.add").text


def test_adjustment_in_a_closed_period_is_refused(registered, admin):
    page = admin.get("/registry/adjustments?period=2025-01").text
    assert 'id="adjustment-closed"' in page
    r = _post(
        admin,
        "/registry/adjustments",
        {"period": "2025-01", "kind": "credit", "amount": "10", "reason": "late", "project": PROJECT},
    )
    assert r.status_code == 409 and "2025-01" in r.text and "closed" in r.text
    assert 'id="adjustment-error"' in r.text and 'value="late"' in r.text
    r = _post(
        admin,
        "/registry/adjustments",
        {"period": "2025-12", "kind": "credit", "amount": "-10", "reason": "x", "project": PROJECT},
    )
    assert r.status_code == 422 and "without a sign" in r.text
    r = _post(
        admin, "/registry/adjustments", {"period": "2025-12", "kind": "credit", "amount": "10", "reason": "x"}
    )
    assert r.status_code == 422 and "for a PI, a project or a fund" in r.text


# -- budgets --------------------------------------------------------------------------------------
def test_budgets_on_the_dashboard_and_the_project_page(registered, admin, viewer, site):
    import time

    assert _split_60_40(admin).status_code == 303
    assert 'hx-get="/registry/budgets/panel?' in viewer.get("/?period=2025-12").text
    panel = viewer.get("/registry/budgets/panel?period=2025-12", headers={"HX-Request": "true"})
    assert panel.status_code == 200 and "<html" not in panel.text and 'id="budget-panel"' in panel.text
    text = _text(panel.text)
    assert "FY2025" in text and PROJECT in text and "NSF-123" in text
    # the alerts are checked by a job (Check alerts now, admins only), followed on the page
    assert 'id="budgets-check"' not in viewer.get("/registry/budgets?period=2025-12").text
    assert _post(viewer, "/registry/budgets/check", {"period": "2025-12"}).status_code == 403
    r = _post(admin, "/registry/budgets/check", {"period": "2025-12"})
    assert r.status_code == 303 and r.headers["location"].startswith("/registry/budgets?period=2025-12&job=")
    job = r.headers["location"].rsplit("=", 1)[1]
    assert f'id="budget-job-{job}"' in admin.get(r.headers["location"]).text
    deadline = time.monotonic() + 60
    while 'data-status="done"' not in (part := admin.get(f"/registry/budgets/jobs/{job}")).text:
        assert time.monotonic() < deadline and 'data-status="failed"' not in part.text, part.text
        time.sleep(0.2)
    # NSF-123: 60 % of the project's December spend against 1,000 a period
    assert re.search(r"[1-9]\d* new alert\(s\) for 2025-12", part.text), part.text
    assert part.headers["HX-Trigger"] == "budgets-changed"  # the alerts listed reload
    panel = viewer.get("/registry/budgets/panel?period=2025-12").text
    assert 'id="budget-alerts"' in panel and 'id="budget-warnings"' in panel
    html = viewer.get(f"/projects/detail?key={PROJECT}&period=2025-12").text
    assert 'id="project-alerts"' in html
    part = viewer.get(
        f"/registry/budgets/project?key={PROJECT}&period=2025-12", headers={"HX-Request": "true"}
    )
    assert "<html" not in part.text and "Spend against budget" in part.text
    assert "genomics-sequencing" in part.text and "NSF-123" in part.text
    full = viewer.get("/registry/budgets?period=2025-12").text
    assert 'id="alerts-table"' in full and "starts in month 1" in full


def test_no_budget_means_no_dashboard_card(tmp_path):
    from fastapi.testclient import TestClient

    from openchargeback.web.app import create_app

    settings = web_settings(tmp_path)
    seed(settings, files=("aws_2025-01.csv",))
    app = create_app(settings)
    try:
        c = TestClient(app, base_url="https://testserver")
        login(c, "viewer")
        r = c.get("/registry/budgets/panel?period=2025-01", headers={"HX-Request": "true"})
        assert r.status_code == 200 and r.text.strip() == ""
    finally:
        app.state.runner.shutdown()
        app.state.ctx.engine.dispose()


# -- security -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path,data",
    [
        ("/registry/pis", {"email": "csrf@example.edu"}),
        ("/registry/pis/edit", {"key": PI, "name": "x"}),
        (
            "/registry/projects/split",
            {"key": PROJECT, "fund": "DEPT-9", "percent": "100", "first": "2026-05"},
        ),
        (
            "/registry/adjustments",
            {"period": "2025-12", "kind": "credit", "amount": "1", "reason": "x", "project": PROJECT},
        ),
    ],
)
def test_changes_need_the_csrf_token(registered, admin, path, data):
    r = admin.post(path, data=data, follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text
    r = admin.post(path, data={**data, "csrf_token": "forged"}, follow_redirects=False)
    assert r.status_code == 403
    r = admin.post(
        "/registry/funds/import",
        files={"file": ("f.csv", b"code\nX-1\n")},
        data={"csrf_token": "forged"},
        follow_redirects=False,
    )
    assert r.status_code == 403
    assert "csrf@example.edu" not in admin.get("/registry/pis").text


def test_viewer_is_refused_every_change(registered, viewer):
    for path, data in (
        ("/registry/funds", {"code": "V-1"}),
        ("/registry/projects/split", {"key": PROJECT, "first": "2026-05", "do": "clear"}),
        ("/registry/adjustments", {"period": "2025-12", "amount": "1", "reason": "x"}),
    ):
        r = _post(viewer, path, data)
        assert r.status_code == 403 and "registry" in r.text
    assert viewer.get(f"/registry/projects/split?key={PROJECT}").status_code == 403
