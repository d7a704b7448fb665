"""The portal's services: a pi or delegate sees only the PIs they hold, through every
read; disputes and acknowledgements; who may grant a delegate."""

from __future__ import annotations

from decimal import Decimal

import pytest

from openchargeback.domain.errors import Conflict, InvalidInput, NotFound
from openchargeback.domain.roles import Forbidden
from openchargeback.services import charges, portal, users
from portal.portal_helpers import scope_of, two_pis


def test_each_reader_sees_only_the_pis_they_hold(ctx, tmp_path):
    two_pis(ctx, tmp_path)
    expected = {
        "ada": {"ada@example.edu"},
        "deb": {"ada@example.edu"},
        "bob": {"bob@example.edu"},
        "eve": set(),
    }
    for name, pis in expected.items():
        scope = scope_of(ctx, name)
        page = charges.page(ctx, charges.Query(), limit=100, scope=scope)
        assert {r.pi for r in page.rows} == pis, name
        assert len(page.rows) == 2 * len(pis)
        assert page.totals is not None and page.totals.rows == len(page.rows)
        csv_text = "".join(charges.export_csv(ctx, charges.Query(), scope=scope))
        assert ("bob@example.edu" in csv_text) == ("bob@example.edu" in pis)
        assert ("ada@example.edu" in csv_text) == ("ada@example.edu" in pis)
        listed = charges.list_charges(ctx, scope=scope).charges
        assert {c.pi_email for c in listed} == pis
        # asking for another PI by name gives nothing, not theirs
        assert charges.page(ctx, charges.Query(pi="bob@example.edu"), scope=scope).rows == () or name == "bob"
        assert charges.page(ctx, charges.Query(pi=""), scope=scope).rows == ()
        home = portal.home(ctx, scope)
        assert {p.pi_email for p in home.month_to_date} <= pis
        assert {p.pi_email for p in home.projects} == pis
        assert {label for label, _ in home.trend} == {f"p-{n.split('@')[0]}" for n in pis}
    staff = charges.page(ctx, charges.Query(), scope=portal.ALL)
    assert len(staff.rows) == 6
    bob_charge = next(r.id for r in staff.rows if r.pi == "bob@example.edu")
    with pytest.raises(NotFound):
        charges.detail(ctx, bob_charge, scope=scope_of(ctx, "ada"))
    assert charges.detail(ctx, bob_charge, scope=scope_of(ctx, "bob")).id == bob_charge


def test_month_to_date_and_trend_of_a_pi(ctx, tmp_path):
    two_pis(ctx, tmp_path)
    home = portal.home(ctx, scope_of(ctx, "ada"))
    assert home.open_period == "2025-02"
    assert [(p.project_id, p.billed) for p in home.month_to_date] == [("p-ada", Decimal("10"))]
    assert home.month_to_date_total == 10
    assert home.trend_periods == ("2025-01", "2025-02")  # the periods that exist, no empty slots
    assert list(home.trend[0][1]) == [Decimal("10"), Decimal("10")]


def test_a_dispute_is_raised_once_decided_once_and_shown_to_the_pi(ctx, tmp_path):
    two_pis(ctx, tmp_path)
    ada = scope_of(ctx, "ada")
    mine = charges.page(ctx, charges.Query(), scope=ada).rows[0].id
    theirs = charges.page(ctx, charges.Query(pi="bob@example.edu")).rows[0].id
    with pytest.raises(NotFound):
        portal.raise_dispute(ctx, ada, theirs, "not ours")
    with pytest.raises(InvalidInput):
        portal.raise_dispute(ctx, ada, mine, "  ")
    d = portal.raise_dispute(ctx.as_actor("web:ada"), ada, mine, "we did not run r-ada")
    assert d.status == "open" and d.pi_email == "ada@example.edu"
    with pytest.raises(Conflict):
        portal.raise_dispute(ctx, ada, mine, "again")
    assert [x.id for x in portal.list_disputes(ctx, scope_of(ctx, "bob"))] == []
    decided = portal.decide_dispute(ctx.as_actor("web:reviewer"), d.id, "declined", "the job ran on Jan 5")
    assert (decided.status, decided.reply, decided.decided_by) == (
        "declined",
        "the job ran on Jan 5",
        "web:reviewer",
    )
    with pytest.raises(Conflict):
        portal.decide_dispute(ctx, d.id, "upheld", "changed my mind")
    (seen,) = portal.list_disputes(ctx, scope_of(ctx, "deb"))
    assert seen.reply == "the job ran on Jan 5"
    # decided: a new dispute of the same charge may be raised
    assert portal.raise_dispute(ctx, ada, mine, "still wrong").status == "open"


def test_only_an_admin_or_the_owning_pi_grants_a_delegate(ctx, tmp_path):
    two_pis(ctx, tmp_path)
    users.add_user(ctx, "dan", "correct horse battery", "delegate")
    ada, bob, deb = (users.get_user(ctx, n) for n in ("ada", "bob", "deb"))
    with pytest.raises(Forbidden):
        portal.grant(ctx, "dan", "ada@example.edu", by_user_id=bob.id, by_role="pi")
    with pytest.raises(Forbidden):  # a delegate cannot pass access on
        portal.grant(ctx, "dan", "ada@example.edu", by_user_id=deb.id, by_role="delegate")
    portal.grant(ctx, "dan", "ada@example.edu", by_user_id=ada.id, by_role="pi")
    assert scope_of(ctx, "dan").pis == frozenset({"ada@example.edu"})
    users.add_user(ctx, "val", "correct horse battery", "viewer")
    with pytest.raises(InvalidInput):  # a viewer is staff, not a delegate
        portal.grant(ctx, "val", "ada@example.edu")
    with pytest.raises(Forbidden):
        portal.unlink(ctx, "dan", "ada@example.edu", by_user_id=bob.id, by_role="pi")
    portal.unlink(ctx, "dan", "ada@example.edu", by_user_id=ada.id, by_role="pi")
    assert scope_of(ctx, "dan").pis == frozenset()
    with pytest.raises(NotFound):
        portal.link_pi(ctx, "eve", "nobody@example.edu")
