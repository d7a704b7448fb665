"""`openchargeback tokens` and `portal` commands, and a token's lifecycle: created
(secret shown once, stored hashed), listed with last use, expired, revoked, its user
disabled."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from openchargeback.domain.roles import Forbidden, NotAuthenticated
from openchargeback.services import tokens, users
from openchargeback.storage.portal_tables import api_tokens
from portal.portal_helpers import two_pis


def test_tokens_commands(sqlite_url, write_config, run_cli, make_ctx, tmp_path):
    ctx = make_ctx(sqlite_url)
    users.add_user(ctx, "alice", "correct horse battery", "viewer")
    cfg = write_config(sqlite_url)
    code, out, err = run_cli("tokens", "create", "--user", "alice", "--scope", "read", "-c", cfg)
    assert code == 0, err
    secret = out.strip()
    assert secret.startswith("ocb_") and "not shown again" in err
    with ctx.engine.connect() as conn:
        stored = conn.execute(select(api_tokens)).one()
    assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in repr(tuple(stored))
    assert tokens.authenticate(ctx, secret).username == "alice"
    code, out, _ = run_cli("tokens", "list", "--json", "-c", cfg)
    (listed,) = json.loads(out)
    assert listed["last_used_at"] is not None and "secret" not in listed
    code, out, err = run_cli("tokens", "create", "--user", "alice", "--scope", "admin", "-c", cfg)
    assert code == 1 and "expected read or write" in err
    code, out, err = run_cli("tokens", "create", "--user", "alice", "--expires", "2001-01-01", "-c", cfg)
    assert code == 1 and "in the past" in err
    assert run_cli("tokens", "revoke", str(listed["id"]), "-c", cfg)[0] == 0
    with pytest.raises(NotAuthenticated, match="revoked"):
        tokens.authenticate(ctx, secret)
    code, _, err = run_cli("tokens", "revoke", str(listed["id"]), "-c", cfg)
    assert code == 1 and "revoked already" in err


def test_token_expiry_scope_and_disabled_user(sqlite_url, make_ctx):
    ctx = make_ctx(sqlite_url)
    users.add_user(ctx, "alice", "correct horse battery", "reviewer")
    users.add_user(ctx, "root", "correct horse battery", "admin")
    now = ctx.clock()
    made = tokens.create(ctx, "alice", "read", expires_at=now + timedelta(hours=1))
    user = tokens.authenticate(ctx, made.secret)
    assert (user.role, user.scope) == ("reviewer", "read")
    with pytest.raises(Forbidden, match="write token"):
        user.require_write()
    later = ctx.as_actor("t")
    later.clock = lambda: now + timedelta(hours=2)
    with pytest.raises(NotAuthenticated, match="expired"):
        tokens.authenticate(later, made.secret)
    w = tokens.create(ctx, "alice", "write")
    tokens.authenticate(ctx, w.secret).require_write()
    users.set_disabled(ctx, "alice", True)
    with pytest.raises(NotAuthenticated):
        tokens.authenticate(ctx, w.secret)
    with pytest.raises(NotAuthenticated):
        tokens.authenticate(ctx, "ocb_" + "x" * 43)
    assert tokens.parse_expiry("2030-01-31").isoformat() == "2030-02-01T00:00:00+00:00"


def test_portal_commands(sqlite_url, write_config, run_cli, make_ctx, tmp_path):
    ctx = make_ctx(sqlite_url)
    two_pis(ctx, tmp_path)
    users.add_user(ctx, "dan", "correct horse battery", "delegate")
    cfg = write_config(sqlite_url)
    code, out, err = run_cli("portal", "grant", "--user", "dan", "--pi", "bob@example.edu", "-c", cfg)
    assert code == 0, err
    code, out, _ = run_cli("portal", "links", "--pi", "bob@example.edu", "--json", "-c", cfg)
    assert {(x["username"], x["kind"]) for x in json.loads(out)} == {("bob", "pi"), ("dan", "delegate")}
    code, _, err = run_cli("portal", "link", "--user", "dan", "--pi", "bob@example.edu", "-c", cfg)
    assert code == 1 and "only a pi user" in err
    code, _, err = run_cli("portal", "link", "--user", "eve", "--pi", "eve@example.edu", "-c", cfg)
    assert code == 1 and "not in the registry" in err
    assert run_cli("portal", "unlink", "--user", "dan", "--pi", "bob@example.edu", "-c", cfg)[0] == 0
    code, out, _ = run_cli("portal", "links", "--user", "dan", "--json", "-c", cfg)
    assert json.loads(out) == []
