"""Issue 13, items 1 and 2: a corrected export imported without --replace, and a file
imported under the wrong source, are refused with one message saying what was found and
the way on; --replace, --append and --source-ok are the operator's word (recorded)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from focus_builders import HEADER, count_rows, row, write_csv
from openchargeback.domain.errors import Conflict, InvalidInput
from openchargeback.services.ingest.history import get_import
from openchargeback.services.ingest.loading import ingest
from openchargeback.services.reports import period_totals

WIDE = [*HEADER, "ProviderName", "BillingAccountId"]


def billed(ctx, period: str = "2025-12") -> Decimal:
    return period_totals(ctx, period).totals.billed_cost


def export(n: int, *, first: int = 0, changed: dict[int, str] | None = None, **over) -> list[dict]:
    """An AWS-like month: n distinct rows (resource r-<i>, cost i + 0.25)."""
    changed = changed or {}
    rows = []
    for i in range(first, first + n):
        cost = changed.get(i, f"{i}.25")
        rows.append(row("2025-12", cost=cost, ResourceId=f"r-{i}", **over))
    return rows


def test_corrected_export_is_refused_with_counts_money_and_the_earlier_import(ctx, tmp_path):
    v1 = ingest(ctx, write_csv(tmp_path / "aws_2025-12.csv", export(25)), "aws", "2025-12")
    before = billed(ctx)
    v2 = write_csv(tmp_path / "aws_2025-12_v2.csv", export(25, changed={3: "99.00"}))
    with pytest.raises(Conflict) as err:
        ingest(ctx, v2, "aws", "2025-12")
    msg = err.value.message
    # 24 identical rows: every row but #3; their money is the v1 total less row 3's 3.25
    same = sum(Decimal(f"{i}.25") for i in range(25)) - Decimal("3.25")
    assert f"24 of its 25 row(s) are already in the ledger: 24 row(s), {same} USD billed" in msg
    assert f"import #{v1.import_id} (aws_2025-12.csv, " in msg
    assert "--replace" in msg and "--append" in msg
    assert billed(ctx) == before and count_rows(ctx, "charges") == 25  # nothing imported

    replaced = ingest(ctx, v2, "aws", "2025-12", replace=True)
    assert replaced.status == "imported" and replaced.replaced == ((v1.import_id, "2025-12", 25),)
    assert billed(ctx) == before - Decimal("3.25") + Decimal("99.00")


def test_append_imports_identical_rows_and_is_recorded(ctx, tmp_path):
    ingest(ctx, write_csv(tmp_path / "aws_2025-12.csv", export(5)), "aws", "2025-12")
    again = write_csv(tmp_path / "aws_2025-12_more.csv", export(5), newline="\r\n")
    with pytest.raises(Conflict, match="5 of its 5 row"):
        ingest(ctx, again, "aws", "2025-12")
    r = ingest(ctx, again, "aws", "2025-12", append=True)
    assert r.status == "imported" and count_rows(ctx, "charges") == 10
    assert get_import(ctx, r.import_id).appended is True
    with pytest.raises(InvalidInput, match="exclude each other"):
        ingest(ctx, again, "aws", "2025-12", append=True, replace=True)


def test_multi_part_export_imports_without_either_flag(ctx, tmp_path):
    p1 = write_csv(tmp_path / "aws_2025-12-part1.csv", export(10))
    p2 = write_csv(tmp_path / "aws_2025-12-part2.csv", export(10, first=10))
    assert ingest(ctx, p1, "aws", "2025-12").status == "imported"
    assert ingest(ctx, p2, "aws", "2025-12").status == "imported"
    assert billed(ctx) == sum(Decimal(f"{i}.25") for i in range(20))


def test_cron_block_rerun_on_the_same_file_says_already_imported(run_cli, write_config, db_url, tmp_path):
    cfg = write_config(db_url)
    path = write_csv(tmp_path / "aws_2025-12.csv", export(3))
    code, out, err = run_cli("ingest", path, "-s", "aws", "-p", "2025-12", "-c", cfg)
    assert code == 0, err
    code, out, err = run_cli("ingest", path, "-s", "aws", "-p", "2025-12", "-c", cfg)
    assert code == 0 and "already imported as import #1" in out and "Traceback" not in err
    v2 = write_csv(tmp_path / "aws_2025-12_v2.csv", export(3, changed={0: "7"}))
    code, out, err = run_cli("ingest", v2, "-s", "aws", "-p", "2025-12", "-c", cfg)
    assert code == 1 and "2 of its 3 row(s) are already in the ledger" in err and "Traceback" not in err
    code, out, err = run_cli("ingest", v2, "-s", "aws", "-p", "2025-12", "--replace", "-c", cfg)
    assert code == 0, err


def test_file_named_for_another_source_is_refused_naming_it(ctx, tmp_path):
    path = write_csv(tmp_path / "azure_2025-12.csv", export(2))
    with pytest.raises(Conflict, match=r"looks like a file of source azure.*-s azure.*--source-ok"):
        ingest(ctx, path, "aws", "2025-12")
    assert count_rows(ctx, "imports") == 0
    r = ingest(ctx, path, "aws", "2025-12", source_ok=True)
    assert get_import(ctx, r.import_id).source_ok is True


def test_file_of_other_providers_and_accounts_is_refused(ctx, tmp_path):
    aws = [dict(r, ProviderName="AWS", BillingAccountId="111") for r in export(3)]
    ms = [dict(r, ProviderName="Microsoft", BillingAccountId="sub-9") for r in export(3, first=50)]
    ingest(ctx, write_csv(tmp_path / "aws_2025-12.csv", aws, WIDE), "aws", "2025-12")
    ingest(ctx, write_csv(tmp_path / "azure_2025-11.csv", ms, WIDE), "azure", "2025-12")
    ms2 = [dict(r, ProviderName="Microsoft", BillingAccountId="sub-9") for r in export(3, first=80)]
    neutral = write_csv(tmp_path / "export.csv", ms2, WIDE)  # a name that matches no pattern
    with pytest.raises(Conflict, match=r"providers \(Microsoft\) are none of.*\(AWS\).*source azure"):
        ingest(ctx, neutral, "aws", "2025-12")
    assert ingest(ctx, neutral, "aws", "2025-12", source_ok=True).status == "imported"
    # a new billing account of the same provider is refused too (accounts disjoint)
    other = [dict(r, ProviderName="AWS", BillingAccountId="222") for r in export(2, first=90)]
    with pytest.raises(Conflict, match=r"billing accounts \(222\)"):
        ingest(ctx, write_csv(tmp_path / "aws_2025-12_b.csv", other, WIDE), "aws", "2025-12")
