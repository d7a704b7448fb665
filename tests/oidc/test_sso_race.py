"""Two first sign-ins of the same new person at once (two tabs, two web workers): both
get a session of the one user provisioned, neither fails on a unique violation."""

from __future__ import annotations

import threading


def _identity(n: int):
    from openchargeback.services.sso import Identity

    return Identity("https://idp.example.edu", f"sub-{n}", f"p{n}@example.edu", True, None, ("staff",))


def test_concurrent_first_sign_ins_provision_one_user(db_url, make_ctx, monkeypatch):
    from sqlalchemy import text

    from openchargeback.services import sso
    from openchargeback.storage import portal as portal_repo

    settings = {"sso": {"group_roles": {"staff": "viewer"}}}
    workers = [make_ctx(db_url, **settings), make_ctx(db_url, **settings)]
    postgres = db_url.startswith("postgresql")
    barrier = threading.Barrier(2, timeout=10)
    seen = threading.local()  # a new thread per sign-in: its first look-up waits
    if postgres:
        # both look the identity up before either provisions it: the race, every time
        # (SQLite's writers queue at BEGIN IMMEDIATE, so there they only meet in turn)
        looked_up = portal_repo.identity

        def identity(conn, issuer, subject):
            row = looked_up(conn, issuer, subject)
            if not getattr(seen, "once", False):
                seen.once = True
                barrier.wait()
            return row

        monkeypatch.setattr(portal_repo, "identity", identity)
    for n in range(3):
        barrier.reset()
        logins, errors = [], []

        def sign_in(ctx, n=n, logins=logins, errors=errors):
            try:
                logins.append(sso.sign_in(ctx, _identity(n), ip="10.0.0.1"))
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=sign_in, args=(c,)) for c in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert [lg.session.username for lg in logins] == [f"p{n}@example.edu"] * 2
        with workers[0].read() as conn:
            counts = conn.execute(
                text(
                    "SELECT (SELECT count(*) FROM users WHERE username = :u),"
                    " (SELECT count(*) FROM external_identities WHERE subject = :s)"
                ),
                {"u": f"p{n}@example.edu", "s": f"sub-{n}"},
            ).one()
        assert tuple(counts) == (1, 1)
