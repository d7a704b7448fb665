"""Review rules: which charges must be looked at before they are billed, and why.

Rules are data (edited by admins, stored in the database). :class:`Evaluator` gives
the flag codes of a charge; :func:`describe` turns codes into words. Flag codes are
stable identifiers: ``missing_pi``, ``missing_project``, ``missing_fund_org``,
``pi_not_email``, ``fund_org_unknown``, ``project_unknown``, ``fund_unknown``,
``fund_expired`` (the last three set at ingest from the registry), ``pattern:<name>``,
``over_max``, ``large_credit``, ``growth`` and ``period_mismatch`` (set at ingest).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from openchargeback.domain.addresses import is_address
from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.money import money, to_str

PATTERN_FIELDS = ("service", "resource_id", "resource_name", "sku", "description", "any_tag")
_NAME = re.compile(r"^[a-z0-9_-]{1,40}$")

# The order flags are stored and shown in.
ORDER = (
    "missing_pi",
    "missing_project",
    "missing_fund_org",
    "pi_not_email",
    "fund_org_unknown",
    "project_unknown",
    "fund_unknown",
    "fund_expired",
    "period_mismatch",
    "over_max",
    "large_credit",
    "growth",
)


class Regex(Protocol):
    """A compiled case-insensitive pattern (RE2's or ``re``'s)."""

    def search(self, text: str) -> object: ...

    def fullmatch(self, text: str) -> object: ...


# Compiles a pattern case-insensitively; raises InvalidInput for one it cannot run.
RegexCompiler = Callable[[str], Regex]


@dataclass(frozen=True)
class FlagPattern:
    name: str
    field: str  # one of PATTERN_FIELDS, or "tag:<key>"
    pattern: str
    reason: str = ""


@dataclass(frozen=True)
class ReviewRules:
    fund_org_patterns: tuple[str, ...] = ()
    flag_patterns: tuple[FlagPattern, ...] = ()
    max_charge: Decimal | None = None  # a single charge above this
    large_credit: Decimal | None = None  # a negative charge whose size is above this
    growth_percent: Decimal | None = None  # a project's period total grew by more than this
    growth_amount: Decimal | None = None  # ... and by more than this amount
    _compiled: tuple[object, ...] = field(default=(), compare=False, repr=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ReviewRules:
        """Validate rules given as plain data (YAML, JSON, a web form)."""
        data = dict(data or {})
        unknown = set(data) - {
            "fund_org_patterns",
            "flag_patterns",
            "max_charge",
            "large_credit",
            "growth_percent",
            "growth_amount",
        }
        if unknown:
            raise InvalidInput(f"review rules: unknown key(s) {', '.join(sorted(unknown))}")
        fund = tuple(str(p) for p in data.get("fund_org_patterns") or ())
        for p in fund:
            _check_regex(p, "fund_org_patterns")
        patterns = []
        for i, item in enumerate(data.get("flag_patterns") or ()):
            if not isinstance(item, dict) or not {"name", "field", "pattern"} <= set(item):
                raise InvalidInput(f"review rules: flag_patterns[{i}] needs name, field and pattern")
            fp = FlagPattern(
                str(item["name"]), str(item["field"]), str(item["pattern"]), str(item.get("reason") or "")
            )
            if not _NAME.match(fp.name):
                raise InvalidInput(f"review rules: flag_patterns[{i}].name {fp.name!r}: use a-z, 0-9, _ or -")
            if fp.field not in PATTERN_FIELDS and not fp.field.startswith("tag:"):
                raise InvalidInput(
                    f"review rules: flag_patterns[{i}].field {fp.field!r}: expected one of "
                    f"{', '.join(PATTERN_FIELDS)} or tag:<key>"
                )
            _check_regex(fp.pattern, f"flag_patterns[{i}].pattern")
            patterns.append(fp)
        amounts: dict[str, Decimal] = {}
        for key in ("max_charge", "large_credit", "growth_percent", "growth_amount"):
            value = data.get(key)
            if value is not None:
                try:
                    amounts[key] = money(str(value))
                except ValueError:
                    raise InvalidInput(f"review rules: {key} {value!r} is not a number") from None
                if amounts[key] < 0:
                    raise InvalidInput(f"review rules: {key} must not be negative")
        return cls(
            fund,
            tuple(patterns),
            max_charge=amounts.get("max_charge"),
            large_credit=amounts.get("large_credit"),
            growth_percent=amounts.get("growth_percent"),
            growth_amount=amounts.get("growth_amount"),
        )

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "fund_org_patterns": list(self.fund_org_patterns),
            "flag_patterns": [
                {"name": p.name, "field": p.field, "pattern": p.pattern, "reason": p.reason}
                for p in self.flag_patterns
            ],
        }
        for key in ("max_charge", "large_credit", "growth_percent", "growth_amount"):
            value = getattr(self, key)
            if value is not None:
                out[key] = to_str(value)
        return out

    def compiled(self, compile: RegexCompiler) -> tuple[list[Regex], list[tuple[FlagPattern, Regex]]]:
        fund = [compile(p) for p in self.fund_org_patterns]
        return fund, [(p, compile(p.pattern)) for p in self.flag_patterns]


def _check_regex(pattern: str, where: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise InvalidInput(f"review rules: {where}: {pattern!r} is not a valid pattern ({exc})") from None


@dataclass(frozen=True)
class ChargeFacts:
    """What the rules look at, for one charge or one group of identical ones."""

    pi_email: str | None
    project_id: str | None
    fund_org: str | None
    service: str | None = None
    resource_id: str | None = None
    resource_name: str | None = None
    sku: str | None = None
    description: str | None = None
    tags: Mapping[str, object] | None = None


class Evaluator:
    """Rules compiled once, applied to many charges. Their patterns are compiled by
    ``compile`` (the services pass RE2's, whose matching time is linear in the text);
    rules without patterns need none."""

    def __init__(self, rules: ReviewRules, compile: RegexCompiler | None = None):
        self.rules = rules
        self.fund: list[Regex]
        self.patterns: list[tuple[FlagPattern, Regex]]
        if compile is None:
            if rules.fund_org_patterns or rules.flag_patterns:
                raise ValueError("review rules with patterns need a regex compiler")
            self.fund, self.patterns = [], []
        else:
            self.fund, self.patterns = rules.compiled(compile)

    def facts_flags(self, f: ChargeFacts) -> list[str]:
        """Flags from attribution and descriptive fields (not amounts)."""
        return self.attribution_flags(f) + self.pattern_flags(f)

    def attribution_flags(self, f: ChargeFacts) -> list[str]:
        """Flags of the PI, project and fund alone."""
        flags = []
        if not f.pi_email:
            flags.append("missing_pi")
        if not f.project_id:
            flags.append("missing_project")
        if not f.fund_org:
            flags.append("missing_fund_org")
        if f.pi_email and not is_address(f.pi_email):
            flags.append("pi_not_email")
        if f.fund_org and self.fund and not any(p.fullmatch(f.fund_org) for p in self.fund):
            flags.append("fund_org_unknown")
        return flags

    def pattern_flags(self, f: ChargeFacts, fields: Container[str] | None = None) -> list[str]:
        """Flags of the flag patterns; ``fields``: only the patterns on those fields (tag
        patterns are on the field ``tags``), so that an import evaluates each distinct value once."""
        flags = []
        for fp, rx in self.patterns:
            subject = "tags" if fp.field == "any_tag" or fp.field.startswith("tag:") else fp.field
            if fields is not None and subject not in fields:
                continue
            if any(v is not None and rx.search(str(v)) for v in _values(fp.field, f)):
                flags.append(f"pattern:{fp.name}")
        return flags

    def amount_flags(self, billed: Decimal) -> list[str]:
        flags = []
        r = self.rules
        if r.max_charge is not None and billed > r.max_charge:
            flags.append("over_max")
        if r.large_credit is not None and billed < 0 and -billed > r.large_credit:
            flags.append("large_credit")
        return flags

    def grew(self, previous: Decimal, current: Decimal) -> bool:
        r = self.rules
        if r.growth_percent is None and r.growth_amount is None:
            return False
        delta = current - previous
        if r.growth_amount is not None and delta <= r.growth_amount:
            return False
        if r.growth_percent is not None:
            if previous <= 0:
                return delta > 0
            return delta * 100 > previous * r.growth_percent
        return True


def _values(field: str, f: ChargeFacts) -> tuple[object, ...]:
    if field == "service":
        return (f.service,)
    if field == "resource_id":
        return (f.resource_id,)
    if field == "resource_name":
        return (f.resource_name,)
    if field == "sku":
        return (f.sku,)
    if field == "description":
        return (f.description,)
    tags = {str(k).strip().lower(): v for k, v in (f.tags or {}).items()}
    if field == "any_tag":
        return tuple(f"{k}={v}" for k, v in tags.items())
    return (tags.get(field[4:].strip().lower()),)


def join_flags(flags: Iterable[str]) -> str | None:
    """Stored form: codes in a stable order, comma-separated; None when there are none."""
    unique = sorted(set(flags), key=lambda c: (ORDER.index(c) if c in ORDER else len(ORDER), c))
    return ",".join(unique) or None


def describe(code: str, rules: ReviewRules | None = None) -> str:
    """A flag code in words."""
    words = {
        "missing_pi": "no PI email after tag mapping",
        "missing_project": "no project after tag mapping",
        "missing_fund_org": "no fund/org after tag mapping",
        "pi_not_email": (
            "the PI is not exactly one plain email address"
            " (a list, a display name or a control character cannot be a recipient)"
        ),
        "fund_org_unknown": "the fund/org matches none of the configured patterns",
        "project_unknown": "the project is not in the registry",
        "fund_unknown": "the fund/org is not in the registry",
        "fund_expired": "the fund/org is not valid at the charge date (expired or not yet started)",
        "period_mismatch": "billing period differs from the period given at import",
        "over_max": "a single charge above the configured maximum",
        "large_credit": "a credit or refund above the configured amount",
        "growth": "the project's period total grew beyond the configured limit",
    }
    if code in words:
        text = words[code]
        if rules is not None:
            if code == "over_max" and rules.max_charge is not None:
                text += f" ({to_str(rules.max_charge)})"
            if code == "large_credit" and rules.large_credit is not None:
                text += f" ({to_str(rules.large_credit)})"
        return text
    if code.startswith("pattern:"):
        name = code[8:]
        for fp in rules.flag_patterns if rules else ():
            if fp.name == name:
                return fp.reason or f"{fp.field} matches {fp.pattern!r}"
        return f"matches the review pattern {name!r}"
    return code
