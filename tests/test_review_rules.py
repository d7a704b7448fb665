"""Review rules: the pure rule engine (domain), then every rule as it flags charges at
import on SQLite and PostgreSQL (missing attribution, PI not an email, unknown fund/org,
flag patterns on each field, period mismatch, amount rules, growth across periods)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from focus_builders import HEADER, row, write_csv
from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.review import ChargeFacts, Evaluator, ReviewRules, describe, join_flags
from openchargeback.services import review as rv
from openchargeback.services.ingest.loading import ingest
from openchargeback.services.review.patterns import compile_pattern

INPUTS = Path(__file__).resolve().parent.parent / "sample_data" / "inputs"
GOOD = {"pi_email": "pi@example.edu", "project_id": "proj-1", "fund_org": "BIO-2024-001"}


def facts(pi="pi@example.edu", project="proj-1", fund="BIO-2024-001", **kw) -> ChargeFacts:
    return ChargeFacts(pi, project, fund, **kw)


def flags_of(rules: dict, f: ChargeFacts) -> list[str]:
    return Evaluator(ReviewRules.from_dict(rules), compile_pattern).facts_flags(f)


def stored(ctx, period: str | None = None) -> dict[int, tuple[str, ...]]:
    """line -> flag codes of the charges (of one period)."""
    q = "SELECT c.line, c.flags FROM charges c JOIN periods p ON p.id = c.period_id"
    if period:
        q += f" WHERE p.name = '{period}'"
    with ctx.engine.connect() as conn:
        return {r.line: tuple(r.flags.split(",")) if r.flags else () for r in conn.execute(text(q))}


# -- the rules as data -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, words",
    [
        ({"max_charges": 1}, "unknown key"),
        ({"fund_org_patterns": ["(unclosed"]}, "not a valid pattern"),
        ({"flag_patterns": [{"name": "x", "field": "colour", "pattern": "a"}]}, "field 'colour'"),
        ({"flag_patterns": [{"name": "Bad Name", "field": "service", "pattern": "a"}]}, "name"),
        ({"flag_patterns": [{"name": "x", "field": "service"}]}, "needs name, field and pattern"),
        ({"flag_patterns": [{"name": "x", "field": "sku", "pattern": "[z-a]"}]}, "not a valid pattern"),
        ({"max_charge": "lots"}, "not a number"),
        ({"large_credit": "-5"}, "must not be negative"),
    ],
)
def test_invalid_rules_are_refused_with_the_reason(data, words):
    with pytest.raises(InvalidInput, match=words):
        ReviewRules.from_dict(data)


def test_rules_round_trip_through_plain_data():
    data = {
        "fund_org_patterns": ["BIO-\\d{4}-\\d{3}"],
        "flag_patterns": [{"name": "gpu", "field": "tag:Kind", "pattern": "gpu", "reason": "GPU"}],
        "max_charge": "1000.5",
        "large_credit": "500",
        "growth_percent": "50",
        "growth_amount": "100",
    }
    rules = ReviewRules.from_dict(data)
    again = ReviewRules.from_dict(rules.as_dict())
    assert again == rules
    assert rules.max_charge == Decimal("1000.5") and rules.growth_percent == Decimal(50)
    assert ReviewRules.from_dict(None) == ReviewRules()


# -- attribution rules (pure) -------------------------------------------------------------------


def test_missing_attribution_gives_one_flag_per_missing_field():
    assert flags_of({}, facts()) == []
    assert flags_of({}, facts(pi=None)) == ["missing_pi"]
    assert flags_of({}, facts(project=None)) == ["missing_project"]
    assert flags_of({}, facts(fund=None)) == ["missing_fund_org"]
    assert flags_of({}, facts(None, None, None)) == ["missing_pi", "missing_project", "missing_fund_org"]
    assert flags_of({}, facts(pi="", project="")) == ["missing_pi", "missing_project"]


@pytest.mark.parametrize(
    "pi, flagged",
    [
        ("alice@example.edu", False),
        ("A.B+c@dept.example.ac.uk", False),
        ("alice", True),
        ("alice@", True),
        ("@example.edu", True),
        ("alice@localhost", True),
        ("alice@example.edu, bob@example.edu", True),
        ("alice @example.edu", True),
        ("a@b@example.edu", True),
    ],
)
def test_pi_not_email(pi, flagged):
    assert ("pi_not_email" in flags_of({}, facts(pi=pi))) is flagged


@pytest.mark.parametrize(
    "fund, flagged",
    [
        ("BIO-2024-001", False),
        ("bio-2024-001", False),  # case-insensitive
        ("NSF-ATM-2024", False),  # second pattern
        ("9BIO-2024-001", True),  # anchored at the start
        ("BIO-2024-0011", True),  # anchored at the end
        ("BIO-2024-001\n", True),  # no trailing newline allowed ($ would let it through)
        ("BIO-2024", True),
        ("ECON-DEPT-2024", True),
        ("NSF-ATM-2024-X", True),
    ],
)
def test_fund_org_patterns_are_anchored_and_case_insensitive(fund, flagged):
    rules = {"fund_org_patterns": ["[A-Z]{2,5}-\\d{4}-\\d{3}", "NSF-[A-Z]+-\\d{4}"]}
    assert ("fund_org_unknown" in flags_of(rules, facts(fund=fund))) is flagged


def test_fund_org_anchoring_holds_for_alternations():
    rules = {"fund_org_patterns": ["ABC|DEF"]}
    assert flags_of(rules, facts(fund="def")) == []
    assert flags_of(rules, facts(fund="ABCDEF")) == ["fund_org_unknown"]
    assert flags_of(rules, facts(fund="XDEF")) == ["fund_org_unknown"]


def test_no_fund_patterns_means_any_fund_is_known_and_a_missing_one_is_only_missing():
    assert flags_of({}, facts(fund="anything at all")) == []
    assert flags_of({"fund_org_patterns": ["BIO-.*"]}, facts(fund=None)) == ["missing_fund_org"]


@pytest.mark.parametrize(
    "field, pattern, hit, miss",
    [
        ("service", "gpu", dict(service="Amazon EC2 GPU"), dict(service="Amazon S3")),
        ("resource_id", "^i-0abc", dict(resource_id="I-0ABC1"), dict(resource_id="vol-0abc")),
        ("resource_name", "scratch", dict(resource_name="scratch-20tb"), dict(resource_name="home")),
        ("sku", "^SKU-9", dict(sku="sku-900"), dict(sku="SKU-1")),
        ("description", "refund", dict(description="Partial REFUND for outage"), dict(description="usage")),
        ("any_tag", "^env=prod$", dict(tags={"Env": "prod"}), dict(tags={"env": "production"})),
        ("any_tag", "^owner=", dict(tags={"OWNER": "x"}), dict(tags={"team": "owner="})),
        ("tag:Owner", "^bob$", dict(tags={" owner ": "Bob"}), dict(tags={"owner": "bobby"})),
        ("tag:owner", "^bob$", dict(tags={"OWNER": "bob"}), dict(tags={"manager": "bob"})),
    ],
)
def test_each_flag_pattern_field(field, pattern, hit, miss):
    rules = {"flag_patterns": [{"name": "p", "field": field, "pattern": pattern}]}
    assert flags_of(rules, facts(**hit)) == ["pattern:p"]
    assert flags_of(rules, facts(**miss)) == []
    assert flags_of(rules, facts()) == []  # the field absent


def test_several_patterns_each_give_their_own_code():
    rules = {
        "flag_patterns": [
            {"name": "gpu", "field": "service", "pattern": "GPU"},
            {"name": "big", "field": "resource_name", "pattern": "big"},
        ]
    }
    assert flags_of(rules, facts(service="GPU", resource_name="big-one")) == ["pattern:gpu", "pattern:big"]


def test_amount_rules():
    ev = Evaluator(ReviewRules.from_dict({"max_charge": "1000", "large_credit": "500"}))
    assert ev.amount_flags(Decimal("1000")) == []  # strictly above
    assert ev.amount_flags(Decimal("1000.000001")) == ["over_max"]
    assert ev.amount_flags(Decimal("-500")) == []
    assert ev.amount_flags(Decimal("-500.01")) == ["large_credit"]
    assert ev.amount_flags(Decimal("600")) == []  # a charge, not a credit
    assert Evaluator(ReviewRules()).amount_flags(Decimal("10") ** 9) == []


@pytest.mark.parametrize(
    "rules, previous, current, grew",
    [
        ({"growth_percent": "50", "growth_amount": "100"}, "1000", "1600", True),
        ({"growth_percent": "50", "growth_amount": "100"}, "1000", "1500", False),  # exactly 50 %
        ({"growth_percent": "50", "growth_amount": "100"}, "100", "190", False),  # % yes, amount no
        ({"growth_percent": "50", "growth_amount": "100"}, "0", "101", True),  # new project
        ({"growth_percent": "50", "growth_amount": "100"}, "0", "100", False),
        ({"growth_percent": "50"}, "10", "16", True),
        ({"growth_amount": "100"}, "10000", "10101", True),
        ({"growth_amount": "100"}, "10000", "9000", False),
        ({}, "0", "1000000", False),
    ],
)
def test_growth(rules, previous, current, grew):
    ev = Evaluator(ReviewRules.from_dict(rules))
    assert ev.grew(Decimal(previous), Decimal(current)) is grew


def test_flags_are_stored_in_a_stable_order_and_described_in_words():
    assert join_flags([]) is None
    assert (
        join_flags(["pattern:b", "growth", "missing_pi", "pattern:a", "missing_pi"])
        == "missing_pi,growth,pattern:a,pattern:b"
    )
    rules = ReviewRules.from_dict(
        {
            "max_charge": "1000",
            "large_credit": "250",
            "flag_patterns": [
                {"name": "gpu", "field": "service", "pattern": "GPU", "reason": "GPU needs a look"},
                {"name": "raw", "field": "sku", "pattern": "x"},
            ],
        }
    )
    assert describe("over_max", rules).endswith("(1000.00)")
    assert describe("large_credit", rules).endswith("(250.00)")
    assert describe("pattern:gpu", rules) == "GPU needs a look"
    assert describe("pattern:raw", rules) == "sku matches 'x'"
    assert "gone" in describe("pattern:gone", rules)
    for code in (
        "missing_pi",
        "missing_project",
        "missing_fund_org",
        "pi_not_email",
        "fund_org_unknown",
        "period_mismatch",
        "growth",
    ):
        assert describe(code) != code and describe(code)


# -- the rules at import (both backends) --------------------------------------------------------


def test_missing_attribution_and_pi_not_email_at_import(db_url, make_ctx, tmp_path):
    ctx = make_ctx(db_url)
    path = write_csv(
        tmp_path / "a.csv",
        [
            row(cost="1", tags=GOOD),
            row(cost="2", tags={**GOOD, "pi_email": ""}),
            row(cost="3", tags={k: v for k, v in GOOD.items() if k != "project_id"}),
            row(cost="4", tags={k: v for k, v in GOOD.items() if k != "fund_org"}),
            row(cost="5", tags=None),
            row(cost="6", tags={**GOOD, "pi_email": "Dr. Pi"}),
        ],
    )
    result = ingest(ctx, path, "aws")
    assert result.flagged == 5
    assert stored(ctx) == {
        2: (),
        3: ("missing_pi",),
        4: ("missing_project",),
        5: ("missing_fund_org",),
        6: ("missing_pi", "missing_project", "missing_fund_org"),
        7: ("pi_not_email",),
    }
    q = rv.list_queue(ctx, "2025-01")
    assert q.count == 5 and q.total == Decimal(20)
    by_reason = rv.list_queue(ctx, "2025-01", rv.Selection(reason="missing_project"))
    assert sorted(i.billed_cost for i in by_reason.items) == [Decimal(3), Decimal(5)]
    assert "no project after tag mapping" in by_reason.items[0].reasons


def test_fund_org_unknown_at_import(db_url, make_ctx, tmp_path):
    ctx = make_ctx(db_url, review={"fund_org_patterns": ["BIO-\\d{4}-\\d{3}"]})
    path = write_csv(
        tmp_path / "a.csv",
        [
            row(cost="1", tags=GOOD),
            row(cost="2", tags={**GOOD, "fund_org": "bio-2024-002"}),
            row(cost="3", tags={**GOOD, "fund_org": "BIO-2024-001-X"}),
            row(cost="4", tags={**GOOD, "fund_org": "OLD-BIO-2024-001"}),
        ],
    )
    ingest(ctx, path, "aws")
    assert stored(ctx) == {2: (), 3: (), 4: ("fund_org_unknown",), 5: ("fund_org_unknown",)}


def test_each_flag_pattern_field_at_import(db_url, make_ctx, tmp_path):
    patterns = [
        {"name": "svc", "field": "service", "pattern": "gpu"},
        {"name": "rid", "field": "resource_id", "pattern": "^i-gpu"},
        {"name": "rname", "field": "resource_name", "pattern": "scratch"},
        {"name": "sku", "field": "sku", "pattern": "^SKU-9"},
        {"name": "desc", "field": "description", "pattern": "refund"},
        {"name": "anytag", "field": "any_tag", "pattern": "^env=prod$"},
        {"name": "owner", "field": "tag:Owner", "pattern": "^bob$"},
    ]
    ctx = make_ctx(db_url, review={"flag_patterns": patterns})
    base = dict(SkuId="SKU-1", ChargeDescription="usage")
    path = write_csv(
        tmp_path / "a.csv",
        [
            row(cost="1", **base),  # 2: nothing
            row(cost="2", **{**base, "ServiceName": "EC2 GPU Instances"}),  # 3
            row(cost="3", **{**base, "ResourceId": "i-gpu-77"}),  # 4
            row(cost="4", **{**base, "ResourceName": "Scratch-20TB"}),  # 5
            row(cost="5", **{**base, "SkuId": "SKU-900"}),  # 6
            row(cost="6", **{**base, "ChargeDescription": "Refund: outage"}),  # 7
            row(cost="7", tags={**GOOD, "ENV": "prod"}, **base),  # 8
            row(cost="8", tags={**GOOD, "env": "production"}, **base),  # 9: nothing
            row(cost="9", tags={**GOOD, "owner": "Bob"}, **base),  # 10
            row(cost="10", tags={**GOOD, "owner": "bobby"}, **base),  # 11: nothing
            row(cost="11", tags=GOOD, **{**base, "ServiceName": "GPU", "ResourceName": "scratch"}),  # 12
        ],
        HEADER + ["SkuId", "ChargeDescription"],
    )
    ingest(ctx, path, "aws")
    got = stored(ctx)
    assert got == {
        2: (),
        3: ("pattern:svc",),
        4: ("pattern:rid",),
        5: ("pattern:rname",),
        6: ("pattern:sku",),
        7: ("pattern:desc",),
        8: ("pattern:anytag",),
        9: (),
        10: ("pattern:owner",),
        11: (),
        12: ("pattern:rname", "pattern:svc"),
    }
    q = rv.list_queue(ctx, "2025-01", rv.Selection(reason="pattern:owner"))
    assert [i.billed_cost for i in q.items] == [Decimal(9)]


def test_period_mismatch_is_set_at_import_and_kept_by_recheck(db_url, make_ctx, tmp_path):
    ctx = make_ctx(db_url)
    path = write_csv(tmp_path / "a.csv", [row("2025-01", cost="1"), row("2025-02", cost="2")])
    ingest(ctx, path, "aws", period="2025-01")
    assert stored(ctx, "2025-01") == {2: ()}
    assert stored(ctx, "2025-02") == {3: ("period_mismatch",)}
    rv.recheck(ctx, "2025-02")
    assert stored(ctx, "2025-02") == {3: ("period_mismatch",)}
    # without -p nothing is a mismatch
    other = write_csv(tmp_path / "b.csv", [row("2025-01", cost="3"), row("2025-02", cost="4")])
    ingest(ctx, other, "azure")
    q = rv.list_queue(ctx, "2025-02", rv.Selection(status="all"))
    assert {i.billed_cost: i.flags for i in q.items} == {Decimal(2): ("period_mismatch",), Decimal(4): ()}


def test_over_max_on_the_aws_sample(db_url, make_ctx):
    ctx = make_ctx(db_url, review={"max_charge": 1000})
    result = ingest(ctx, INPUTS / "aws_2025-01.csv", "aws")
    assert result.flagged == 5
    q = rv.list_queue(ctx, "2025-01", rv.Selection(reason="over_max"))
    assert [i.billed_cost for i in q.items] == [
        Decimal(v) for v in ("2975", "2040", "2040", "1870", "1062.50")
    ]
    assert q.count == 5 and q.total == Decimal("9987.50")
    assert q.items[0].reasons == ("a single charge above the configured maximum (1000.00)",)
    # hpc rows are all subsidised to zero: nothing to look at
    assert ingest(ctx, INPUTS / "hpc_2025-01.csv", "hpc").flagged == 0


def test_large_credit_at_import(db_url, make_ctx, tmp_path):
    ctx = make_ctx(db_url, review={"large_credit": "500", "max_charge": "10000"})
    path = write_csv(
        tmp_path / "a.csv",
        [
            row(cost="-500.01", ChargeCategory="Credit"),
            row(cost="-500", ChargeCategory="Credit"),
            row(cost="-20000", ChargeCategory="Adjustment"),
            row(cost="600"),
            row(cost="10000.01"),
        ],
    )
    ingest(ctx, path, "aws")
    assert stored(ctx) == {2: ("large_credit",), 3: (), 4: ("large_credit",), 5: (), 6: ("over_max",)}
    q = rv.list_queue(ctx, "2025-01")
    # the queue is ordered by size, credits included
    assert [i.billed_cost for i in q.items] == [Decimal("-20000"), Decimal("10000.01"), Decimal("-500.01")]
    assert q.total == Decimal("-20000") + Decimal("10000.01") + Decimal("-500.01")


def test_growth_across_two_periods(db_url, make_ctx, tmp_path):
    ctx = make_ctx(db_url, review={"growth_percent": "50", "growth_amount": "100"})

    def tags(project):
        return {**GOOD, "project_id": project}

    jan = write_csv(
        tmp_path / "jan.csv",
        [
            row("2025-01", cost="200", tags=tags("fast")),
            row("2025-01", cost="100", tags=tags("fast")),
            row("2025-01", cost="1000", tags=tags("steady")),
            row("2025-01", cost="100", tags=tags("small")),
        ],
    )
    ingest(ctx, jan, "aws")
    # the first period has no previous one to grow from: nothing is flagged for growth
    assert stored(ctx, "2025-01") == {2: (), 3: (), 4: (), 5: ()}
    feb = write_csv(
        tmp_path / "feb.csv",
        [
            row("2025-02", cost="400", tags=tags("fast")),
            row("2025-02", cost="101", tags=tags("fast")),
            row("2025-02", cost="1400", tags=tags("steady")),  # +40 %: under the percentage
            row("2025-02", cost="190", tags=tags("small")),  # +90 %, but only +90
            row("2025-02", cost="150", tags=tags("new")),  # new, +150
        ],
    )
    ingest(ctx, feb, "aws")
    assert stored(ctx, "2025-02") == {2: ("growth",), 3: ("growth",), 4: (), 5: (), 6: ("growth",)}
    q = rv.list_queue(ctx, "2025-02", rv.Selection(reason="growth"))
    assert q.count == 3 and q.total == Decimal(651)
    assert q.items[0].reasons == ("the project's period total grew beyond the configured limit",)


def test_growth_ignores_rejected_money_of_the_previous_period(db_url, make_ctx, tmp_path):
    ctx = make_ctx(db_url, review={"growth_percent": "50", "growth_amount": "100", "max_charge": "500"})
    ingest(
        ctx, write_csv(tmp_path / "jan.csv", [row("2025-01", cost="1000"), row("2025-01", cost="400")]), "aws"
    )
    big = rv.list_queue(ctx, "2025-01", rv.Selection(reason="over_max")).items[0]
    rv.reject(ctx, "2025-01", rv.Selection(ids=(big.id,)), "billed twice")
    ingest(ctx, write_csv(tmp_path / "feb.csv", [row("2025-02", cost="700")]), "aws")
    # 400 (not rejected) -> 700: +75 % and +300
    assert stored(ctx, "2025-02") == {2: ("over_max", "growth")}
