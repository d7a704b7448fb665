"""The REST API: tokens only (no cookie), problem+json errors, scope per role, write
scope, the OpenAPI document for authenticated clients, and the curl examples of
docs/user-guide/api.md run against a live server."""

from __future__ import annotations


def _h(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def test_api_needs_a_token_and_answers_problem_json(site):
    app, clients, secrets = site
    anon = clients["anonymous"]
    r = anon.get("/api/v1/periods")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == 401 and r.headers["www-authenticate"] == "Bearer"
    # a session cookie is no credential on the token path
    assert clients["admin"].get("/api/v1/periods").status_code == 401
    r = anon.get("/api/v1/periods", headers=_h(secrets[("viewer", "read")]))
    assert r.status_code == 200 and "set-cookie" not in r.headers
    assert [p["period"] for p in r.json()["items"]] == ["2025-02", "2025-01"]
    assert anon.get("/api/v1/openapi.json").status_code == 401
    doc = anon.get("/api/v1/openapi.json", headers=_h(secrets[("viewer", "read")])).json()
    assert doc["openapi"].startswith("3.1") and "/charges" in doc["paths"]
    r = anon.get("/api/v1/charges/999999", headers=_h(secrets[("admin", "read")]))
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


def test_a_pi_token_sees_only_its_pis_data(site):
    app, clients, secrets = site
    anon = clients["anonymous"]
    for user, pis in (
        ("ada", {"ada@example.edu"}),
        ("deb", {"ada@example.edu"}),
        ("bob", {"bob@example.edu"}),
        ("eve", set()),
    ):
        h = _h(secrets[(user, "read")])
        items = anon.get("/api/v1/charges", headers=h).json()["items"]
        assert {c["pi"] for c in items} == pis, user
        totals = anon.get("/api/v1/reports/totals?period=2025-01&by=pi", headers=h).json()["items"]
        assert {t["group"] for t in totals} == pis
        sts = anon.get("/api/v1/statements", headers=h).json()["items"]
        assert {s["pi_email"] for s in sts} == pis
        projects = anon.get("/api/v1/registry/projects", headers=h).json()["items"]
        assert {p["pi_email"] for p in projects} == pis
        assert anon.get("/api/v1/review?period=2025-02", headers=h).status_code == 403
        assert anon.get("/api/v1/registry/funds", headers=h).status_code == 403
    staff = anon.get("/api/v1/charges", headers=_h(secrets[("viewer", "read")])).json()["items"]
    assert len(staff) == 6


def test_write_needs_a_write_token_and_the_role(site):
    app, clients, secrets = site
    anon = clients["anonymous"]
    from openchargeback.services import charges

    flagged = charges.page(app.state.ctx, charges.Query(period="2025-02", flagged=True)).rows[0].id
    body = {"period": "2025-02", "ids": [flagged], "note": "ok"}
    r = anon.post("/api/v1/review/approve", json=body, headers=_h(secrets[("reviewer", "read")]))
    assert r.status_code == 403 and "write token" in r.json()["detail"]
    r = anon.post("/api/v1/review/approve", json=body, headers=_h(secrets[("viewer", "write")]))
    assert r.status_code == 403 and "review" in r.json()["detail"]
    r = anon.post("/api/v1/review/approve", json=body, headers=_h(secrets[("reviewer", "write")]))
    assert r.status_code == 200, r.text
    ada_charge = charges.page(app.state.ctx, charges.Query(pi="ada@example.edu")).rows[-1].id
    r = anon.post(
        f"/api/v1/charges/{ada_charge}/disputes",
        json={"reason": "api"},
        headers=_h(secrets[("bob", "write")]),
    )
    assert r.status_code == 404
    r = anon.post(
        f"/api/v1/charges/{ada_charge}/disputes",
        json={"reason": "api"},
        headers=_h(secrets[("deb", "write")]),
    )
    assert r.status_code in (201, 409), r.text
