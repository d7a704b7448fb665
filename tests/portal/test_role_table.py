"""Role by route: every GET page and download of the web app and every API operation,
for anonymous, viewer, reviewer, admin, pi (ada) and delegate (deb). A new page must be
added to the table (the test lists the app's routes)."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute

STAFF = {"viewer", "reviewer", "admin"}
PORTAL = {"ada", "deb"}
EVERYONE = STAFF | PORTAL
# GET routes -> who may open them (logged-in roles; anonymous never, but the public ones)
# the sign-on routes answer 404 here (sso not configured); tests/oidc covers them
PUBLIC = {
    "/login",
    "/healthz",
    "/readyz",
    "/login/oidc",
    "/login/oidc/callback",
    "/login/oidc/logout",
    "/login/header",
}
ADMIN = {
    "/users",
    "/settings",
    "/audit",
    "/sources/new",
    "/sources/{name}/edit",
    "/registry/{kind}/new",
    "/registry/{kind}/edit",
    "/registry/projects/split",
    "/imports/guess",
}
REVIEWERS = {"/disputes", "/journal/exports/{export_id}/download", "/journal/exports/{export_id}/control"}
PORTAL_PAGES = {
    "/portal",
    "/portal/charges",
    "/portal/charges.csv",
    "/portal/charges/{charge_id}",
    "/portal/disputes",
    "/portal/statements/{number}/{version}",
    "/portal/statements/{number}/{version}/lines",
    "/portal/statements/{number}/{version}/{kind}",
}
SIGNED_IN = {"/account/tokens"}


def _allowed(path: str) -> set[str]:
    if path in PUBLIC:
        return EVERYONE | {"anonymous"}
    if path in ADMIN:
        return {"admin"}
    if path in REVIEWERS:
        return {"reviewer", "admin"}
    if path in PORTAL_PAGES:
        return PORTAL
    if path in SIGNED_IN:
        return EVERYONE
    return STAFF  # every other page shows billing data to staff: Permission.READ


def _walk(routes):
    for r in routes:
        if isinstance(r, APIRoute):
            yield r
        elif hasattr(r, "original_router"):
            yield from _walk(r.original_router.routes)


def _fill(path: str, values: dict) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), path)


def _values(app, clients) -> dict:
    from openchargeback.services import charges

    ada_charge = charges.page(app.state.ctx, charges.Query(pi="ada@example.edu")).rows[0].id
    number = re.search(r'id="st-([A-Z0-9-]+)-v1"', clients["ada"].get("/portal").text).group(1)
    return {
        "name": "2025-01",
        "charge_id": ada_charge,
        "job_id": 1,
        "import_id": 1,
        "number": number,
        "version": "v1",
        "kind": "pdf",
        "export_id": 1,
        "page": "index",
    }


def test_every_page_and_download_by_role(site):
    app, clients, _ = site
    values = _values(app, clients)
    values_registry = dict(values, kind="pis")
    seen = []
    for route in _walk(app.routes):
        if "GET" not in route.methods or route.path == "/account":
            continue
        path = route.path
        url = _fill(path, values_registry if path.startswith("/registry/") else values)
        if path == "/registry/{kind}/edit":
            url += "?key=ada@example.edu"
        if path in (
            "/registry/projects/split",
            "/registry/budgets/project",
            "/projects/detail",
            "/pis/detail",
        ):
            url += "?key=p-ada" if "project" in path else "?key=ada@example.edu"
        if path == "/imports/guess":
            url += "?name=aws_2025-01.csv"
        allowed = _allowed(path)
        for user in ("anonymous", *sorted(EVERYONE)):
            r = clients[user].get(url, follow_redirects=False)
            refused = r.status_code in (401, 403) or (
                r.status_code == 303 and r.headers["location"].startswith("/login")
            )
            assert r.status_code < 500, (user, url, r.status_code)
            if user in allowed:
                assert not refused, (user, url, r.status_code)
            else:
                assert refused, (user, url, r.status_code)
        seen.append(path)
    assert {"/portal", "/charges", "/disputes", "/statements/{number}/pdf"} <= set(seen)


# API: operation -> roles allowed (with a write token)
API = {
    ("GET", "/periods"): EVERYONE,
    ("GET", "/charges"): EVERYONE,
    ("GET", "/charges/{charge_id}"): EVERYONE,
    ("GET", "/disputes"): EVERYONE,
    ("GET", "/statements"): EVERYONE,
    ("GET", "/statements/{number}/{version}/{kind}"): EVERYONE,
    ("GET", "/statements/{number}/{version}/lines"): EVERYONE,
    ("GET", "/reports/totals?period=2025-01"): EVERYONE,
    ("GET", "/registry/pis"): EVERYONE,
    ("GET", "/registry/projects"): EVERYONE,
    ("GET", "/registry/funds"): STAFF,
    ("GET", "/registry-splits"): STAFF,
    ("GET", "/adjustments?period=2025-01"): STAFF,
    ("GET", "/budgets"): STAFF,
    ("GET", "/review?period=2025-02"): STAFF,
    ("GET", "/journals"): STAFF,
    ("POST", "/review/approve"): {"reviewer", "admin"},
    ("POST", "/statements/generate"): {"admin"},
    ("POST", "/imports?filename=x.csv&source=aws"): {"admin"},
    ("POST", "/charges/{charge_id}/disputes"): PORTAL,
    ("POST", "/statements/{number}/1/acknowledge"): PORTAL,
    ("POST", "/statements/{number}/1/lines/1/disputes"): PORTAL,
    ("POST", "/disputes/1/decide"): {"reviewer", "admin"},
}


def test_every_api_operation_by_role(site):
    app, clients, secrets = site
    values = _values(app, clients)
    values["version"] = 1
    anon = clients["anonymous"]
    bodies = {
        "/review/approve": {"period": "2025-01", "ids": [values["charge_id"]], "note": "table"},
        "/statements/generate": {"period": "2025-01"},
        "/charges/{charge_id}/disputes": {"reason": "role table"},
        "/statements/{number}/1/lines/1/disputes": {"reason": "role table"},
        "/disputes/1/decide": {"decision": "declined", "reply": "role table"},
    }
    for (method, path), allowed in API.items():
        url = "/api/v1" + _fill(path, values)
        kwargs = {"json": bodies.get(path.split("?")[0])}
        if path.startswith("/imports"):
            kwargs = {"content": b"not a focus file"}
        r = anon.request(method, url, **kwargs)
        assert r.status_code == 401, (url, r.status_code)
        for user in EVERYONE:
            h = {"Authorization": f"Bearer {secrets[(user, 'write')]}"}
            r = anon.request(method, url, headers=h, **kwargs)
            assert r.status_code < 500, (user, url, r.status_code, r.text)
            if user in allowed:
                assert r.status_code not in (401, 403), (user, url, r.status_code, r.text)
            else:
                assert r.status_code == 403, (user, url, r.status_code, r.text)
