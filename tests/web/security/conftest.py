"""An app with users and no charges: the security tests need no sample data."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ..conftest import PASSWORD, ROLES, web_settings


def make_app(tmp_path, **extra):
    from openchargeback.services import users
    from openchargeback.services.context import build_context
    from openchargeback.web.app import create_app

    settings = web_settings(tmp_path, **extra)
    ctx = build_context(settings, actor="seed")
    for role in ROLES:
        users.add_user(ctx, role, PASSWORD, role)
    ctx.engine.dispose()
    return create_app(settings)


@pytest.fixture(autouse=True)
def quick_hashes(monkeypatch):
    """Argon2id at a small cost: these tests check many passwords (the hashes keep
    their parameters, so verifying them is quick too)."""
    from argon2 import PasswordHasher

    from openchargeback.services import users

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(users, "_hasher", lambda: cheap)


@pytest.fixture
def app(tmp_path):
    app = make_app(tmp_path)
    yield app
    if app.state.runner is not None:
        app.state.runner.shutdown()
    app.state.ctx.engine.dispose()


def client(app, **kw) -> TestClient:
    return TestClient(app, base_url="https://testserver", **kw)
