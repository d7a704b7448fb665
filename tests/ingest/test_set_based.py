"""Issue 21: the set-based ingest gives every row the flags and attribution that the rules
give that row alone; the realistic benchmark file imports to its exact totals."""

from __future__ import annotations

import json
import sys
from decimal import Decimal

from sqlalchemy import text

from conftest import ROOT
from openchargeback.config import Settings
from openchargeback.domain.attribution import TagMapping
from openchargeback.domain.review import ChargeFacts, Evaluator, ReviewRules, join_flags
from openchargeback.focus import batch as batch_module
from openchargeback.focus.reader import FocusFile
from openchargeback.services.context import build_context
from openchargeback.services.ingest import flagging
from openchargeback.services.ingest.loading import ingest
from openchargeback.services.review.patterns import compile_pattern
from openchargeback.storage import staging

sys.path.insert(0, str(ROOT / "bench"))
from focusgen import generate_realistic  # noqa: E402

RULES = {
    "fund_org_patterns": ["[A-Z]{2,6}(-[A-Z0-9]{2,8}){1,3}"],
    "flag_patterns": [
        {"name": "gpu", "field": "service", "pattern": "GPU"},
        {"name": "credit", "field": "description", "pattern": "research credit"},
        {"name": "dev", "field": "tag:environment", "pattern": "^dev$"},
        {"name": "bucket", "field": "resource_id", "pattern": "bucket-0000"},
    ],
    "max_charge": "20",
    "large_credit": "5",
}


def _one_by_one(conn, rules: ReviewRules, expected_period: str) -> tuple[int, list[str]]:
    """Each stored charge's flags computed from its own values alone, compared with the stored
    ones; returns (rows compared, differences)."""
    evaluator = Evaluator(rules, compile_pattern)
    mapping = TagMapping.build(Settings().mapping())
    rows = conn.execute(
        text(
            "SELECT c.line, c.flags, c.pi_email, c.project_id, c.fund_org, c.billed_cost, c.resource_id, "
            "c.resource_name, t.tags, d.service_name, d.sku_id, d.charge_description, p.name AS period "
            "FROM charges c JOIN charge_details d ON d.id = c.detail_id "
            "JOIN periods p ON p.id = c.period_id LEFT JOIN tag_sets t ON t.id = c.tag_set_id ORDER BY c.line"
        )
    ).all()
    wrong = []
    for r in rows:
        tags = json.loads(r.tags) if r.tags else None
        attr = mapping.resolve(tags)
        assert (r.pi_email, r.project_id, r.fund_org) == attr[:3], r.line
        facts = ChargeFacts(
            *attr[:3],
            service=r.service_name,
            sku=r.sku_id,
            description=r.charge_description,
            resource_id=r.resource_id,
            resource_name=r.resource_name,
            tags=tags,
        )
        codes = evaluator.facts_flags(facts) + evaluator.amount_flags(Decimal(r.billed_cost) / 10**12)
        if r.period != expected_period:
            codes.append("period_mismatch")
        if join_flags(codes) != r.flags:
            wrong.append(f"line {r.line}: stored {r.flags}, alone {join_flags(codes)}")
    return len(rows), wrong


