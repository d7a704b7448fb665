"""Review rule patterns run on RE2: no catastrophic backtracking, and patterns RE2
cannot run are refused with the reason (issue 17, item 6)."""

from __future__ import annotations

import time

import pytest

from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.review import ChargeFacts, Evaluator, ReviewRules
from openchargeback.services import review
from openchargeback.services.review.patterns import compile_pattern

EVIL = {"name": "evil", "field": "description", "pattern": "^(a+)+$"}


def test_a_backtracking_pattern_is_evaluated_in_linear_time():
    rules = ReviewRules.from_dict({"flag_patterns": [EVIL], "fund_org_patterns": ["(x+x+)+y"]})
    evaluator = Evaluator(rules, compile_pattern)
    rows = [ChargeFacts("pi@x.edu", "p", "x" * 40, description="a" * n + "!") for n in (28, 32, 36, 5000)]
    start = time.monotonic()
    flags = [evaluator.facts_flags(r) for r in rows]
    took = time.monotonic() - start
    assert took < 0.5, f"{took:.2f} s"  # Python's re needs minutes for the 36 a's
    assert all("pattern:evil" not in f and "fund_org_unknown" in f for f in flags)
    matching = ChargeFacts("pi@x.edu", "p", "xxy", description="AAAA")
    assert evaluator.facts_flags(matching) == ["pattern:evil"]  # case-insensitive, fund matched whole


@pytest.mark.parametrize("pattern", [r"(a)\1", r"foo(?=bar)", r"(?<!x)y"])
def test_patterns_re2_cannot_run_are_refused_with_the_reason(ctx, pattern):
    with pytest.raises(InvalidInput, match="cannot be used .*RE2"):
        review.set_rules(ctx, {"flag_patterns": [{"name": "p", "field": "sku", "pattern": pattern}]})
    with pytest.raises(InvalidInput, match="cannot be used"):
        review.set_rules(ctx, {"fund_org_patterns": [pattern]})
    assert review.current_rules(ctx) == ReviewRules()  # nothing was saved


def test_the_evil_pattern_can_be_saved_and_checked(ctx):
    rules = review.set_rules(ctx, {"flag_patterns": [EVIL]})
    assert rules.flag_patterns[0].pattern == "^(a+)+$"
