"""Decisions survive a --replace re-import: each earlier decided or corrected charge
hands its decision to the new row with the same fingerprint (identical rows pair up in
line order); a changed row starts again. On SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from sqlalchemy import text

from focus_builders import row, write_csv
from openchargeback.services import review as rv
from openchargeback.services.ingest.loading import ingest
from openchargeback.services.reports import period_totals

INPUTS = Path(__file__).resolve().parent.parent / "sample_data" / "inputs"
P = "2025-01"
NO_PROJECT = {"pi_email": "pi@example.edu", "fund_org": "FUND-1"}


def charges(ctx) -> list[tuple]:
    """(line, billed, review, review_note, project, flags, import_id, id) in line order."""
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT line, billed_cost, review, review_note, project_id, flags, import_id, id "
                "FROM charges ORDER BY import_id, line"
            )
        ).all()
    return [
        (
            r.line,
            Decimal(int(r.billed_cost)).scaleb(-12),
            r.review,
            r.review_note,
            r.project_id,
            r.flags,
            r.import_id,
            r.id,
        )
        for r in rows
    ]


def test_sample_decisions_survive_a_replace_of_the_corrected_export(db_url, make_ctx, tmp_path):
    ctx = make_ctx(db_url, actor="alice", review={"max_charge": 1000})
    ingest(ctx, INPUTS / "aws_2025-01.csv", "aws")
    q = rv.list_queue(ctx, P).items  # 2975, 2040, 2040, 1870, 1062.50
    rv.approve(ctx, P, rv.Selection(ids=(q[0].id,)), note="big but right")
    rv.reject(ctx, P, rv.Selection(ids=(q[1].id,)), "test instance")
    rv.correct(ctx, P, rv.Selection(ids=(q[3].id,)), project_id="brain-scans", note="ticket 9")
    unflagged = next(
        i for i in rv.list_queue(ctx, P, rv.Selection(status="approved"), limit=100).items if i.review is None
    )
    rv.correct(ctx, P, rv.Selection(ids=(unflagged.id,)), fund_org="NEW-FUND")
    totals = period_totals(ctx, P).totals
    # the provider re-issues the export: same rows, one more at the end, \r\n line ends
    lines = (INPUTS / "aws_2025-01.csv").read_text().splitlines()
    extra = lines[1].replace("1062.50", "10.00").replace("i-0abc123def456789a", "i-late")
    v2 = tmp_path / "aws_2025-01-v2.csv"
    v2.write_bytes(("\r\n".join(lines + [extra]) + "\r\n").encode())
    result = ingest(ctx, v2, "aws", replace=True)
    assert result.status == "imported" and result.carried_over == 4
    assert result.as_json()["decisions_carried_over"] == 4
    new = {c[1]: c for c in charges(ctx)}
    assert all(c[6] == result.import_id for c in new.values())  # only the new import's rows left
    assert new[Decimal(2975)][2:4] == ("approved", "big but right")
    assert new[Decimal(1870)][2:5] == (None, None, "brain-scans")
    assert new[Decimal(1870)][5] == "over_max"  # still flagged, still pending
    assert period_totals(ctx, P).totals.billed_cost == totals.billed_cost + 10
    after = rv.list_queue(ctx, P)
    assert after.count == 3  # 2040 (the other one), 1870 and 1062.50
    assert sorted(i.billed_cost for i in after.items) == [Decimal("1062.50"), Decimal(1870), Decimal(2040)]
    rejected = rv.list_queue(ctx, P, rv.Selection(status="rejected")).items
    assert [(i.billed_cost, i.review_note) for i in rejected] == [(Decimal(2040), "test instance")]
    moved = next(
        i
        for i in rv.list_queue(ctx, P, rv.Selection(status="all"), limit=100).items
        if i.resource_id == unflagged.resource_id
    )
    assert moved.fund_org == "NEW-FUND" and moved.id != unflagged.id
    # the history follows the charge and records the carry-over
    h = rv.history(ctx, rejected[0].id)
    assert [a.action for a in h] == ["reject", "carry_over"]
    assert h[0].note == "test instance" and h[0].actor == "alice"
    assert h[1].before["charge_id"] == q[1].id and h[1].after["review"] == "rejected"
    assert rv.history(ctx, q[1].id) == ()


def test_identical_rows_pair_up_in_order_and_a_changed_row_starts_again(db_url, make_ctx, tmp_path):
    ctx = make_ctx(db_url)
    twin = dict(cost="7", tags=NO_PROJECT, ResourceId="i-twin")
    v1 = write_csv(
        tmp_path / "v1.csv",
        [
            row(**twin),
            row(**twin),
            row(**twin),
            row(cost="50", tags=NO_PROJECT, ResourceId="i-changed"),
            row(cost="60", tags=NO_PROJECT, ResourceId="i-same"),
        ],
    )
    ingest(ctx, v1, "aws")
    first = charges(ctx)
    t1, t2, t3, changed, same = (c[7] for c in first)
    rv.approve(ctx, P, rv.Selection(ids=(t1,)), note="first twin")
    rv.reject(ctx, P, rv.Selection(ids=(t2,)), "second twin")
    rv.reject(ctx, P, rv.Selection(ids=(changed,)), "wrong")
    rv.correct(ctx, P, rv.Selection(ids=(same,)), project_id="fixed")
    # v2: the twins now come after another row; the changed row's cost is different;
    # only two twins are left
    v2 = write_csv(
        tmp_path / "v2.csv",
        [
            row(cost="50.01", tags=NO_PROJECT, ResourceId="i-changed"),
            row(cost="60", tags=NO_PROJECT, ResourceId="i-same"),
            row(**twin),
            row(**twin),
        ],
    )
    result = ingest(ctx, v2, "aws", replace=True)
    assert result.carried_over == 3  # two twins and the corrected row; the changed row is new
    got = [(c[0], c[1], c[2], c[3], c[4], c[5]) for c in charges(ctx)]
    assert got == [
        (2, Decimal("50.01"), None, None, None, "missing_project"),  # did not inherit the rejection
        (3, Decimal(60), None, None, "fixed", None),
        (4, Decimal(7), "approved", "first twin", None, "missing_project"),
        (5, Decimal(7), "rejected", "second twin", None, "missing_project"),
    ]
    assert rv.list_queue(ctx, P).count == 1
    assert period_totals(ctx, P).totals.billed_cost == Decimal("50.01") + 60 + 7


def test_carry_over_is_per_source_and_period(db_url, make_ctx, tmp_path):
    ctx = make_ctx(db_url)
    same = [row(cost="5", tags=NO_PROJECT)]
    ingest(ctx, write_csv(tmp_path / "aws.csv", same), "aws")
    ingest(ctx, write_csv(tmp_path / "azure.csv", same, newline="\r\n"), "azure")
    az = rv.list_queue(ctx, P, rv.Selection(source="azure")).items[0]
    rv.reject(ctx, P, rv.Selection(ids=(az.id,)), "azure's mistake")
    # an aws re-import with the very same row does not take the azure decision
    result = ingest(ctx, write_csv(tmp_path / "aws2.csv", same + [row(cost="1")]), "aws", replace=True)
    assert result.carried_over == 0
    q = rv.list_queue(ctx, P, rv.Selection(status="all"))
    assert sorted((i.source, i.billed_cost, i.review) for i in q.items) == [
        ("aws", Decimal(1), None),
        ("aws", Decimal(5), None),
        ("azure", Decimal(5), "rejected"),
    ]


def test_decisions_survive_two_replaces_in_a_row(db_url, make_ctx, tmp_path):
    ctx = make_ctx(db_url)
    rows = [row(cost="5", tags=NO_PROJECT), row(cost="6", tags=NO_PROJECT)]
    ingest(ctx, write_csv(tmp_path / "v1.csv", rows), "aws")
    first = rv.list_queue(ctx, P).items[0]
    assert first.billed_cost == 6
    rv.reject(ctx, P, rv.Selection(ids=(first.id,)), "not ours")
    ingest(ctx, write_csv(tmp_path / "v2.csv", rows, newline="\r\n"), "aws", replace=True)
    ingest(ctx, write_csv(tmp_path / "v3.csv", rows, bom=True), "aws", replace=True)
    q = rv.list_queue(ctx, P, rv.Selection(status="rejected")).items
    assert [(i.billed_cost, i.review_note) for i in q] == [(Decimal(6), "not ours")]
    assert [a.action for a in rv.history(ctx, q[0].id)] == ["reject", "carry_over", "carry_over"]
    assert period_totals(ctx, P).totals.billed_cost == Decimal(5)
