"""The PI portal's list of disputes (/portal/disputes): the disputes of the PIs a user
holds, newest first, paginated by key, with each charge's period and amount; one whose
charge a --replace import withdrew is listed with no link to the gone charge."""

from __future__ import annotations

from decimal import Decimal

from focus_builders import write_csv
from openchargeback.services import charges, portal
from openchargeback.services.ingest.loading import ingest
from portal.portal_helpers import charge, scope_of, sent_line_statement, two_pis

REVIEWER = "web:reviewer"


def _id(ctx, period, resource) -> int:
    return next(
        r.id for r in charges.page(ctx, charges.Query(period=period)).rows if r.resource_id == resource
    )


def _disputes(ctx, tmp_path):
    """Ada's dispute of her 2025-01 charge (declined), of her 2025-02 one (open, then
    withdrawn by a --replace import without it) and Bob's of his 2025-02 one (open)."""
    two_pis(ctx, tmp_path)
    ada, bob = ctx.as_actor("web:ada"), ctx.as_actor("web:bob")
    jan = portal.raise_dispute(ada, scope_of(ctx, "ada"), _id(ctx, "2025-01", "r-ada"), "January is wrong")
    portal.decide_dispute(ctx.as_actor(REVIEWER), jan.id, "declined", "the tag says p-ada")
    gone = _id(ctx, "2025-02", "r-ada")
    feb = portal.raise_dispute(ada, scope_of(ctx, "ada"), gone, "switched off in February")
    other = portal.raise_dispute(bob, scope_of(ctx, "bob"), _id(ctx, "2025-02", "r-bob"), "Bob's reason")
    rows = [
        charge("2025-02", "7.25", "bob@example.edu", "p-bob", "r-bob"),
        charge("2025-02", "1.50", None, None, "r-none"),
    ]
    result = ingest(ctx, write_csv(tmp_path / "aws_2025-02_v2.csv", rows), "aws", replace=True)
    assert result.status == "imported"
    return jan, feb, other, gone


def test_a_pi_pages_through_their_own_disputes(ctx, tmp_path):
    jan, feb, other, gone = _disputes(ctx, tmp_path)
    page = portal.dispute_page(ctx, scope_of(ctx, "ada"))
    assert [x.dispute.id for x in page.items] == [feb.id, jan.id] and page.before is None  # not Bob's
    withdrawn, declined = page.items
    assert (withdrawn.dispute.status, withdrawn.dispute.charge_id, withdrawn.period) == (
        "withdrawn",
        gone,
        "2025-02",
    )
    assert (withdrawn.amount, withdrawn.exists) == (None, False) and withdrawn.withdrawn_by_import
    assert (declined.dispute.status, declined.dispute.reply) == ("declined", "the tag says p-ada")
    assert (declined.period, declined.amount, declined.currency, declined.exists) == (
        "2025-01",
        Decimal("10.00"),
        "USD",
        True,
    )
    # by key, a page of one at a time
    first = portal.dispute_page(ctx, scope_of(ctx, "ada"), limit=1)
    assert [x.dispute.id for x in first.items] == [feb.id] and first.before == feb.id
    second = portal.dispute_page(ctx, scope_of(ctx, "ada"), before=first.before, limit=1)
    assert [x.dispute.id for x in second.items] == [jan.id] and second.before is None
    assert [x.dispute.id for x in portal.dispute_page(ctx, scope_of(ctx, "bob")).items] == [other.id]
    assert [x.dispute.id for x in portal.dispute_page(ctx, scope_of(ctx, "eve")).items] == []
    # the delegate holds Ada's
    assert [x.dispute.id for x in portal.dispute_page(ctx, scope_of(ctx, "deb")).items] == [feb.id, jan.id]


def test_the_disputes_page(tmp_path):
    from fastapi.testclient import TestClient

    from openchargeback.web.app import create_app
    from web.conftest import login, web_settings

    app = create_app(web_settings(tmp_path))
    try:
        jan, feb, other, gone = _disputes(app.state.ctx, tmp_path)
        ada = TestClient(app, base_url="https://testserver")
        assert login(ada, "ada").status_code == 303
        page = ada.get("/portal/disputes")
        assert page.status_code == 200
        text = page.text
        assert 'href="/portal/disputes"' in text  # in the portal's navigation
        assert f'id="dispute-{jan.id}"' in text and f'id="dispute-{feb.id}"' in text
        assert f'id="dispute-{other.id}"' not in text and "Bob&#39;s reason" not in text
        assert text.index(f'id="dispute-{feb.id}"') < text.index(f'id="dispute-{jan.id}"')  # newest first
        assert ">withdrawn<" in text and ">declined<" in text and "the tag says p-ada" in text
        assert "charge withdrawn by a corrected import" in text
        assert f'href="/portal/charges/{jan.charge_id}"' in text
        assert f'href="/portal/charges/{gone}"' not in text  # no dead link
        assert "2025-01" in text and "10.00" in text
        assert ada.get("/portal/disputes?before=0").status_code == 422
    finally:
        app.state.runner.shutdown()
        app.state.ctx.engine.dispose()


def test_a_line_dispute_is_one_item_with_its_charges_total(db_url, make_ctx, tmp_path):
    ctx, ada, st = sent_line_statement(make_ctx, db_url, tmp_path)
    [n] = [ln.line for ln in portal.statement_lines(ctx, ada, st.number, st.version) if ln.charges == 2]
    d = portal.raise_line_dispute(ctx.as_actor("web:ada"), ada, st.number, st.version, n, "twice?")
    [x] = portal.dispute_page(ctx, ada).items
    assert (x.dispute.id, x.dispute.charges, x.dispute.statement) == (d.id, 2, f"{st.number} v{st.version}")
    assert (x.period, x.amount, x.exists) == ("2025-01", Decimal("12.50"), True)
    assert portal.dispute_page(ctx, scope_of(ctx, "bob")).items == ()
