"""Statements and the journal round at the same grain: a service's usage, tax and credit
parts are shown apart but add up to the allocation's service line, rounded once."""

from __future__ import annotations

from decimal import Decimal

from focus_builders import row, write_csv
from openchargeback.services.ingest.loading import ingest
from openchargeback.services.registry.allocation import allocate
from openchargeback.services.statements import reading as views
from openchargeback.services.statements.generation import generate

from .conftest import close


def test_parts_of_a_service_add_up_to_its_allocation_line(db_url, make_stmt_ctx, tmp_path):
    ctx = make_stmt_ctx(db_url)
    tags = {"pi_email": "pi@example.edu", "project_id": "proj-1", "fund_org": "BIO-2024-001"}
    rows = [
        row(cost="0.004", tags=tags),
        row(cost="0.004", tags=tags, ChargeCategory="Tax", ResourceId="r-2"),
        row(cost="10.006", tags=tags, ResourceId="r-3"),
        row(cost="-2.003", tags=tags, ResourceId="r-4"),
    ]
    ingest(ctx, write_csv(tmp_path / "aws.csv", rows), "aws")
    close(ctx)
    (s,) = generate(ctx, "2025-01").statements
    lines = views.get_statement(ctx, s.number).data["lines"]
    assert sorted(x["kind"] for x in lines) == ["credit", "tax", "usage"]
    (alloc,) = [x for x in allocate(ctx, "2025-01").lines if x.project_id == "proj-1"]
    assert s.due_total == alloc.charged == Decimal("8.01")  # 10.014 - 2.003 = 8.011, rounded once
    assert sum(Decimal(x["due"]) for x in lines) == s.due_total
