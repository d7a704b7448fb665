"""Ingest semantics: duplicates, --replace, periods, closed periods, flags, tag
mapping, control totals and dry runs. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from focus_builders import (
    COSTS,
    HEADER,
    all_charges,
    count_rows,
    file_sums,
    row,
    stored_totals,
    write_csv,
)
from openchargeback.domain.errors import Conflict, FileRefused, InvalidInput, NotFound
from openchargeback.services.ingest.history import get_import, list_imports
from openchargeback.services.ingest.loading import ingest
from openchargeback.services.periods import change_status, get_period, list_periods, open_period
from openchargeback.services.reports import period_totals


def billed(ctx, period: str, **kw) -> Decimal:
    return period_totals(ctx, period, **kw).totals.billed_cost


# -- the same file twice ----------------------------------------------------------------------


def test_same_file_twice_is_a_duplicate_and_changes_nothing(ctx, tmp_path):
    path = write_csv(tmp_path / "aws.csv", [row(cost="5"), row(cost="6")])
    first = ingest(ctx, path, "aws")
    snapshot = [count_rows(ctx, t) for t in ("imports", "charges", "periods", "import_totals")]
    second = ingest(ctx, path, "aws")
    assert second.status == "duplicate"
    assert second.duplicate_of == first.import_id and second.import_id is None
    assert second.rows == 2
    assert [count_rows(ctx, t) for t in ("imports", "charges", "periods", "import_totals")] == snapshot
    assert billed(ctx, "2025-01") == Decimal(11)


def test_same_bytes_under_another_name_or_source_is_a_duplicate(ctx, tmp_path):
    path = write_csv(tmp_path / "a.csv", [row()])
    first = ingest(ctx, path, "aws")
    copy = tmp_path / "renamed.csv"
    copy.write_bytes(path.read_bytes())
    again = ingest(ctx, copy, "azure")
    assert again.status == "duplicate" and again.duplicate_of == first.import_id
    assert again.source == "aws"  # the import it duplicates
    assert count_rows(ctx, "charges") == 1


def test_duplicate_with_replace_also_changes_nothing(ctx, tmp_path):
    path = write_csv(tmp_path / "a.csv", [row()])
    first = ingest(ctx, path, "aws")
    again = ingest(ctx, path, "aws", replace=True)
    assert again.status == "duplicate"
    assert get_import(ctx, first.import_id).summary.status == "complete"
    assert count_rows(ctx, "charges") == 1


def test_distinct_files_with_the_same_rows_are_refused_then_kept_with_append(ctx, tmp_path):
    a = write_csv(tmp_path / "a.csv", [row(cost="5")])
    b = write_csv(tmp_path / "b.csv", [row(cost="5")], newline="\r\n")  # other bytes
    ingest(ctx, a, "aws")
    with pytest.raises(Conflict, match=r"1 of its 1 row\(s\) are already in the ledger.*import #1 \(a\.csv"):
        ingest(ctx, b, "aws")
    assert billed(ctx, "2025-01") == Decimal(5)
    assert ingest(ctx, b, "aws", append=True).status == "imported"
    assert billed(ctx, "2025-01") == Decimal(10)  # never merged


# -- --replace ------------------------------------------------------------------------------


def test_replace_swaps_the_sources_period_and_records_it_on_both(ctx, tmp_path):
    old = ingest(ctx, write_csv(tmp_path / "aws-v1.csv", [row(cost="10"), row(cost="20")]), "aws")
    other_source = ingest(ctx, write_csv(tmp_path / "az.csv", [row(cost="7")]), "azure")
    other_period = ingest(ctx, write_csv(tmp_path / "aws-dec.csv", [row("2025-12", cost="3")]), "aws")
    new = ingest(ctx, write_csv(tmp_path / "aws-v2.csv", [row(cost="11")]), "aws", replace=True)
    assert new.status == "imported"
    assert new.replaced == ((old.import_id, "2025-01", 2),)

    assert billed(ctx, "2025-01") == Decimal(18)  # 11 (aws v2) + 7 (azure)
    assert billed(ctx, "2025-12") == Decimal(3)
    by_source = dict(period_totals(ctx, "2025-01", by="source").groups)
    assert by_source["aws"].billed_cost == 11 and by_source["azure"].billed_cost == 7

    old_detail = get_import(ctx, old.import_id)
    assert old_detail.summary.status == "replaced"
    assert old_detail.summary.replaced_by == new.import_id
    assert old_detail.replaced_by == ((new.import_id, "2025-01", 2),)
    new_detail = get_import(ctx, new.import_id)
    assert new_detail.replaced == ((old.import_id, "2025-01", 2),)
    assert new_detail.summary.replaced_by is None
    for untouched in (other_source, other_period):
        d = get_import(ctx, untouched.import_id)
        assert d.summary.status == "complete" and d.replaced_by == () and d.replaced == ()
    # the replaced import's file may be imported again (it is no longer active)
    assert {c.import_id for c in all_charges(ctx, source="aws", period="2025-01")} == {new.import_id}


def test_replace_only_touches_the_periods_of_the_new_file(ctx, tmp_path):
    old = ingest(
        ctx, write_csv(tmp_path / "v1.csv", [row("2025-01", cost="1"), row("2025-02", cost="2")]), "aws"
    )
    new = ingest(ctx, write_csv(tmp_path / "v2.csv", [row("2025-01", cost="5")]), "aws", replace=True)
    assert new.replaced == ((old.import_id, "2025-01", 1),)
    assert billed(ctx, "2025-01") == 5 and billed(ctx, "2025-02") == 2
    d = get_import(ctx, old.import_id)
    assert d.summary.status == "complete"  # it still has rows in 2025-02
    assert d.summary.replaced_by == new.import_id


def test_without_replace_a_second_export_adds_rows(ctx, tmp_path):
    ingest(ctx, write_csv(tmp_path / "v1.csv", [row(cost="10")]), "aws")
    new = ingest(ctx, write_csv(tmp_path / "v2.csv", [row(cost="11")]), "aws")
    assert new.replaced == ()
    assert billed(ctx, "2025-01") == 21


def test_replace_that_fails_leaves_the_old_import(ctx, tmp_path):
    old = ingest(ctx, write_csv(tmp_path / "v1.csv", [row(cost="10")]), "aws")
    with pytest.raises(FileRefused):
        ingest(ctx, write_csv(tmp_path / "v2.csv", [row(BilledCost="bad")]), "aws", replace=True)
    assert get_import(ctx, old.import_id).summary.status == "complete"
    assert billed(ctx, "2025-01") == 10


# -- periods -----------------------------------------------------------------------------------


def test_rows_go_to_the_period_of_their_billing_period_start(ctx, tmp_path):
    assert list_periods(ctx) == []
    rows = [
        row("2025-01", cost="1"),
        row("2025-02", cost="2"),
        row("2025-02", cost="3"),
        # a charge in January billed in February's invoice still belongs to February
        row(
            "2025-02",
            cost="4",
            ChargePeriodStart="2025-01-30T00:00:00Z",
            ChargePeriodEnd="2025-01-31T00:00:00Z",
        ),
    ]
    result = ingest(ctx, write_csv(tmp_path / "p.csv", rows), "aws")
    assert result.periods == {"2025-01": 1, "2025-02": 3}
    assert [(p.name, p.status) for p in list_periods(ctx)] == [("2025-02", "open"), ("2025-01", "open")]
    feb = get_period(ctx, "2025-02")
    assert feb.starts_at == datetime(2025, 2, 1, tzinfo=UTC)
    assert feb.ends_at == datetime(2025, 3, 1, tzinfo=UTC)
    assert [(t.from_status, t.to_status, t.actor) for t in feb.history] == [(None, "open", "tester")]
    assert billed(ctx, "2025-02") == 9 and billed(ctx, "2025-01") == 1
    assert sorted(get_import(ctx, result.import_id).summary.periods) == ["2025-01", "2025-02"]


def test_billing_period_in_other_zones_and_forms(ctx, tmp_path):
    rows = [
        row(BillingPeriodStart="2025-03-01", BillingPeriodEnd="2025-03-31"),  # inclusive end
        row(BillingPeriodStart="2025-03-01 00:00:00", BillingPeriodEnd="2025-04-01 00:00:00"),
        row(BillingPeriodStart="2025-03-01T00:00:00.000Z", BillingPeriodEnd="2025-04-01T00:00:00Z"),
        row(BillingPeriodStart="2025-02-28T19:00:00-05:00", BillingPeriodEnd="2025-03-31T20:00:00-04:00"),
        row(BillingPeriodStart="3/1/2025", BillingPeriodEnd="4/1/2025"),
    ]
    result = ingest(ctx, write_csv(tmp_path / "forms.csv", rows), "aws")
    assert result.periods == {"2025-03": 5}


def test_period_option_flags_rows_of_another_period(ctx, tmp_path):
    rows = [row("2025-01", cost="1"), row("2025-02", cost="2", ResourceId="late")]
    result = ingest(ctx, write_csv(tmp_path / "mm.csv", rows), "aws", "2025-01")
    assert result.flagged == 1
    (late,) = all_charges(ctx, flagged=True)
    assert late.resource_id == "late" and late.period == "2025-02"
    assert late.flags == ("period_mismatch",)
    (ok,) = all_charges(ctx, flagged=False)
    assert ok.period == "2025-01"
    assert get_import(ctx, result.import_id).requested_period == "2025-01"


def test_without_period_option_nothing_is_a_mismatch(ctx, tmp_path):
    rows = [row("2025-01"), row("2025-02")]
    result = ingest(ctx, write_csv(tmp_path / "mm.csv", rows), "aws")
    assert result.flagged == 0


def test_period_option_must_be_a_month(ctx, tmp_path):
    path = write_csv(tmp_path / "a.csv", [row()])
    for bad in ("2025-13", "2025-1", "January", "2025-01-01"):
        with pytest.raises(InvalidInput, match="YYYY-MM"):
            ingest(ctx, path, "aws", bad)
    assert count_rows(ctx, "imports") == 0


@pytest.mark.parametrize("status", ["closed", "finalized"])
def test_closed_and_finalized_periods_refuse_imports(ctx, tmp_path, status):
    ingest(ctx, write_csv(tmp_path / "a.csv", [row(cost="1")]), "aws")
    change_status(ctx, "2025-01", "close")
    if status == "finalized":
        change_status(ctx, "2025-01", "finalize")
    late = write_csv(tmp_path / "late.csv", [row("2025-02", cost="2"), row(cost="3")])
    before = [count_rows(ctx, t) for t in ("imports", "charges", "periods")]
    for period in (None, "2025-01"):
        with pytest.raises(Conflict) as exc:
            ingest(ctx, late, "aws", period)
        assert f"period 2025-01 is {status}" in str(exc.value)
    assert [count_rows(ctx, t) for t in ("imports", "charges", "periods")] == before
    assert [p.name for p in list_periods(ctx)] == ["2025-01"]  # 2025-02 rolled back too
    with pytest.raises(Conflict, match=f"period 2025-01 is {status}"):
        ingest(ctx, late, "aws", replace=True)
    assert billed(ctx, "2025-01") == 1


def test_period_option_naming_a_closed_period_is_refused_before_reading(ctx, tmp_path):
    open_period(ctx, "2025-05")
    change_status(ctx, "2025-05", "close")
    # the file only has January rows, but -p names the closed month
    with pytest.raises(Conflict, match="period 2025-05 is closed"):
        ingest(ctx, write_csv(tmp_path / "a.csv", [row()]), "aws", "2025-05")


def test_reopen_needs_a_reason_then_imports_work(ctx, tmp_path):
    ingest(ctx, write_csv(tmp_path / "a.csv", [row(cost="1")]), "aws")
    change_status(ctx, "2025-01", "close")
    change_status(ctx, "2025-01", "finalize")
    for reason in (None, "", "   "):
        with pytest.raises(InvalidInput, match="needs a reason"):
            change_status(ctx, "2025-01", "reopen", reason)
    assert get_period(ctx, "2025-01").status == "finalized"
    info = change_status(ctx, "2025-01", "reopen", "  late AWS credit  ")
    assert info.status == "open"
    assert [(t.from_status, t.to_status, t.reason) for t in info.history] == [
        (None, "open", "created"),
        ("open", "closed", None),
        ("closed", "finalized", None),
        ("finalized", "open", "late AWS credit"),
    ]
    assert all(t.actor == "tester" for t in info.history)
    assert ingest(ctx, write_csv(tmp_path / "b.csv", [row(cost="2")]), "aws").status == "imported"
    assert billed(ctx, "2025-01") == 3


def test_period_transitions_that_are_not_allowed(ctx):
    open_period(ctx, "2025-03")
    with pytest.raises(Conflict, match="exists already"):
        open_period(ctx, "2025-03")
    with pytest.raises(Conflict, match="cannot finalize period 2025-03: it is still open"):
        change_status(ctx, "2025-03", "finalize")
    with pytest.raises(Conflict, match="cannot reopen period 2025-03: it is still open"):
        change_status(ctx, "2025-03", "reopen", "why")
    change_status(ctx, "2025-03", "close")
    with pytest.raises(Conflict, match="already closed"):
        change_status(ctx, "2025-03", "close")
    with pytest.raises(NotFound, match="2025-04"):
        change_status(ctx, "2025-04", "close")
    with pytest.raises(InvalidInput, match="unknown period action"):
        change_status(ctx, "2025-03", "delete")


# -- attribution flags and tag mapping ----------------------------------------------------------


def test_missing_pi_project_fund_are_flagged_each(ctx, tmp_path):
    rows = [
        row(ResourceId="all"),
        row(ResourceId="no-fund", tags={"pi_email": "a@x.edu", "project_id": "p"}),
        row(ResourceId="only-pi", tags={"pi_email": "a@x.edu"}),
        row(ResourceId="none", tags=None),
        row(ResourceId="empty", tags={}),
        row(ResourceId="blank", tags={"pi_email": " ", "project_id": "", "fund_org": None}),
        row(ResourceId="valueless", tags={"pi_email": True, "project_id": "p", "fund_org": "f"}),
    ]
    result = ingest(ctx, write_csv(tmp_path / "flags.csv", rows), "aws")
    assert result.flagged == 6
    flags = {c.resource_id: c.flags for c in all_charges(ctx)}
    every = ("missing_pi", "missing_project", "missing_fund_org")
    assert flags == {
        "all": (),
        "no-fund": ("missing_fund_org",),
        "only-pi": ("missing_project", "missing_fund_org"),
        "none": every,
        "empty": every,
        "blank": every,
        "valueless": ("missing_pi",),
    }
    assert len(all_charges(ctx, flagged=True)) == 6
    assert get_import(ctx, result.import_id).summary.flagged == 6
    # flagged rows are stored and counted like any other
    assert billed(ctx, "2025-01") == Decimal(70)


def test_tag_keys_match_case_and_whitespace_insensitively(db_url, make_ctx, tmp_path):
    ctx = make_ctx(
        db_url,
        tag_mapping={
            "pi_email": ["PI_Email", "pi"],
            "project_id": "Project ID",
            "fund_org": ["fund_org", "Fund"],
        },
    )
    rows = [
        row(ResourceId="a", tags={" pi_email ": "a@x.edu", "PROJECT ID": "p1", "FUND_ORG\t": "f1"}),
        row(ResourceId="b", tags={"Pi": "b@x.edu", "project id": "p2", "fund": "f2"}),
        # first non-empty candidate wins
        row(
            ResourceId="c",
            tags={"pi_email": "", "PI": "c@x.edu", "project id": "p3", "fund_org": "first", "fund": "second"},
        ),
    ]
    ingest(ctx, write_csv(tmp_path / "m.csv", rows), "aws")
    got = {c.resource_id: (c.pi_email, c.project_id, c.fund_org) for c in all_charges(ctx)}
    assert got == {
        "a": ("a@x.edu", "p1", "f1"),
        "b": ("b@x.edu", "p2", "f2"),
        "c": ("c@x.edu", "p3", "first"),
    }
    assert all_charges(ctx, flagged=True) == []
    assert [c.resource_id for c in all_charges(ctx, pi="b@x.edu")] == ["b"]
    assert [c.resource_id for c in all_charges(ctx, project="p3")] == ["c"]
    assert [c.resource_id for c in all_charges(ctx, fund="f1")] == ["a"]


def test_per_source_override_and_x_columns(db_url, make_ctx, tmp_path):
    sources = [
        {"name": "aws"},
        {"name": "hpc", "tag_mapping": {"project_id": "x_ProjectCode", "fund_org": ["x_Fund", "fund_org"]}},
    ]
    ctx = make_ctx(db_url, sources=sources, tag_mapping={"pi_email": "owner"})
    header = HEADER + ["X_PROJECTCODE", "x_Fund"]
    rows = [
        row(
            ResourceId="r1",
            tags={"owner": "o@x.edu", "project_id": "from-tags", "fund_org": "tag-fund"},
            X_PROJECTCODE="from-column",
            x_Fund="",
        ),
        row(ResourceId="r2", tags={"owner": "o@x.edu"}, X_PROJECTCODE="", x_Fund="col-fund"),
    ]
    ingest(ctx, write_csv(tmp_path / "hpc.csv", rows, header), "hpc")
    ingest(ctx, write_csv(tmp_path / "aws.csv", rows, header, newline="\r\n"), "aws")  # other bytes
    got = {
        (c.source, c.resource_id): (c.pi_email, c.project_id, c.fund_org, c.flags) for c in all_charges(ctx)
    }
    assert got[("hpc", "r1")] == ("o@x.edu", "from-column", "tag-fund", ())
    assert got[("hpc", "r2")] == ("o@x.edu", None, "col-fund", ("missing_project",))
    # aws keeps the global mapping: project from Tags; fund_org default key
    assert got[("aws", "r1")] == ("o@x.edu", "from-tags", "tag-fund", ())
    assert got[("aws", "r2")] == ("o@x.edu", None, None, ("missing_project", "missing_fund_org"))


def test_reference_fields_from_tags(db_url, make_ctx, tmp_path):
    ctx = make_ctx(db_url, tag_mapping={"reference_1": "grant_number", "cost_center": "cc"})
    tags = {
        "pi_email": "a@x.edu",
        "project_id": "p",
        "fund_org": "f",
        "grant_number": "NSF-1",
        "CC": "  CC-9  ",
    }
    ingest(ctx, write_csv(tmp_path / "r.csv", [row(tags=tags)]), "aws")
    from sqlalchemy import text

    with ctx.engine.connect() as conn:
        got = conn.execute(text("SELECT reference_1, cost_center FROM charges")).one()
    assert tuple(got) == ("NSF-1", "CC-9")


# -- control totals and currencies --------------------------------------------------------------


def test_control_totals_per_column_and_currency(ctx, tmp_path):
    rows = [
        row(cost="1.000000000001"),
        row(cost="2.5", BillingCurrency="eur"),
        row(cost="-0.25"),
        row(cost="4", BillingCurrency="EUR", ContractedCost=""),
    ]
    path = write_csv(tmp_path / "cur.csv", rows)
    result = ingest(ctx, path, "aws")
    totals = {(c, col): (f, s) for c, col, f, s in get_import(ctx, result.import_id).totals}
    assert totals[("USD", "BilledCost")] == (Decimal("0.750000000001"),) * 2
    assert totals[("EUR", "BilledCost")] == (Decimal("6.5"),) * 2
    assert totals[("EUR", "ContractedCost")] == (Decimal("2.5"),) * 2
    assert len(totals) == 8
    assert {t.currency for t in result.totals} == {"USD", "EUR"}
    with pytest.raises(InvalidInput, match="EUR, USD"):
        period_totals(ctx, "2025-01")
    assert period_totals(ctx, "2025-01", currency="eur").totals.billed_cost == Decimal("6.5")
    assert period_totals(ctx, "2025-01", currency="USD").totals.rows == 2


def test_missing_currency_column_uses_the_configured_currency(db_url, make_ctx, tmp_path):
    ctx = make_ctx(db_url, currency="chf")
    header = [h for h in HEADER if h != "BillingCurrency"]
    result = ingest(ctx, write_csv(tmp_path / "nocur.csv", [row()], header), "aws")
    assert {t.currency for t in result.totals} == {"CHF"}


def test_stored_totals_equal_file_totals(ctx, tmp_path):
    rows = [row(cost=f"{(-1) ** i * i}.{i * 7919 % 10**11:011d}") for i in range(1, 60)]
    path = write_csv(tmp_path / "t.csv", rows)
    result = ingest(ctx, path, "aws")
    expected = file_sums(path)
    got = stored_totals(ctx, result.import_id)
    assert got == expected
    assert {t.column: t.stored_total for t in result.totals} == expected


# -- dry run and sources ---------------------------------------------------------------------


def test_dry_run_writes_nothing(ctx, tmp_path):
    path = write_csv(tmp_path / "dry.csv", [row(cost="1"), row("2025-02", cost="2"), row(tags=None)])
    result = ingest(ctx, path, "aws", "2025-01", dry_run=True)
    assert result.status == "dry-run" and result.import_id is None
    assert result.rows == 3 and result.periods == {"2025-01": 2, "2025-02": 1}
    assert result.flagged == 2
    assert {t.column: t.stored_total for t in result.totals}["BilledCost"] == Decimal(13)
    for table in (
        "imports",
        "charges",
        "periods",
        "period_transitions",
        "charge_details",
        "tag_sets",
        "import_totals",
    ):
        assert count_rows(ctx, table) == 0, table
    # and the real import afterwards is not a duplicate
    assert ingest(ctx, path, "aws").status == "imported"


def test_dry_run_of_a_bad_file_is_refused_the_same(ctx, tmp_path):
    path = write_csv(tmp_path / "bad.csv", [row(BilledCost="x")])
    with pytest.raises(FileRefused, match="bad.csv:2: column BilledCost"):
        ingest(ctx, path, "aws", dry_run=True)
    assert count_rows(ctx, "imports") == 0


def test_unknown_source_is_refused_naming_the_known_ones(ctx, tmp_path):
    with pytest.raises(NotFound) as exc:
        ingest(ctx, write_csv(tmp_path / "a.csv", [row()]), "gcp")
    assert "unknown source 'gcp'" in str(exc.value) and "aws" in str(exc.value)
    assert list_imports(ctx) == []


def test_source_names_are_case_insensitive(ctx, tmp_path):
    result = ingest(ctx, write_csv(tmp_path / "a.csv", [row()]), "AWS")
    assert result.source == "aws"
    assert [i.source for i in list_imports(ctx, source="Aws")] == ["aws"]


def test_import_records_who_what_and_how(ctx, tmp_path):
    path = write_csv(tmp_path / "who.csv", [row(), row()])
    result = ingest(ctx.as_actor("alice"), path, "aws")
    d = get_import(ctx, result.import_id)
    import hashlib

    assert d.summary.sha256 == hashlib.sha256(path.read_bytes()).hexdigest() == result.sha256
    assert d.size_bytes == path.stat().st_size
    assert d.summary.actor == "alice"
    assert d.summary.filename == "who.csv"
    assert d.summary.rows == 2 and d.summary.finished_at.tzinfo is not None
    assert d.format == "csv" and d.focus_version == "1.0"
    assert set(d.columns["mapped"]) >= set(COSTS)
    assert [i.id for i in list_imports(ctx, period="2025-01")] == [result.import_id]
    assert list_imports(ctx, period="2024-01") == []
    with pytest.raises(NotFound, match="import #999"):
        get_import(ctx, 999)
