"""Fund splits across period boundaries, locked periods, the audit log; adjustments; and
the allocation of a period adding up to its approved charges plus adjustments."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from registry_helpers import charge, ingest_rows, registry

from openchargeback.domain.errors import Conflict, InvalidInput, NotFound
from openchargeback.services import audit
from openchargeback.services import review as review_svc
from openchargeback.services.periods import change_status, open_period
from openchargeback.services.registry.adjustments import add_adjustment, list_adjustments
from openchargeback.services.registry.allocation import allocate
from openchargeback.services.registry.splits import list_splits, set_split

D = Decimal
SIXTY_FORTY = [("NSF-123", D(60)), ("DEPT-9", D(40))]
# where adjustments without a source are posted (without it they are refused)
JOURNAL = {"adjustment_fund_org": "RC-ADMIN", "adjustment_account": "4400"}


@pytest.fixture
def ctx(db_url, make_ctx):
    return make_ctx(db_url, journal=JOURNAL)


def _funds(alloc, amount="billed_cost"):
    return {f: v for f, v in alloc.by_fund("USD", amount).items()}


def test_split_effective_dates_across_period_boundaries(ctx, tmp_path):
    registry(ctx)
    set_split(ctx, "proj-1", SIXTY_FORTY, "2025-01", "2025-06")
    change = set_split(ctx, "proj-1", [("DEPT-9", D(100))], "2025-07")
    assert [(s.first, s.last) for s in change.after] == [("2025-01", "2025-06"), ("2025-07", None)]
    ingest_rows(
        ctx,
        tmp_path,
        [
            charge("2025-06", "100.01", "2025-06-30", project_id="proj-1"),
            charge("2025-07", "50.00", "2025-07-01", project_id="proj-1"),
        ],
    )
    june, july = allocate(ctx, "2025-06"), allocate(ctx, "2025-07")
    assert _funds(june) == {"NSF-123": D("60.01"), "DEPT-9": D("40.00")}  # the cent left to the largest
    assert _funds(july) == {"DEPT-9": D("50.00")}
    assert june.balanced and july.balanced
    assert [s.id for s in list_splits(ctx, "proj-1", "2025-06")] == [change.after[0].id]
    assert sorted(line.percent for line in june.lines) == [D(40), D(60)]
    assert [line.percent for line in july.lines] == [D(100)]


def test_setting_a_split_inside_another_cuts_it_in_two(ctx):
    registry(ctx, nsf_to="")
    set_split(ctx, "proj-1", SIXTY_FORTY, "2025-01")
    change = set_split(ctx, "proj-1", [("DEPT-9", D(100))], "2025-03", "2025-04", reason="grant paused")
    got = [(s.first, s.last, s.shares[0][0] if len(s.shares) == 1 else "60/40") for s in change.after]
    assert got == [
        ("2025-01", "2025-02", "60/40"),
        ("2025-03", "2025-04", "DEPT-9"),
        ("2025-05", None, "60/40"),
    ]
    cleared = set_split(ctx, "proj-1", [], "2025-01")
    assert cleared.after == ()
    entry = next(e for e in audit.list_entries(ctx, action="split.set").entries if "grant paused" in e.detail)
    detail = json.loads(entry.detail)
    assert detail["from"] == "2025-03" and len(detail["before"]) == 1 and len(detail["after"]) == 3


def test_source_and_service_scopes(ctx, tmp_path):
    registry(ctx, nsf_to="")
    set_split(ctx, "proj-1", SIXTY_FORTY, "2025-06")
    set_split(ctx, "proj-1", [("NSF-123", D(100))], "2025-06", sources=("hpc",))
    set_split(ctx, "proj-1", [("DEPT-9", D(100))], "2025-06", services=("GPU",))
    ingest_rows(
        ctx,
        tmp_path,
        [
            charge("2025-06", "10.00", project_id="proj-1"),
            {**charge("2025-06", "7.00", project_id="proj-1"), "ServiceName": "gpu"},
        ],
    )
    ingest_rows(ctx, tmp_path, [charge("2025-06", "5.00", project_id="proj-1")], source="hpc")
    assert _funds(allocate(ctx, "2025-06")) == {"NSF-123": D("11.00"), "DEPT-9": D("11.00")}
    with pytest.raises(InvalidInput, match="not both"):
        set_split(ctx, "proj-1", SIXTY_FORTY, "2025-06", sources=("hpc",), services=("GPU",))
    with pytest.raises(NotFound, match="unknown source"):
        set_split(ctx, "proj-1", SIXTY_FORTY, "2025-06", sources=("nope",))


def test_split_refusals(ctx, tmp_path):
    registry(ctx)
    with pytest.raises(NotFound, match="project 'ghost'"):
        set_split(ctx, "ghost", SIXTY_FORTY, "2025-01")
    with pytest.raises(NotFound, match="fund NOPE"):
        set_split(ctx, "proj-1", [("NOPE", D(100))], "2025-01")
    with pytest.raises(InvalidInput, match="add up to 90"):
        set_split(ctx, "proj-1", [("NSF-123", D(50)), ("DEPT-9", D(40))], "2025-01")
    with pytest.raises(InvalidInput, match="valid until 2025-06-30 but the split runs with no end"):
        set_split(ctx, "proj-1", SIXTY_FORTY, "2025-01")
    with pytest.raises(InvalidInput, match="valid only from 2024-07-01"):
        set_split(ctx, "proj-1", SIXTY_FORTY, "2024-01", "2024-06")
    with pytest.raises(InvalidInput, match="ends"):
        set_split(ctx, "proj-1", SIXTY_FORTY, "2025-03", "2025-01")


def test_changing_a_split_of_a_closed_period_is_refused(ctx, tmp_path):
    registry(ctx)
    set_split(ctx, "proj-1", SIXTY_FORTY, "2025-01", "2025-06")
    ingest_rows(ctx, tmp_path, [charge("2025-03", "10.00", project_id="proj-1")])
    open_period(ctx, "2025-05")
    change_status(ctx, "2025-03", "close")
    with pytest.raises(Conflict, match="would change period 2025-03, which is closed"):
        set_split(ctx, "proj-1", [("DEPT-9", D(100))], "2025-02", "2025-04")
    with pytest.raises(Conflict, match="2025-03"):
        set_split(ctx, "proj-1", [], "2025-01")
    assert len(list_splits(ctx, "proj-1")) == 1
    set_split(ctx, "proj-1", [("DEPT-9", D(100))], "2025-04", "2025-06")  # after it: allowed, audited
    assert [(s.first, s.last) for s in list_splits(ctx, "proj-1")] == [
        ("2025-01", "2025-03"),
        ("2025-04", "2025-06"),
    ]
    assert audit.list_entries(ctx, action="split.set").entries


def test_adjustments_refused_in_closed_and_finalized_periods(ctx, tmp_path):
    registry(ctx)
    ingest_rows(ctx, tmp_path, [charge("2025-03", "10.00", project_id="proj-1")])
    change_status(ctx, "2025-03", "close")
    with pytest.raises(Conflict, match="period 2025-03 is closed"):
        add_adjustment(ctx, "2025-03", "-5.00", "credit", project_id="proj-1")
    change_status(ctx, "2025-03", "finalize")
    with pytest.raises(Conflict, match="period 2025-03 is finalized"):
        add_adjustment(ctx, "2025-03", "-5.00", "credit", project_id="proj-1")
    change_status(ctx, "2025-03", "reopen", "late credit")
    a = add_adjustment(ctx, "2025-03", "-5.00", "credit", project_id="proj-1")
    assert a.pi_email == "pi@example.edu" and a.amount == D("-5.00")
    assert [x.id for x in list_adjustments(ctx, "2025-03")] == [a.id]
    assert add_adjustment(ctx, "2025-09", "12", "allocation purchase", fund_org="DEPT-9").period == "2025-09"


@pytest.mark.parametrize(
    "kwargs,error,words",
    [
        ({"amount": "0"}, InvalidInput, "of 0"),
        ({"amount": "1.001"}, InvalidInput, "more than 2 decimal places"),
        ({"amount": "ten"}, InvalidInput, "not a number"),
        ({"reason": " "}, InvalidInput, "needs a reason"),
        ({"project_id": None}, InvalidInput, "give --pi, --project or --fund"),
        ({"project_id": "ghost"}, NotFound, "project 'ghost'"),
        ({"fund_org": "NOPE"}, NotFound, "fund 'NOPE'"),
        ({"fund_org": "NSF-123", "period": "2025-07"}, InvalidInput, "not during period 2025-07"),
        ({"pi_email": "not-an-email"}, InvalidInput, "not an email"),
    ],
)
def test_adjustment_refusals(ctx, kwargs, error, words):
    registry(ctx)
    args = {"period": "2025-06", "amount": "-5", "reason": "credit", "project_id": "proj-1", **kwargs}
    with pytest.raises(error, match=words):
        add_adjustment(ctx, args.pop("period"), args.pop("amount"), args.pop("reason"), **args)


def test_an_adjustment_without_a_source_needs_a_journal_account(db_url, make_ctx, tmp_path):
    bare = make_ctx(db_url)  # no journal.adjustment_fund_org, no account
    registry(bare)
    with pytest.raises(InvalidInput) as e:
        add_adjustment(bare, "2025-06", "-5.00", "credit", project_id="proj-1")
    text = str(e.value)
    assert "an adjustment without a source has nowhere to be posted in the journal" in text
    assert "--source" in text and "journal.adjustment_fund_org" in text
    assert "journal.adjustment_account or journal.default_account" in text
    assert list_adjustments(bare, "2025-06") == ()  # nothing recorded
    # with the source it belongs to, it is credited to that source's recovery
    assert (
        add_adjustment(bare, "2025-06", "-5.00", "credit", project_id="proj-1", source="aws").source == "aws"
    )
    # the fund/org alone is not enough: its account is missing too
    half = make_ctx(db_url, journal={"adjustment_fund_org": "RC-ADMIN"})
    with pytest.raises(InvalidInput, match="set journal.adjustment_account or journal.default_account"):
        add_adjustment(half, "2025-06", "-5.00", "credit", project_id="proj-1")
    ok = make_ctx(db_url, journal={"adjustment_fund_org": "RC-ADMIN", "default_account": "4400"})
    assert add_adjustment(ok, "2025-06", "-5.00", "credit", project_id="proj-1").source is None


def test_allocation_equals_approved_charges_plus_adjustments(ctx, tmp_path):
    registry(ctx)
    set_split(ctx, "proj-1", SIXTY_FORTY, "2025-06", "2025-06")
    result = ingest_rows(
        ctx,
        tmp_path,
        [
            charge("2025-06", "10.333333", project_id="proj-1"),
            charge("2025-06", "0.015", project_id="proj-1", fund_org="NSF-123"),
            charge("2025-06", "99.999", project_id="proj-2", fund_org="DEPT-9"),
            charge(
                "2025-06", "7.00", project_id="proj-9", pi_email="x@example.edu", fund_org="DEPT-9"
            ),  # flagged: project_unknown
            charge("2025-06", "3.00", project_id="proj-2", fund_org="DEPT-9", pi_email="z@example.edu"),
        ],
    )
    assert result.flagged == 1
    pending = review_svc.list_queue(ctx, "2025-06").items
    review_svc.reject(ctx, "2025-06", review_svc.Selection(ids=(pending[0].id,)), "not ours")
    add_adjustment(ctx, "2025-06", "-1.01", "goodwill", project_id="proj-1")
    add_adjustment(ctx, "2025-06", "2.50", "carried forward", pi_email="other@example.edu", fund_org="DEPT-9")
    a = allocate(ctx, "2025-06")
    assert a.balanced
    proof = next(p for p in a.proofs if p.amount == "billed_cost")
    approved = D("10.333333") + D("0.015") + D("99.999") + D("3.00")
    assert proof.charges_exact == approved
    assert proof.adjustments == D("1.49")
    total = sum((x.billed_cost for x in a.lines), D(0))
    assert total == proof.charges_rounded + D("1.49")
    assert abs(proof.rounding) <= D("0.005") * 4
    assert all(x.project_id != "proj-9" for x in a.lines)
    adj = [x for x in a.lines if x.kind == "adjustment"]
    assert sorted((x.fund_org, x.billed_cost) for x in adj) == [
        ("DEPT-9", D("-0.40")),
        ("DEPT-9", D("2.50")),
        ("NSF-123", D("-0.61")),
    ]
    with_pending = allocate(ctx, "2025-06", include_pending=True)
    assert with_pending.balanced and with_pending.charges == "not_rejected"
