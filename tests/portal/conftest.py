"""Portal fixtures: a web app with two PIs (ada, bob), their charges in 2025-01 (closed,
statements generated and sent to the outbox) and 2025-02 (open); users of every role;
logged-in clients and API tokens per user."""

from __future__ import annotations

import pytest

USERS = ("anonymous", "viewer", "reviewer", "admin", "ada", "deb", "bob", "eve")
ROLE_OF = {
    "viewer": "viewer",
    "reviewer": "reviewer",
    "admin": "admin",
    "ada": "pi",
    "deb": "delegate",
    "bob": "pi",
    "eve": "pi",
}


def build_site(tmp):
    from openchargeback.services import periods, users
    from openchargeback.services.context import build_context
    from openchargeback.services.statements import generate, send_period
    from portal.portal_helpers import PASSWORD, two_pis
    from web.conftest import web_settings

    settings = web_settings(
        tmp,
        statements={"output_dir": str(tmp / "out"), "number_prefix": "RC", "detail_line_limit": 1},
        email={"outbox_dir": str(tmp / "outbox"), "from_address": "billing@rc.example.edu"},
    )
    # dev_mode for the seeding only: statements go to the outbox folder, not SMTP
    ctx = build_context(settings.model_copy(update={"dev_mode": True}), actor="seed")
    two_pis(ctx, tmp)
    for role in ("admin", "reviewer", "viewer"):
        users.add_user(ctx, role, PASSWORD, role)
    periods.change_status(ctx, "2025-01", "close", "tests", force=True)
    generate(ctx, "2025-01")
    send_period(ctx, "2025-01")
    ctx.engine.dispose()
    return settings


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from fastapi.testclient import TestClient

    from openchargeback.services import tokens
    from openchargeback.web.app import create_app
    from web.conftest import csrf_of, login

    tmp = tmp_path_factory.mktemp("portal")
    settings = build_site(tmp)
    app = create_app(settings)
    clients, secrets = {}, {}
    for name in USERS:
        c = TestClient(app, base_url="https://testserver")
        if name != "anonymous":
            r = login(c, name)
            assert r.status_code == 303, r.text
            c.csrf = csrf_of(c) if ROLE_OF[name] not in ("pi", "delegate") else _portal_csrf(c)
            for scope in ("read", "write"):
                secrets[(name, scope)] = tokens.create(app.state.ctx, name, scope).secret
        clients[name] = c
    yield app, clients, secrets
    app.state.runner.shutdown()
    app.state.ctx.engine.dispose()


def _portal_csrf(client) -> str:
    import re

    html = client.get("/account/tokens").text
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
