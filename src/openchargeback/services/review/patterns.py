"""Review rule patterns, compiled by RE2: matching takes time linear in the text, so a
pattern such as ``^(a+)+$`` cannot hold a server for seconds (Python's ``re``
backtracks). RE2 has no backreferences or lookaround; a rule that uses them is refused
when it is set, with the reason."""

from __future__ import annotations

from functools import lru_cache

import re2

from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.review import Regex, ReviewRules

MAX_MEMORY = 8 << 20  # bytes of RE2's automaton for one pattern


def _options() -> re2.Options:
    o = re2.Options()
    o.case_sensitive = False
    o.log_errors = False  # the refusal says why; nothing on standard error
    o.max_mem = MAX_MEMORY
    return o


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> Regex:
    """The pattern compiled case-insensitively by RE2; InvalidInput when RE2 cannot run it."""
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        why = exc.args[0] if exc.args else exc
        why = why.decode(errors="replace") if isinstance(why, bytes) else str(why)
        raise InvalidInput(
            f"review rules: pattern {pattern!r} cannot be used ({why}); patterns run on RE2, "
            f"which has no backreferences (\\1), lookahead or lookbehind ((?=, (?!, (?<=)"
        ) from None


def check(rules: ReviewRules) -> ReviewRules:
    """The rules, once every pattern compiles with RE2."""
    for p in (*rules.fund_org_patterns, *(fp.pattern for fp in rules.flag_patterns)):
        compile_pattern(p)
    return rules
