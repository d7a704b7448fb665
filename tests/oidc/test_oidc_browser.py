"""OpenID Connect sign-in in a real browser against a real OpenID Provider (the npm
package oidc-provider, run with Node.js; `make test` installs it with npm ci): the first
sign-in provisions the user with the role their group maps to, a PI lands on the portal
linked to their registry PI, logout ends both sessions; people outside the allowed
domains or without a mapped group are refused."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def provider_and_app(tmp_path):
    import uvicorn

    from openchargeback.services.context import build_context
    from openchargeback.web.app import create_app
    from portal.portal_helpers import two_pis
    from web.conftest import web_settings

    if shutil.which("node") is None or not (HERE / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("Node.js and tests/oidc/node_modules are needed: run `npm ci --prefix tests/oidc`")
    op_port, app_port = _port(), _port()
    app_url = f"http://127.0.0.1:{app_port}"
    op = subprocess.Popen(
        [
            "node",
            str(HERE / "provider.js"),
            str(op_port),
            f"{app_url}/login/oidc/callback",
            f"{app_url}/login",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(
                    f"http://127.0.0.1:{op_port}/.well-known/openid-configuration", timeout=1
                )
                break
            except OSError:
                assert op.poll() is None and time.monotonic() < deadline, "the OpenID Provider did not start"
                time.sleep(0.1)
        settings = web_settings(
            tmp_path,
            sso={
                "oidc": {
                    "issuer": f"http://127.0.0.1:{op_port}",
                    "client_id": "openchargeback",
                    "client_secret": "test-client-secret-0123456789",
                    "scopes": ["openid", "email", "profile", "groups"],
                },
                "group_roles": {"faculty": "pi", "rc-staff": "reviewer"},
                "allowed_domains": ["example.edu"],
            },
        )
        ctx = build_context(settings, actor="seed")
        two_pis(ctx, tmp_path)
        ctx.engine.dispose()
        app = create_app(settings)
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=app_port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        yield app_url, app
        server.should_exit = True
        thread.join(10)
        app.state.ctx.engine.dispose()
    finally:
        op.terminate()
        op.wait(10)


def _provider_login(page, login: str) -> None:
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "any")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    if page.locator("button[autofocus], button[type=submit]").count() and "/interaction/" in page.url:
        page.click("button[type=submit]")  # the consent page: Continue


@pytest.mark.slow
def test_sign_in_provisions_a_pi_who_lands_on_the_portal_and_logout_ends_both(provider_and_app, browser):
    from openchargeback.services import portal, users

    app_url, app = provider_and_app
    page = browser.new_context().new_page()
    page.goto(f"{app_url}/login")
    page.click("#sso-oidc")
    _provider_login(page, "ada")
    page.wait_for_url(f"{app_url}/portal")
    assert "ada@example.edu" in page.content() and "p-ada" in page.content()
    user = users.get_user(app.state.ctx, "ada@example.edu")
    assert user.role == "pi"
    assert portal.scope_for(app.state.ctx, user.id, user.role).pis == frozenset({"ada@example.edu"})

    page.click(".user-menu summary")
    page.click("#logout")
    page.wait_for_url(lambda u: "/session/end" in u or u.split("?")[0] == f"{app_url}/login")
    if "/session/end" in page.url:  # the provider asks to confirm
        page.click("button[autofocus], button[name=logout], button[type=submit]")
    page.wait_for_url(lambda u: u.split("?")[0] == f"{app_url}/login")
    page.goto(f"{app_url}/portal")
    assert "/login" in page.url  # the app's session ended
    page.click("#sso-oidc")
    page.wait_for_selector("input[name=login]")  # the provider's session ended too: asks again


@pytest.mark.slow
def test_staff_group_maps_to_reviewer_and_strangers_are_refused(provider_and_app, browser):
    from openchargeback.services import users

    app_url, app = provider_and_app
    page = browser.new_context().new_page()
    page.goto(f"{app_url}/login/oidc")
    _provider_login(page, "sam")
    page.wait_for_url(f"{app_url}/")
    assert users.get_user(app.state.ctx, "sam@example.edu").role == "reviewer"
    for who in ("out", "nobody"):
        page = browser.new_context().new_page()
        page.goto(f"{app_url}/login/oidc")
        _provider_login(page, who)
        page.wait_for_load_state()
        assert "sign-in refused" in page.content()
    names = {u.username for u in users.list_users(app.state.ctx)}
    assert "out@elsewhere.org" not in names and "nobody@example.edu" not in names
