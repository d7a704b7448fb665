"""Every page and action, for every role and for an anonymous visitor."""

from __future__ import annotations

import pytest

# (method, path, who may: "read" = every role, "review" = reviewer or admin, "admin" = admin only)
ROUTES = [
    ("GET", "/", "read"),
    ("GET", "/?period=2025-01", "read"),
    ("GET", "/periods", "read"),
    ("GET", "/periods/2025-01", "read"),
    ("GET", "/charges", "read"),
    ("GET", "/charges?period=2025-01&flagged=yes&sort=billed&desc=1", "read"),
    ("GET", "/charges/rows?period=2025-01", "read"),
    ("GET", "/charges/1", "read"),
    ("GET", "/charges/export.csv?period=2025-01", "read"),
    ("GET", "/projects", "read"),
    ("GET", "/projects/detail?key=genomics-sequencing", "read"),
    ("GET", "/pis", "read"),
    ("GET", "/pis/detail?key=zorp.blinkman@example.edu", "read"),
    ("GET", "/imports", "read"),
    ("GET", "/imports/1", "read"),
    ("GET", "/sources", "read"),
    ("GET", "/help", "read"),
    ("GET", "/help/workflow", "read"),
    ("GET", "/help/focus", "read"),
    ("GET", "/help/tags", "read"),
    ("GET", "/help/roles", "read"),
    ("GET", "/account", "read"),
    ("GET", "/imports/guess?name=aws_2025-01.csv", "admin"),
    ("GET", "/sources/new", "admin"),
    ("GET", "/sources/aws/edit", "admin"),
    ("GET", "/users", "admin"),
    ("GET", "/settings", "admin"),
    ("GET", "/audit", "admin"),
    ("GET", "/review", "read"),
    ("GET", "/review?period=2025-01&status=all&source=aws&min=100&reason=over_max", "read"),
    ("GET", "/review/rows?period=2025-01&status=all", "read"),
    ("POST", "/review/1/approve", "review", {"period": "2025-01", "back": "/review?period=2025-01"}),
    ("POST", "/review/2/reject", "review", {"period": "2025-01", "note": "route test"}),
    ("POST", "/review/2/approve", "review", {"period": "2025-01", "back": "/charges/2"}),
    ("POST", "/review/3/correct", "review", {"period": "2025-01", "project": "genomics-sequencing"}),
    ("POST", "/review/bulk", "review", {"period": "2025-01", "do": "approve-matching"}),
    ("POST", "/settings/review-rules/preview", "admin", {"text": "max_charge: 1000", "period": "2025-01"}),
    ("POST", "/settings/review-rules", "admin", {"text": "{}"}),
    ("POST", "/settings/review-rules/recheck", "admin", {"period": "2025-01"}),
    ("GET", "/statements", "read"),
    ("GET", "/statements?period=2025-01&all_versions=true", "read"),
    ("GET", "/journal", "read"),
    ("GET", "/journal?period=2025-01", "read"),
    ("POST", "/journal/export", "review", {"period": "2025-01", "format": "summary", "draft": "true"}),
    ("GET", "/journal/exports/1/download", "review"),
    ("POST", "/period", "read", {"period": "2025-01", "back": "/"}),
    ("POST", "/periods/2025-01/close", "admin", {}),
    # statements are generated from a closed period (an open one is refused on the page)
    ("POST", "/statements/generate", "admin", {"period": "2025-01"}),
    ("POST", "/statements/send", "admin", {"period": "2025-01"}),
    ("POST", "/periods/2025-01/reopen", "admin", {"reason": "route test"}),
    ("POST", "/sources", "admin", {"name": "gcp-test", "cost_basis": "billed"}),
    ("POST", "/sources/gcp-test", "admin", {"display_name": "GCP", "cost_basis": "billed"}),
    ("POST", "/users", "admin", {"username": "newbie", "password": "a-long-password", "role": "viewer"}),
    ("POST", "/users/newbie/role", "admin", {"role": "reviewer"}),
    ("POST", "/users/newbie/password", "admin", {"password": "another-long-password"}),
    ("POST", "/users/newbie/disable", "admin", {}),
    ("POST", "/users/newbie/enable", "admin", {}),
    ("POST", "/imports/upload?filename=x.csv&source=aws", "admin", None),
    # the registry (its own tests: test_registry_pages.py); admin rows build on each other
    ("GET", "/registry", "read"),
    ("GET", "/registry/projects", "read"),
    ("GET", "/registry/pis?q=example", "read"),
    ("GET", "/registry/funds", "read"),
    ("GET", "/registry/funds/export.csv", "read"),
    ("GET", "/registry/adjustments?period=2025-01", "read"),
    ("GET", "/registry/budgets?period=2025-01", "read"),
    ("GET", "/registry/budgets/panel?period=2025-01", "read"),
    ("GET", "/registry/budgets/project?key=genomics-sequencing&period=2025-01", "read"),
    ("GET", "/registry/pis/new", "admin"),
    ("GET", "/registry/projects/new", "admin"),
    ("GET", "/registry/funds/new", "admin"),
    ("POST", "/registry/pis", "admin", {"email": "route.test@example.edu", "name": "Route Test"}),
    ("POST", "/registry/funds", "admin", {"code": "RT-1", "budget": "100"}),
    ("POST", "/registry/funds/import", "admin", {"file": ("funds.csv", b"code,description\nRT-2,route\n")}),
    (
        "POST",
        "/registry/projects",
        "admin",
        {"project_id": "rt-project", "pi_email": "route.test@example.edu"},
    ),
    ("GET", "/registry/projects/edit?key=rt-project", "admin"),
    (
        "POST",
        "/registry/projects/edit",
        "admin",
        {
            "key": "rt-project",
            "pi_email": "route.test@example.edu",
            "status": "active",
            "default_fund": "RT-1",
        },
    ),
    ("GET", "/registry/projects/split?key=rt-project&period=2025-01", "admin"),
    (
        "POST",
        "/registry/projects/split",
        "admin",
        {
            "key": "rt-project",
            "fund": ["RT-1", "RT-2"],
            "percent": ["60", "40"],
            "first": "2025-01",
            "do": "set",
        },
    ),
    (
        "POST",
        "/registry/adjustments",
        "admin",
        {
            "period": "2025-01",
            "kind": "credit",
            "amount": "5",
            "reason": "route test",
            "project": "rt-project",
        },
    ),
]
WHO = [None, "viewer", "reviewer", "admin"]


