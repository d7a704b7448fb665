"""sso.local_passwords: false leaves password sign-in to admins only (the break-glass
account); everyone else must use single sign-on."""

from __future__ import annotations

import pytest

from openchargeback.domain.roles import NotAuthenticated
from openchargeback.services import auth, users


def test_only_admins_keep_their_password(sqlite_url, make_ctx):
    ctx = make_ctx(sqlite_url, sso={"local_passwords": False})
    users.add_user(ctx, "root", "correct horse battery", "admin")
    users.add_user(ctx, "rita", "correct horse battery", "reviewer")
    assert auth.login(ctx, "root", "correct horse battery", ip="192.0.2.1").session.username == "root"
    with pytest.raises(NotAuthenticated):
        auth.login(ctx, "rita", "correct horse battery", ip="192.0.2.1")
    on = make_ctx(sqlite_url)
    assert auth.login(on, "rita", "correct horse battery", ip="192.0.2.2").session.role == "reviewer"
