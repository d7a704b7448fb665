"""Statements honour the registry: fund splits divide the lines between funds,
adjustments are lines of their own, registry names and billing contacts are used; and
each statement's total equals the allocation's (what journals post) to the cent."""

from __future__ import annotations

from decimal import Decimal

from openchargeback.services.registry import records as reg
from openchargeback.services.registry.adjustments import add_adjustment
from openchargeback.services.registry.allocation import allocate
from openchargeback.services.registry.splits import set_split
from openchargeback.services.statements import reading as views
from openchargeback.services.statements.delivery import send_period
from openchargeback.services.statements.generation import generate

from .conftest import close, load_sample

PI = "quib.flannister@example.edu"
PROJECT = "climate-modeling"


def test_splits_adjustments_and_registry_names(db_url, make_stmt_ctx):
    # journal: where the adjustment below (without a source) is posted; refused without it
    journal = {"adjustment_fund_org": "RC-ADMIN", "adjustment_account": "4400"}
    ctx = make_stmt_ctx(db_url, dev_mode=True, journal=journal)
    load_sample(ctx)
    reg.add_record(
        ctx, "pis", {"email": PI, "name": "Quib Flannister", "billing_contacts": "grants@example.edu"}
    )
    for code in ("NSF-ATM-2024", "DEPT-9"):
        reg.add_record(ctx, "funds", {"code": code})
    reg.add_record(ctx, "projects", {"project_id": PROJECT, "name": "Climate modelling", "pi_email": PI})
    set_split(ctx, PROJECT, [("NSF-ATM-2024", Decimal("60")), ("DEPT-9", Decimal("40"))], "2025-01")
    add_adjustment(ctx, "2025-01", "-2.50", "goodwill credit", project_id=PROJECT)
    close(ctx)

    (s,) = generate(ctx, "2025-01", project=PROJECT).statements
    data = views.get_statement(ctx, s.number).data
    assert data["pi_name"] == "Quib Flannister" and data["project_name"] == "Climate modelling"
    assert data["funds"] == ["DEPT-9", "NSF-ATM-2024"]
    assert [b["fund"] for b in data["fund_blocks"]] == ["DEPT-9", "NSF-ATM-2024"]
    assert {ln["share_percent"] for ln in data["lines"] if ln["origin"] == "charges"} == {"40", "60"}
    adj = [ln for ln in data["lines"] if ln["origin"] == "adjustment"]  # divided by the split too
    assert {(a["service"], a["credit"], a["share_percent"]) for a in adj} == {
        ("Adjustment — goodwill credit", True, "60"),
        ("Adjustment — goodwill credit", True, "40"),
    }
    assert sum(Decimal(a["due"]) for a in adj) == Decimal("-2.50")
    assert sum(Decimal(b["due"]) for b in data["fund_blocks"]) == s.due_total

    allocation = allocate(ctx, "2025-01")
    mine = [x for x in allocation.lines if x.project_id == PROJECT]
    assert s.due_total == sum(x.charged for x in mine)  # what the journal posts, to the cent
    by_fund = {}
    for x in mine:
        by_fund[x.fund_org] = by_fund.get(x.fund_org, Decimal(0)) + x.charged
    assert {b["fund"]: Decimal(b["due"]) for b in data["fund_blocks"]} == by_fund
    html = views.preview_html(ctx, s.number)
    assert "Fund/org NSF-ATM-2024" in html and "Subtotal DEPT-9" in html and "60 %" in html

    report = send_period(ctx, "2025-01")
    (m,) = report.messages
    assert m.to == (PI,) and set(m.cc) == {"dept-admin@example.edu", "grants@example.edu"}