def _call(client, method, path, data):
    if method == "GET":
        return client.get(path, follow_redirects=False)
    headers = {"X-CSRF-Token": getattr(client, "csrf", "")}
    if data is None:  # a raw upload body
        return client.post(path, content=b"BilledCost\n1\n", headers=headers, follow_redirects=False)
    files = {k: v for k, v in data.items() if isinstance(v, tuple)}  # (name, bytes): an upload
    if files:
        data = {k: v for k, v in data.items() if k not in files}
    return client.post(path, data=data, files=files or None, headers=headers, follow_redirects=False)


@pytest.mark.parametrize("role", WHO, ids=lambda r: r or "anonymous")
def test_every_route_for_every_role(clients, role):
    client = clients[role]
    failures = []
    for method, path, who, *data in ROUTES:
        r = _call(client, method, path, data[0] if data else {})
        if role is None:
            ok = (
                (r.status_code == 303 and r.headers["location"].startswith("/login"))
                if method == "GET"
                else r.status_code == 401
            )
        elif who == "read" or role == "admin" or (who == "review" and role == "reviewer"):
            ok = r.status_code in (200, 303) and r.status_code != 403
        else:
            ok = r.status_code == 403
        if not ok:
            failures.append(f"{method} {path}: {r.status_code} {r.text[:200]!r}")
        elif r.status_code == 303 and r.headers["location"].startswith("/journal?"):
            _export_finished(client, r.headers["location"])  # the next route downloads it
    assert not failures, "\n".join(failures)


def _export_finished(client, location: str) -> None:
    """Wait for the journal export job the page at ``location`` follows."""
    import re
    import time

    job = re.search(r"job=(\d+)", location).group(1)
    deadline = time.monotonic() + 60
    while 'data-status="done"' not in client.get(f"/journal/jobs/{job}").text:
        assert time.monotonic() < deadline, f"journal export job {job} did not finish"
        time.sleep(0.2)


def test_login_page_and_static_are_public(clients):
    c = clients[None]
    assert c.get("/login").status_code == 200
    assert c.get("/static/app.css").status_code == 200
    assert c.get("/static/htmx.min.js").status_code == 200


def test_no_api_docs(clients):
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert clients["admin"].get(path).status_code == 404


def test_unknown_page_is_a_404_page(clients):
    r = clients["admin"].get("/nowhere")
    assert r.status_code == 404
    assert "no page at this address" in r.text


def test_charges_filters_pages_and_export(clients):
    c = clients["viewer"]
    page = c.get("/charges?period=2025-01&project=genomics-sequencing")
    assert page.status_code == 200 and "genomics-sequencing" in page.text
    assert "No charges match" in c.get("/charges?period=2025-01&project=no-such-project").text
    import re

    from openchargeback.services import charges

    ctx = c.app.state.ctx
    seen, q = [], charges.Query(period="2025-01")
    while True:  # key pagination, 10 at a time: every row once, in order
        p = charges.page(ctx, q, limit=10)
        seen += [r.id for r in p.rows]
        if p.next_cursor is None:
            break
        q = charges.Query(period="2025-01", after=p.next_cursor)
    assert len(seen) == len(set(seen)) == p.totals.rows if p.totals else len(seen)
    for sort in ("billed", "pi", "start"):
        ids, q = [], charges.Query(period="2025-01", sort=sort, desc=True)
        while True:
            p = charges.page(ctx, q, limit=7)
            ids += [r.id for r in p.rows]
            if p.next_cursor is None:
                break
            q = charges.Query(period="2025-01", sort=sort, desc=True, after=p.next_cursor)
        assert sorted(ids) == sorted(seen), sort
    assert c.get("/charges/rows?period=2025-01&after=garbage!").status_code == 422
    csv_text = c.get("/charges/export.csv?period=2025-01").text
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("id,period,source")
    assert len(lines) - 1 == int(
        re.search(r"([\d,]+) charges ·", c.get("/charges?period=2025-01").text).group(1).replace(",", "")
    )


def test_dashboard_totals_match_the_period_report(clients, web):
    from decimal import Decimal

    from openchargeback.services.reports import period_totals

    app, _ = web
    t = period_totals(app.state.ctx, "2025-01")
    html = clients["viewer"].get("/?period=2025-01").text
    assert f"${t.totals.billed_cost.quantize(Decimal('0.01')):,}" in html


def test_audit_records_logins_and_actions(clients):
    html = clients["admin"].get("/audit?action=login").text
    assert "login.success" in html
    html = clients["admin"].get("/audit").text
    assert "period." in html or "user." in html
