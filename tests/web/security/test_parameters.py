"""Every path and query parameter is validated: periods, integers in range, safe
download names; security headers on every response, errors included (issue 17, items
4 and 5)."""

from __future__ import annotations

import pytest

HUGE = "99999999999999999999999"
HEADERS = ("content-security-policy", "x-content-type-options", "referrer-policy", "x-frame-options")


def has_headers(r) -> bool:
    return all(h in r.headers for h in HEADERS) and r.headers.get("cache-control")


@pytest.mark.parametrize(
    "path",
    [
        f"/review?min={HUGE}",
        f"/review?min=-{HUGE}",
        "/review?min=1e999999",
        f"/charges/{HUGE}",
        f"/charges/-{HUGE}",
        "/charges/2147483648",
        f"/imports/jobs/{HUGE}",
        f"/imports/{HUGE}",
        f"/journal/exports/{HUGE}/download",
        f"/audit?before={HUGE}",
        f"/statements?job={HUGE}",
        f"/statements/jobs/{HUGE}",
        f"/journal?job={HUGE}",
        f"/journal/jobs/{HUGE}",
        "/periods/2025-13",
        "/periods/%E2%82%AC",
        "/charges?period=2025-13",
        "/charges?period=%E2%82%AC",
        "/?period=2025-1",
        "/projects?period=x%22%3B%20filename%2A%3DUTF-8%27%27report.html",
        "/charges/export.csv?period=%E2%82%AC",
    ],
)
def test_bad_parameters_answer_404_or_422_with_headers(clients, path):
    r = clients["admin"].get(path, follow_redirects=False)
    assert r.status_code in (404, 422), (path, r.status_code, r.text[:300])
    assert has_headers(r)


def test_an_unexpected_error_answers_500_with_the_headers(web):
    from fastapi.testclient import TestClient

    from ..conftest import login

    app, _ = web

    @app.get("/test-boom")
    def boom():
        raise RuntimeError("a bug")

    c = TestClient(app, base_url="https://testserver", raise_server_exceptions=False)
    login(c, "viewer")
    r = c.get("/test-boom")
    assert r.status_code == 500 and has_headers(r) and "a bug" not in r.text
    for path in ("/nowhere", "/charges/abc"):
        r = c.get(path)
        assert r.status_code in (404, 422) and has_headers(r)


def test_download_names_cannot_be_injected(clients):
    r = clients["admin"].get("/charges/export.csv?period=2025-01")
    assert r.status_code == 200
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=") and disposition.count(";") <= 2
    assert "2025-01" in disposition


def test_content_disposition_quotes_whatever_name_it_gets():
    from openchargeback.web.security import attachment

    evil = "x\"; filename*=UTF-8''report.html; x=\"\r\nSet-Cookie: a=b"
    header = attachment(evil)
    assert "\r" not in header and "\n" not in header and " " not in header.split("; ", 2)[2]
    assert header.count(";") == 2 and header.count('"') == 2  # no parameter added
    assert attachment("Statement €2025.pdf") == (
        "attachment; filename=\"Statement__2025.pdf\"; filename*=UTF-8''Statement%20%E2%82%AC2025.pdf"
    )
