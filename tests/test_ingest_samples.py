"""Every bundled sample file imports; the FinOps Foundation sample lands whole with
totals equal to the file's; the 0.5 legacy file and the 1.2 spec example behave as
FOCUS.md describes. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from conftest import INPUTS, SAMPLE_DATA
from focus_builders import COSTS, all_charges, file_sums, money_sum_sql, record_count, stored_totals
from openchargeback.domain.errors import FileRefused
from openchargeback.services.ingest.history import get_import, list_imports
from openchargeback.services.ingest.loading import ingest
from openchargeback.services.periods import list_periods
from openchargeback.services.reports import period_totals

FINOPS = SAMPLE_DATA / "focus" / "finops-foundation-focus-1.0-sample.csv"
LEGACY = SAMPLE_DATA / "focus" / "focus-0.5-legacy-names.csv"
SPEC12 = SAMPLE_DATA / "focus" / "focus-1.2-spec-saas-prepaid-example.csv"

SAMPLE_FILES = sorted(INPUTS.glob("*.csv")) + [FINOPS, SPEC12]


def _source(path) -> str:
    return "focus" if path.parent.name == "focus" else path.stem.rsplit("_", 1)[0]


def test_sample_directories_are_not_empty():
    assert len(SAMPLE_FILES) >= 12
    assert {_source(p) for p in SAMPLE_FILES} == {"aws", "azure", "hpc", "storage", "it_storage", "focus"}


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_sample_file_imports_whole(ctx, path):
    result = ingest(ctx, path, _source(path))
    assert result.status == "imported"
    assert result.skipped == 0 and result.problem_count == 0
    assert result.rows == record_count(path)
    expected = file_sums(path)
    stored = stored_totals(ctx, result.import_id)
    for column in COSTS:
        assert stored.get(column, Decimal(0)) == expected[column], column
    assert sum(result.periods.values()) == result.rows


def test_all_inputs_together_match_the_period_totals(ctx):
    by_period: dict[str, dict[str, Decimal]] = {}
    for path in sorted(INPUTS.glob("*.csv")):
        result = ingest(ctx, path, _source(path))
        assert result.status == "imported"
        sums = file_sums(path)
        (period,) = result.periods
        acc = by_period.setdefault(period, dict.fromkeys(COSTS, Decimal(0)))
        for c in COSTS:
            acc[c] += sums[c]
    assert set(by_period) == {"2025-01", "2025-12"}
    for period, sums in by_period.items():
        t = period_totals(ctx, period, by="source").totals
        assert t.billed_cost == sums["BilledCost"]
        assert t.effective_cost == sums["EffectiveCost"]
        assert t.list_cost == sums["ListCost"]
        assert t.contracted_cost == sums["ContractedCost"]
    # HPC is 100 % subsidised: list price > 0, billed 0.
    hpc = dict(period_totals(ctx, "2025-01", by="source").groups)["hpc"]
    assert hpc.list_cost > 0 and hpc.billed_cost == 0


class TestFinOpsFoundationSample:
    def test_all_1000_rows_with_exact_totals(self, ctx):
        result = ingest(ctx, FINOPS, "focus")
        assert result.status == "imported"
        assert result.focus_version == "1.0"
        assert result.rows == 1000 and result.skipped == 0
        assert result.periods == {"2024-09": 999, "2024-10": 1}
        expected = file_sums(FINOPS)
        # the file's own sums, computed here from its text
        assert expected["BilledCost"] == Decimal("20.52022672899")
        detail = get_import(ctx, result.import_id)
        assert {col for _c, col, _f, _s in detail.totals} == set(COSTS)
        for currency, column, file_total, stored_total in detail.totals:
            assert currency == "USD"
            assert file_total == stored_total == expected[column], column
        assert detail.rounded_values == 0
        # and straight from SQL, summing the stored integers
        assert money_sum_sql(ctx, "billed_cost") == expected["BilledCost"]
        assert money_sum_sql(ctx, "contracted_cost") == expected["ContractedCost"]
        # the period reports add up to the same
        for column, attr in (
            ("BilledCost", "billed_cost"),
            ("EffectiveCost", "effective_cost"),
            ("ListCost", "list_cost"),
            ("ContractedCost", "contracted_cost"),
        ):
            got = sum(
                (getattr(period_totals(ctx, p).totals, attr) for p in ("2024-09", "2024-10")), Decimal(0)
            )
            assert got == expected[column], column

    def test_nulls_tags_and_custom_columns_are_kept(self, ctx):
        result = ingest(ctx, FINOPS, "focus")
        charges = all_charges(ctx)
        assert len(charges) == 1000
        assert sorted(c.line for c in charges) == list(range(2, 1002))
        assert sum(c.resource_id is None for c in charges) == 75
        assert sum(c.contracted_cost is None for c in charges) == 7
        assert sum(c.tags is None for c in charges) == 289
        # no research tags in this file: every row is flagged for all three
        assert result.flagged == 1000
        assert all(set(c.flags) >= {"missing_pi", "missing_project", "missing_fund_org"} for c in charges)
        assert any(c.billed_cost < 0 for c in charges)
        cols = get_import(ctx, result.import_id).columns
        assert "Id" in cols["unmapped"]
        assert cols["mapped"]["BilledCost"] == "BilledCost"

    def test_tag_mapping_attributes_the_sample(self, db_url, make_ctx):
        ctx = make_ctx(
            db_url,
            tag_mapping={
                "pi_email": "CostAllocationTest",
                "project_id": ["project_id", "Project"],
                "fund_org": "org",
            },
        )
        ingest(ctx, FINOPS, "focus")
        charges = all_charges(ctx)
        assert any(c.tags and '" org"' in c.tags for c in charges), "a key with a leading space"

        def pick(tags, *names):
            norm = {k.strip().lower(): v for k, v in tags.items()}
            for n in names:
                v = norm.get(n)
                if isinstance(v, str) and v.strip():
                    return v.strip()
            return None

        attributed = 0
        for c in charges:
            tags = json.loads(c.tags) if c.tags else {}
            expected = (
                pick(tags, "costallocationtest"),
                pick(tags, "project_id", "project"),
                pick(tags, "org"),
            )
            assert (c.pi_email, c.project_id, c.fund_org) == expected, c.line
            attributed += all(expected)
            assert ("missing_fund_org" in c.flags) == (expected[2] is None)
        assert attributed > 0
        untagged = [c for c in charges if c.tags is None]
        assert all(c.flags == ("missing_pi", "missing_project", "missing_fund_org") for c in untagged)


class TestLegacy05:
    def test_refused_by_default_naming_line_column_and_expectation(self, ctx):
        with pytest.raises(FileRefused) as exc:
            ingest(ctx, LEGACY, "focus")
        msg = str(exc.value)
        assert "focus-0.5-legacy-names.csv:2: column BillingPeriodStart" in msg
        assert "focus-0.5-legacy-names.csv:3: column BillingPeriodStart" in msg
        assert "expected a BillingPeriodStart before BillingPeriodEnd" in msg
        assert "2023-06-30T00:00:00Z" in msg
        assert [p.line for p in exc.value.problems] == [2, 3]
        assert list_imports(ctx) == [] and list_periods(ctx) == []

    def test_skip_invalid_records_the_skipped_lines_on_the_import(self, ctx):
        result = ingest(ctx, LEGACY, "focus", skip_invalid=True)
        assert result.status == "imported"
        assert result.focus_version == "0.5"
        assert result.rows == 0 and result.skipped == 2
        detail = get_import(ctx, result.import_id)
        assert detail.summary.skipped == 2
        assert [(line, col) for line, col, _v, _e in detail.problems] == [
            (2, "BillingPeriodStart"),
            (3, "BillingPeriodStart"),
        ]
        assert all("before BillingPeriodEnd" in e for *_x, e in detail.problems)
        # 0.5 names were mapped, and the draft BilledCurrency lost to BillingCurrency
        mapped = detail.columns["mapped"]
        assert mapped["ChargeCategory"] == "ChargeType"
        assert mapped["EffectiveCost"] == "AmortizedCost"
        assert mapped["RegionId"] == "Region"
        assert mapped["ResourceId"] == "ResourceID"
        assert mapped["BillingCurrency"] == "BillingCurrency"
        assert "BilledCurrency" in detail.columns["unmapped"]

    def test_fixed_legacy_rows_import_with_0_5_names(self, ctx, tmp_path):
        text = (
            LEGACY.read_text()
            .replace("2023-06-30T00:00:00Z,A", "2023-06-01T00:00:00Z,A")
            .replace("2023-06-30T00:00:00Z,B", "2023-06-01T00:00:00Z,B")
        )
        lines = text.splitlines()
        fixed = [lines[0]] + [
            ln.replace(
                "2023-06-01T00:00:00Z,2023-06-01T00:00:00Z", "2023-07-01T00:00:00Z,2023-06-01T00:00:00Z", 1
            )
            for ln in lines[1:]
        ]
        path = tmp_path / "legacy-fixed.csv"
        path.write_text("\n".join(fixed) + "\n")
        result = ingest(ctx, path, "focus")
        assert result.rows == 2 and result.periods == {"2023-06": 2}
        charges = all_charges(ctx)
        assert sorted(c.billed_cost for c in charges) == [Decimal("0.1"), Decimal("1")]
        assert sorted(c.effective_cost for c in charges) == [Decimal("0.01"), Decimal("1")]
        assert {c.currency for c in charges} == {"USD"}


def test_spec_1_2_example_with_us_dates(ctx):
    result = ingest(ctx, SPEC12, "focus")
    assert result.rows == 14 and result.skipped == 0
    # 4/1/25 .. 5/1/25 is April 2025; one row a month after that for the 12-month term
    assert result.periods["2025-04"] == 3
    assert set(result.periods) == {f"2025-{m:02d}" for m in range(4, 13)} | {"2026-01", "2026-02", "2026-03"}
    charges = all_charges(ctx, period="2025-04")
    assert len(charges) == 3
    purchase = next(c for c in charges if c.billed_cost == Decimal(1200))
    assert purchase.charge_period_start == datetime(2025, 4, 1, tzinfo=UTC)
    assert purchase.charge_period_end == datetime(2026, 4, 1, tzinfo=UTC)
    assert purchase.effective_cost == 0
    usage = [c for c in charges if c.billed_cost == 0]
    assert usage and all(c.effective_cost > 0 for c in usage)
    assert all(c.charge_period_start.tzinfo is not None for c in charges)
    totals = stored_totals(ctx, result.import_id)
    assert totals["BilledCost"] == file_sums(SPEC12)["BilledCost"] == Decimal(1200)
    assert totals["EffectiveCost"] == file_sums(SPEC12)["EffectiveCost"]
