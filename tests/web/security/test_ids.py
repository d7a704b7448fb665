"""Every route that takes an id answers an id that cannot exist (28 digits, past any
database integer) with 404 or a refusal of the caller, never a 500 (issues 15 and 17).
The routes are read from the app, so a new id-taking route is covered when it is added."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from fastapi.routing import APIRoute

from ..conftest import csrf_of

HUGE = "9" * 28


def _is_int(annotation: Any) -> bool:
    return annotation is int or int in get_args(annotation)


def _walk(routes, prefix: str = ""):
    """(prefix, APIRoute) of every route, through mounted apps and included routers."""
    for r in routes:
        if isinstance(r, APIRoute):
            yield prefix, r
            continue
        inner = getattr(r, "original_router", None) or getattr(r, "app", None)
        if hasattr(inner, "routes"):
            yield from _walk(inner.routes, prefix + getattr(r, "path", ""))


def _id_routes(app) -> list[tuple[str, str]]:
    """(method, path) of every route with an integer path parameter, ids made HUGE and
    other parameters given a plausible value."""
    out = []
    for prefix, r in _walk(app.routes):
        params = r.dependant.path_params
        if not any(_is_int(p.field_info.annotation) for p in params):
            continue
        path = prefix + r.path
        for p in params:
            plausible = {"kind": "pdf", "action": "approve"}.get(p.alias, "x")
            path = path.replace("{" + p.alias + "}", HUGE if _is_int(p.field_info.annotation) else plausible)
        out += [(method, path) for method in sorted(r.methods)]
    return out


@pytest.fixture
def token_of(app):
    from openchargeback.services import tokens

    ctx = app.state.ctx
    return lambda user, scope: tokens.create(ctx, user, scope).secret


def test_every_id_route_answers_an_impossible_id_without_a_500(app, token_of):
    from ..conftest import login
    from .conftest import client

    routes = _id_routes(app)
    paths = {p for _, p in routes}
    assert f"/charges/{HUGE}" in paths and f"/api/v1/charges/{HUGE}" in paths  # read from the app
    assert len(routes) >= 15
    staff = client(app)
    assert login(staff, "admin").status_code == 303
    csrf = csrf_of(staff)
    api = client(app)
    api.headers["Authorization"] = f"Bearer {token_of('admin', 'write')}"
    for method, path in routes:
        if path.startswith("/api/"):  # the API's schema bounds ids: 422, a problem document
            r, expected = api.request(method, path), (403, 404, 422)
        else:
            r, expected = staff.request(method, path, headers={"X-CSRF-Token": csrf}), (403, 404)
        assert r.status_code in expected, (method, path, r.status_code, r.text[:300])
    # the staff charge page itself: not found, in the page's words
    r = staff.get(f"/charges/{HUGE}")
    assert r.status_code == 404 and "Traceback" not in r.text
