"""Disputes across an `ingest --replace` (issue 13 meets issue 18): a dispute follows its
charge to the replacing row with the same fingerprint (as review decisions do), reason,
decision and reply kept; a dispute whose charge the corrected export no longer holds is
kept, readable, and closed as "withdrawn" with a system reply (an open one) or marked so
(a decided one). `db check` reports a dispute of a missing charge only when nothing
explains it. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from focus_builders import write_csv
from openchargeback.domain.errors import Conflict
from openchargeback.services import audit, charges, portal, review, users
from openchargeback.services.database import check_database
from openchargeback.services.ingest.loading import ingest
from openchargeback.storage.portal_tables import charge_disputes
from portal.portal_helpers import charge, scope_of, two_pis

P = "2025-02"
REVIEWER = "web:reviewer"


def _ids(ctx) -> dict[str, int]:
    """resource -> charge id, in the period."""
    return {r.resource_id: r.id for r in charges.page(ctx, charges.Query(period=P)).rows}


def _replace(ctx, tmp_path, resources: list[str]):
    rows = {
        "r-ada": charge(P, "10.00", "ada@example.edu", "p-ada", "r-ada"),
        "r-bob": charge(P, "7.25", "bob@example.edu", "p-bob", "r-bob"),
        "r-none": charge(P, "1.50", None, None, "r-none"),
        "r-new": charge(P, "2.00", "ada@example.edu", "p-ada", "r-new"),
    }
    path = write_csv(tmp_path / f"aws_{P}_v2.csv", [rows[r] for r in resources])
    return ingest(ctx, path, "aws", replace=True)


def _disputes(ctx, tmp_path):
    """Ada's open dispute of r-ada, Bob's declined one of r-bob (both of 2025-02)."""
    two_pis(ctx, tmp_path)
    ids = _ids(ctx)
    ada = portal.raise_dispute(ctx.as_actor("web:ada"), scope_of(ctx, "ada"), ids["r-ada"], "switched off")
    bob = portal.raise_dispute(ctx.as_actor("web:bob"), scope_of(ctx, "bob"), ids["r-bob"], "not mine")
    portal.decide_dispute(ctx.as_actor(REVIEWER), bob.id, "declined", "your tag says so")
    return ids, ada, bob


def _references(ctx) -> tuple[str, ...]:
    return next(r for r in check_database(ctx, files=False).results if r.name == "references").problems


def test_a_dispute_follows_its_charge_to_the_replacing_row(ctx, tmp_path):
    old, ada, bob = _disputes(ctx, tmp_path)
    result = _replace(ctx, tmp_path, ["r-ada", "r-bob", "r-none", "r-new"])
    assert result.status == "imported"
    new = _ids(ctx)
    assert new["r-ada"] != old["r-ada"] and new["r-bob"] != old["r-bob"]
    # the PI still sees it on the charge, open, reason kept
    (seen,) = portal.list_disputes(ctx, scope_of(ctx, "ada"), charge_ids=[new["r-ada"]])
    assert (seen.id, seen.status, seen.reason) == (ada.id, "open", "switched off")
    # the review queue still shows the charge disputed, with the PI's note
    q = review.list_queue(ctx, P, review.Selection(status="disputed"))
    assert [(i.id, i.dispute.id) for i in q.items] == [(new["r-ada"], ada.id)]
    # the decided one keeps its decision and reply, on the new row
    (decided,) = portal.list_disputes(ctx, scope_of(ctx, "bob"), charge_ids=[new["r-bob"]])
    assert (decided.id, decided.status, decided.reply) == (bob.id, "declined", "your tag says so")
    assert _references(ctx) == ()
    # the carried dispute is decided as any other: upholding rejects the new row
    portal.decide_dispute(ctx.as_actor(REVIEWER), ada.id, "upheld", "agreed")
    [item] = review.list_queue(ctx, P, review.Selection(ids=(new["r-ada"],), status="all")).items
    assert item.review == "rejected"
    moved = [e for e in audit.list_entries(ctx).entries if e.action == "dispute.carry_over"]
    assert sorted(e.target for e in moved) == sorted(f"charge #{new[r]}" for r in ("r-ada", "r-bob"))


def test_a_dispute_whose_charge_is_withdrawn_is_kept_and_closed(ctx, tmp_path):
    old, ada, bob = _disputes(ctx, tmp_path)
    result = _replace(ctx, tmp_path, ["r-none", "r-new"])
    assert result.status == "imported"
    assert set(_ids(ctx)) == {"r-none", "r-new"}
    # the PI and the staff still read both; the open one is closed with a system reply
    for scope_name, dispute in (("ada", ada), ("bob", bob)):
        (seen,) = portal.list_disputes(ctx, scope_of(ctx, scope_name))
        assert seen.id == dispute.id
    (a,) = portal.list_disputes(ctx, scope_of(ctx, "ada"))
    assert (a.status, a.reason, a.charge_id) == ("withdrawn", "switched off", old["r-ada"])
    assert "no longer holds" in a.reply and f"import #{result.import_id}" in a.reply
    assert a.decided_at is not None and "withdrawn" in a.remedy
    (b,) = portal.list_disputes(ctx, scope_of(ctx, "bob"))
    assert (b.status, b.reply) == ("declined", "your tag says so")  # the decision stands
    assert "withdrawn" in b.remedy
    assert {d.id for d in portal.list_disputes(ctx)} == {ada.id, bob.id}
    assert portal.list_disputes(ctx, open_only=True) == ()
    assert review.list_queue(ctx, P, review.Selection(status="disputed")).count == 0
    with pytest.raises(Conflict):
        portal.decide_dispute(ctx.as_actor(REVIEWER), ada.id, "upheld", "too late")
    assert any(e.action == "dispute.withdrawn" for e in audit.list_entries(ctx).entries)
    # explained: not a fault; a dispute of a charge that vanished otherwise still is
    assert _references(ctx) == ()
    with ctx.engine.begin() as conn:
        conn.execute(
            insert(charge_disputes).values(
                charge_id=old["r-ada"],
                pi_email="ada@example.edu",
                reason="again",
                raised_by="ada",
                raised_at=datetime(2025, 3, 1, tzinfo=UTC),
                open=True,
            )
        )
    assert _references(ctx) == ("1 dispute(s) of a charge that does not exist",)


def test_the_pages_show_a_withdrawn_dispute(tmp_path):
    """The reviewers' disputes page, the review queue and the PI's API list read a dispute
    whose charge is gone; its old charge page is a plain 404."""
    from fastapi.testclient import TestClient

    from openchargeback.services import tokens
    from openchargeback.web.app import create_app
    from portal.portal_helpers import PASSWORD
    from web.conftest import login, web_settings

    app = create_app(web_settings(tmp_path))
    try:
        ctx = app.state.ctx
        old, ada, _ = _disputes(ctx, tmp_path)
        users.add_user(ctx, "reviewer", PASSWORD, "reviewer")
        _replace(ctx, tmp_path, ["r-none", "r-new"])
        reviewer, pi = (
            TestClient(app, base_url="https://testserver"),
            TestClient(app, base_url="https://testserver"),
        )
        assert login(reviewer, "reviewer").status_code == 303 and login(pi, "ada").status_code == 303
        page = reviewer.get("/disputes?all=1")
        assert page.status_code == 200 and f'id="dispute-{ada.id}"' in page.text and "withdrawn" in page.text
        assert reviewer.get(f"/review?period={P}&status=disputed").status_code == 200
        assert pi.get(f"/portal/charges/{old['r-ada']}").status_code == 404
        secret = tokens.create(ctx, "ada", "read").secret
        listed = pi.get("/api/v1/disputes", headers={"Authorization": f"Bearer {secret}"}).json()["items"]
        assert [(d["id"], d["status"]) for d in listed] == [(ada.id, "withdrawn")]
    finally:
        app.state.runner.shutdown()
        app.state.ctx.engine.dispose()
