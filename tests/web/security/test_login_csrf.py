"""The login form's CSRF token is signed and bound to the login cookie; cookies carry
the __Host- prefix outside dev mode (issue 17, item 7)."""

from __future__ import annotations

import re

from ..conftest import PASSWORD, login
from .conftest import client, make_app


def post_login(c, token: str):
    return c.post(
        "/login",
        data={"username": "admin", "password": PASSWORD, "csrf_token": token, "next": "/"},
        follow_redirects=False,
    )


def test_a_made_up_cookie_and_token_pair_does_not_log_in(app):
    c = client(app)
    c.cookies.set("__Host-ocb_login", "attacker-chosen")
    assert post_login(c, "attacker-chosen").status_code == 403
    c.cookies.set("ocb_login_csrf", "x")  # the former double-submit pair
    assert post_login(c, "x").status_code == 403


def test_a_token_is_good_only_with_its_own_cookie_and_for_an_hour(app, monkeypatch):
    import itsdangerous

    mine, other = client(app), client(app)
    token = re.search(r'name="csrf_token" value="([^"]+)"', mine.get("/login").text).group(1)
    other.get("/login")  # another login cookie
    assert post_login(other, token).status_code == 403
    real = itsdangerous.TimestampSigner.get_timestamp
    monkeypatch.setattr(itsdangerous.TimestampSigner, "get_timestamp", lambda self: real(self) + 3601)
    assert post_login(mine, token).status_code == 403  # expired
    monkeypatch.undo()
    assert post_login(mine, token).status_code == 303


def test_cookies_are_host_only_outside_dev_mode(app, tmp_path):
    c = client(app)
    form = c.get("/login").headers["set-cookie"]
    assert form.startswith("__Host-ocb_login=") and "Path=/;" in form or form.endswith("Path=/")
    assert "Secure" in form and "Domain" not in form
    session = login(c, "admin").headers.get_list("set-cookie")
    made = next(h for h in session if h.startswith("__Host-ocb_session="))
    assert "Secure" in made and "HttpOnly" in made and "Path=/" in made and "Domain" not in made

    dev = make_app(tmp_path / "dev", dev_mode=True)
    try:
        c = client(dev)
        assert c.get("/login").headers["set-cookie"].startswith("ocb_login=")
        assert any(h.startswith("ocb_session=") for h in login(c, "admin").headers.get_list("set-cookie"))
    finally:
        dev.state.ctx.engine.dispose()