def test_set_based_flags_equal_each_row_alone(db_url, tmp_path, monkeypatch):
    """Every kind of rule (attribution, fund pattern, service, description, tag and resource
    patterns, both amount rules, period mismatch) over a file of many distinct values, in
    batches small enough that values repeat across them (the caches), each detail and tag
    set stored once."""
    path = tmp_path / "realistic.csv"
    file_total = generate_realistic(path, 2_000, period="2025-03")
    settings = Settings.model_validate(
        {"database": {"url": db_url}, "sources": [{"name": "aws"}], "review": RULES}
    )
    ctx = build_context(settings, actor="test")
    monkeypatch.setitem(FocusFile.__init__.__kwdefaults__, "batch_size", 400)
    # and so small that every memory of distinct values is forgotten and found again
    monkeypatch.setattr(staging, "_REMEMBERED", 7)  # combos
    monkeypatch.setattr(batch_module, "_SEEN_LIMIT", 7)
    monkeypatch.setattr(flagging, "_CACHE_LIMIT", 7)
    try:
        result = ingest(ctx, path, "aws", "2025-02")  # every row also period_mismatch
        assert result.rows == 2_000
        billed = next(t for t in result.totals if t.column == "BilledCost")
        assert billed.file_total == billed.stored_total == file_total
        with ctx.read() as conn:
            compared, wrong = _one_by_one(conn, ReviewRules.from_dict(RULES), "2025-02")
        assert compared == 2_000
        assert wrong == []
        with ctx.read() as conn:
            for table in ("charge_details", "tag_sets"):
                keys = conn.execute(text(f"SELECT count(*), count(DISTINCT key) FROM {table}")).one()
                assert keys[0] == keys[1] > 50
            kinds = set(
                ",".join(conn.execute(text("SELECT DISTINCT flags FROM charges")).scalars()).split(",")
            )
        # the file exercises every rule
        assert {
            "missing_fund_org",
            "pattern:gpu",
            "pattern:credit",
            "pattern:dev",
            "pattern:bucket",
            "over_max",
            "large_credit",
            "period_mismatch",
        } <= kinds
    finally:
        ctx.engine.dispose()


def test_realistic_file_with_unmatched_funds_is_all_flagged(db_url, tmp_path):
    path = tmp_path / "realistic.csv"
    file_total = generate_realistic(path, 1_500, unmatched_funds=True)
    rules = {"fund_org_patterns": RULES["fund_org_patterns"]}
    settings = Settings.model_validate(
        {"database": {"url": db_url}, "sources": [{"name": "aws"}], "review": rules}
    )
    ctx = build_context(settings, actor="test")
    try:
        result = ingest(ctx, path, "aws")
        assert result.flagged == result.rows == 1_500
        assert {t.column: t.stored_total for t in result.totals}["BilledCost"] == file_total
        with ctx.read() as conn:
            providers = conn.execute(
                text("SELECT count(DISTINCT provider_name) FROM charge_details")
            ).scalar()
            categories = conn.execute(
                text("SELECT count(DISTINCT charge_category) FROM charge_details")
            ).scalar()
        assert (providers, categories) == (3, 5)
    finally:
        ctx.engine.dispose()


def test_each_detail_and_tag_set_staged_once(db_url, tmp_path, monkeypatch):
    """A detail or tag set is staged once per file while the reader remembers it, however
    many distinct ones a batch holds: a 1,000,000-row export has 21,500 distinct details a
    batch, and a memory smaller than that used to stage them all again in every batch."""
    path = tmp_path / "realistic.csv"
    generate_realistic(path, 3_000, period="2025-03")
    settings = Settings.model_validate({"database": {"url": db_url}, "sources": [{"name": "aws"}]})
    ctx = build_context(settings, actor="test")
    monkeypatch.setitem(FocusFile.__init__.__kwdefaults__, "batch_size", 500)
    monkeypatch.setattr(staging, "_REMEMBERED", 50)  # fewer combos than a batch holds
    staged: dict[str, int] = {}

    def counting(write):
        def counted(self, table, names, rows):
            rows = list(rows)
            staged[table] = staged.get(table, 0) + len(rows)
            return write(self, table, names, rows)

        return counted

    for stage_class in (staging.SQLiteStage, staging.PostgresStage):
        monkeypatch.setattr(stage_class, "_write", counting(stage_class._write))
    try:
        ingest(ctx, path, "aws")
        with ctx.read() as conn:
            details = conn.execute(text("SELECT count(*) FROM charge_details")).scalar_one()
            tag_sets = conn.execute(text("SELECT count(*) FROM tag_sets")).scalar_one()
        assert details > 150
        assert staged["s_details"] == details
        assert staged["s_tags"] == tag_sets
    finally:
        ctx.engine.dispose()
