"""Secrets never show: settings page, database URLs in messages (issue 17, item 3)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ..conftest import login
from .conftest import client, make_app

SMTP_PASSWORD = "smtp-Pa55word-visible?"


def test_effective_settings_mask_every_secret(tmp_path):
    from openchargeback.config import Settings
    from openchargeback.services import admin

    settings = Settings.model_validate(
        {
            "database": {
                "url": "postgresql+psycopg://billing:userinfo-pw@db.example/billing?password=query-pw"
            },
            "server": {"secret_key": "k" * 8 + "secret-key-value-0123456789abcdefgh"},
            "email": {"username": "mailer", "password": SMTP_PASSWORD},
        }
    )
    items = dict(admin.effective_settings(SimpleNamespace(settings=settings)).items)
    shown = "\n".join(f"{k}={v}" for k, v in items.items())
    for secret in ("userinfo-pw", "query-pw", SMTP_PASSWORD, "secret-key-value"):
        assert secret not in shown
    assert items["email.password"] == admin.MASK and items["email.username"] == "mailer"
    assert items["database.url"] == (
        "postgresql+psycopg://billing:********@db.example/billing?password=********"
    )


def test_the_settings_page_shows_no_smtp_password(tmp_path):
    app = make_app(tmp_path, email={"password": SMTP_PASSWORD, "username": "mailer"})
    try:
        c = client(app)
        login(c, "admin")
        page = c.get("/settings")
        assert page.status_code == 200 and "mailer" in page.text
        assert SMTP_PASSWORD not in page.text and "********" in page.text
    finally:
        app.state.ctx.engine.dispose()


def test_database_errors_do_not_repeat_the_password():
    from openchargeback.domain.errors import ConfigError
    from openchargeback.storage import db

    with pytest.raises(ConfigError) as caught:
        db.make_engine("mysql://root:hunter2-pw@db.example/x?password=other-pw")
    assert "hunter2-pw" not in caught.value.message and "other-pw" not in caught.value.message
    assert db.masked_url("postgresql+psycopg://h/db?sslpassword=a-key-pw&sslmode=require") == (
        "postgresql+psycopg://h/db?sslmode=require&sslpassword=********"
    )
