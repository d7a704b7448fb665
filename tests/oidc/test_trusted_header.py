"""Trusted-header sign-on (a Shibboleth service provider in front): the headers are
believed from an address in server.trusted_proxies and refused from any other."""

from __future__ import annotations

import pytest

HEADERS = {"remote-user": "ada@idp.example.edu", "mail": "ada@example.edu", "ismemberof": "faculty;staff"}


@pytest.fixture(scope="module")
def header_app(tmp_path_factory):
    from openchargeback.services.context import build_context
    from openchargeback.web.app import create_app
    from portal.portal_helpers import two_pis
    from web.conftest import web_settings

    tmp = tmp_path_factory.mktemp("hdr")
    settings = web_settings(
        tmp,
        server={"trusted_proxies": ["10.0.0.0/8"]},
        sso={
            "trusted_header": {
                "user_header": "remote-user",
                "email_header": "mail",
                "groups_header": "ismemberof",
            },
            "group_roles": {"faculty": "pi"},
            "allowed_domains": ["example.edu"],
        },
    )
    ctx = build_context(settings, actor="seed")
    two_pis(ctx, tmp)
    ctx.engine.dispose()
    app = create_app(settings)
    yield app
    app.state.ctx.engine.dispose()


def test_headers_from_a_trusted_proxy_sign_in_and_provision(header_app):
    from fastapi.testclient import TestClient

    from openchargeback.services import portal, users

    c = TestClient(header_app, base_url="https://testserver", client=("10.1.2.3", 40000))
    r = c.get("/login/header", headers=HEADERS, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/portal"
    assert "ada@example.edu" in c.get("/portal").text
    user = users.get_user(header_app.state.ctx, "ada@example.edu")
    assert user.role == "pi"
    assert portal.scope_for(header_app.state.ctx, user.id, user.role).pis == frozenset({"ada@example.edu"})
    r = c.get("/login/header", headers={"mail": "x@example.edu"}, follow_redirects=False)
    assert r.status_code in (303, 401)  # no user header: not signed in
    assert "remote-user" in r.text or r.headers.get("location", "").startswith("/login")


def test_headers_from_an_untrusted_address_are_refused(header_app):
    from fastapi.testclient import TestClient

    from openchargeback.services import users

    c = TestClient(header_app, base_url="https://testserver", client=("192.0.2.9", 40000))
    headers = dict(HEADERS, **{"remote-user": "mallory", "mail": "mallory@example.edu"})
    r = c.get("/login/header", headers=headers, follow_redirects=False)
    assert r.status_code == 403 and "not in server.trusted_proxies" in r.text
    assert "mallory@example.edu" not in {u.username for u in users.list_users(header_app.state.ctx)}
    assert c.get("/portal", follow_redirects=False).status_code == 303  # not signed in


def test_a_disabled_user_is_refused_and_the_refusal_logged(header_app):
    from fastapi.testclient import TestClient

    from openchargeback.services import audit, users

    ctx = header_app.state.ctx
    c = TestClient(header_app, base_url="https://testserver", client=("10.1.2.3", 40000))
    headers = dict(HEADERS, **{"remote-user": "bea@idp.example.edu", "mail": "bea@example.edu"})
    assert c.get("/login/header", headers=headers, follow_redirects=False).status_code == 303
    users.set_disabled(ctx, "bea@example.edu", True)
    c2 = TestClient(header_app, base_url="https://testserver", client=("10.1.2.3", 40001))
    r = c2.get("/login/header", headers=headers, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert c2.get("/portal", follow_redirects=False).status_code == 303
    entries = audit.list_entries(ctx, action="login.failure").entries
    assert any("user disabled" in (e.detail or "") for e in entries)
