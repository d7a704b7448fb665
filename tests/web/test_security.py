"""CSRF, headers, cookies, throttling, session revocation, refusing unsafe settings."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from .conftest import PASSWORD, csrf_of, login, seed, web_settings


@pytest.fixture
def fresh(tmp_path):
    from openchargeback.web.app import create_app

    settings = web_settings(tmp_path)
    seed(settings, files=("aws_2025-01.csv",))
    app = create_app(settings)
    yield app
    app.state.runner.shutdown()
    app.state.ctx.engine.dispose()


def client(app) -> TestClient:
    return TestClient(app, base_url="https://testserver")


def test_security_headers_on_pages_and_errors(clients):
    for path in ("/login", "/", "/nowhere", "/static/app.css"):
        r = clients["viewer"].get(path, follow_redirects=False)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
    assert clients["viewer"].get("/").headers["cache-control"] == "no-store"


def test_no_inline_script_or_style_in_pages(clients):
    import re

    for path in ("/", "/charges", "/imports", "/charges/1", "/login"):
        html = clients["admin"].get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), path
        assert " style=" not in html and "<style" not in html, path
        assert " onclick=" not in html and "javascript:" not in html, path


def test_session_cookie_flags(fresh):
    c = client(fresh)
    r = login(c, "admin")
    cookie = r.headers["set-cookie"]
    assert "__Host-ocb_session=" in cookie and "HttpOnly" in cookie and "Secure" in cookie
    assert "samesite=lax" in cookie.lower()


def test_post_without_or_with_wrong_csrf_token_is_refused(clients):
    c = clients["admin"]
    assert c.post("/period", data={"period": "2025-01"}, follow_redirects=False).status_code == 403
    r = c.post("/period", data={"period": "2025-01", "csrf_token": "forged"}, follow_redirects=False)
    assert r.status_code == 403 and "CSRF" in r.text
    r = c.post("/period", data={"period": "2025-01", "csrf_token": c.csrf}, follow_redirects=False)
    assert r.status_code == 303


def test_login_form_needs_its_csrf_cookie(fresh):
    c = client(fresh)
    r = c.post(
        "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": "x"}, follow_redirects=False
    )
    assert r.status_code == 403


def test_wrong_password_then_throttled_per_user(fresh):
    """(tests/web/security/test_login_throttle.py has the throttle's rules on a clock.)"""
    from openchargeback.services import auth

    c = client(fresh)
    statuses = []
    for _ in range(12):
        r = login(c, "viewer", "wrong password!")
        statuses.append(r.status_code)
        if r.status_code == 429:
            break
    assert statuses[: auth.FREE_PER_USER + 1] == [401] * (auth.FREE_PER_USER + 1)
    assert statuses[-1] == 429 and "try again in" in r.text and "wrong user name or password" not in r.text
    assert login(c, "admin").status_code == 303  # another user is not affected


def test_made_up_names_do_not_lock_out_a_user_elsewhere(fresh):
    c = client(fresh)
    for i in range(20):
        assert login(c, f"nobody{i}", "wrong password!").status_code in (401, 429)
    elsewhere = TestClient(fresh, base_url="https://testserver", client=("198.51.100.4", 50000))
    assert login(elsewhere, "admin").status_code == 303


def test_throttle_window_passes(fresh):
    from openchargeback.services import auth

    ctx = fresh.state.ctx
    from openchargeback.domain.roles import NotAuthenticated, TooManyAttempts

    for _ in range(5):
        with pytest.raises((NotAuthenticated, TooManyAttempts)):
            auth.login(ctx, "viewer", "bad", ip="10.0.0.1")
    later = ctx.clock() + timedelta(minutes=16)
    from dataclasses import replace

    moved = replace(ctx, clock=lambda: later)
    assert auth.login(moved, "viewer", PASSWORD, ip="10.0.0.1").session.username == "viewer"


def test_logout_revokes_the_session_server_side(fresh):
    c = client(fresh)
    login(c, "viewer")
    token = c.cookies.get("__Host-ocb_session")
    c.post("/logout", headers={"X-CSRF-Token": csrf_of(c)}, follow_redirects=False)
    other = client(fresh)
    other.cookies.set("__Host-ocb_session", token)  # a copy of the cookie is useless now
    assert other.get("/", follow_redirects=False).status_code == 303


def test_password_change_and_disable_end_sessions(fresh):
    admin, viewer = client(fresh), client(fresh)
    login(admin, "admin")
    login(viewer, "viewer")
    assert viewer.get("/", follow_redirects=False).status_code == 200
    admin.post(
        "/users/viewer/password",
        data={"password": "a-new-long-password"},
        headers={"X-CSRF-Token": csrf_of(admin)},
    )
    assert viewer.get("/", follow_redirects=False).status_code == 303
    login(viewer, "viewer", "a-new-long-password")
    assert viewer.get("/", follow_redirects=False).status_code == 200
    admin.post("/users/viewer/disable", headers={"X-CSRF-Token": csrf_of(admin)})
    assert viewer.get("/", follow_redirects=False).status_code == 303
    assert login(viewer, "viewer", "a-new-long-password").status_code == 401


def test_own_password_change_keeps_this_session_ends_others(fresh):
    a, b = client(fresh), client(fresh)
    login(a, "reviewer")
    login(b, "reviewer")
    r = a.post(
        "/account/password",
        data={"current": PASSWORD, "new": "brand-new-password", "confirm": "brand-new-password"},
        headers={"X-CSRF-Token": csrf_of(a)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert a.get("/", follow_redirects=False).status_code == 200
    assert b.get("/", follow_redirects=False).status_code == 303


def test_session_expires(tmp_path):
    from dataclasses import replace

    from openchargeback.services import auth

    settings = web_settings(tmp_path, server={"session_lifetime_minutes": 5})
    seed(settings, files=())
    from openchargeback.services.context import build_context

    ctx = build_context(settings)
    s = auth.login(ctx, "admin", PASSWORD, ip="1.2.3.4")
    assert auth.session(ctx, s.token) is not None
    later = ctx.clock() + timedelta(minutes=6)
    assert auth.session(replace(ctx, clock=lambda: later), s.token) is None
    ctx.engine.dispose()


def test_example_hash_refused_outside_dev_mode(tmp_path):
    from openchargeback.config import EXAMPLE_PASSWORD_HASHES, ensure_safe_to_serve
    from openchargeback.domain.errors import ConfigError

    example = next(iter(EXAMPLE_PASSWORD_HASHES))
    users = [{"username": "admin", "password_hash": example, "role": "admin"}]
    with pytest.raises(ConfigError, match="example password hash"):
        ensure_safe_to_serve(web_settings(tmp_path, users=users))
    for key in (None, "short", "dev-only-secret-change-me-0123456789abcdef", "a" * 40):
        with pytest.raises(ConfigError, match="secret_key"):
            ensure_safe_to_serve(web_settings(tmp_path, server={"secret_key": key}))
    ensure_safe_to_serve(web_settings(tmp_path, users=users, dev_mode=True, server={"secret_key": None}))
    ensure_safe_to_serve(web_settings(tmp_path))  # a real secret, no example user


def test_example_admin_logs_in_only_in_dev_mode(tmp_path):
    from openchargeback.config import EXAMPLE_PASSWORD_HASHES
    from openchargeback.web.app import create_app

    example = next(iter(EXAMPLE_PASSWORD_HASHES))
    users = [{"username": "admin", "password_hash": example, "role": "admin"}]
    for dev, expected in ((True, 303), (False, 401)):
        app = create_app(web_settings(tmp_path / str(dev), users=users, dev_mode=dev))
        assert login(client(app), "admin", "demo-admin").status_code == expected
        app.state.runner.shutdown()
        app.state.ctx.engine.dispose()


def test_serve_refuses_unsafe_settings(tmp_path, run_cli):
    import yaml

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"database": {"url": f"sqlite:///{tmp_path}/b.db"}}))
    code, _, err = run_cli("serve", "-c", cfg)
    assert code == 1 and "secret_key is not set" in err


def test_upload_limits_and_names(clients, web):
    c = clients["admin"]
    h = {"X-CSRF-Token": c.csrf, "HX-Request": "true"}
    big = b"x" * (5 * 1024 * 1024 + 1)
    r = c.post("/imports/upload?filename=aws_2025-01.csv&source=aws", content=big, headers=h)
    assert r.status_code == 413
    r = c.post("/imports/upload?filename=evil.sh&source=aws", content=b"x", headers=h)
    assert r.status_code == 422
    _, settings = web
    r = c.post(
        "/imports/upload?filename=../../etc/aws_2025-01.csv&source=aws", content=b"BilledCost\n", headers=h
    )
    assert r.status_code == 200
    from pathlib import Path

    data = Path(settings.server.data_dir).resolve()
    assert not (data.parent / "etc").exists()


def test_csv_export_neutralises_formulas():
    from openchargeback.rendering.csv_safe import cell, lines

    assert cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert cell("+1+2") == "'+1+2" and cell("@SUM(A1)") == "'@SUM(A1)"
    assert cell("-12.50") == "-12.50"  # a negative amount stays a number
    assert cell("-cmd|x") == "'-cmd|x"
    assert lines([["=1", "ok"]]) == "'=1,ok\r\n"
