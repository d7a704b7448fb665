"""The flags set on a charge at ingest, and their reasons in words."""

from __future__ import annotations

from enum import StrEnum


class Flag(StrEnum):
    MISSING_PI = "missing_pi"
    MISSING_PROJECT = "missing_project"
    MISSING_FUND_ORG = "missing_fund_org"
    PERIOD_MISMATCH = "period_mismatch"


FLAG_REASONS = {
    Flag.MISSING_PI: "no PI email after tag mapping",
    Flag.MISSING_PROJECT: "no project after tag mapping",
    Flag.MISSING_FUND_ORG: "no fund/org after tag mapping",
    Flag.PERIOD_MISMATCH: "billing period differs from the period given at import",
}

_REQUIRED = (
    ("pi_email", Flag.MISSING_PI),
    ("project_id", Flag.MISSING_PROJECT),
    ("fund_org", Flag.MISSING_FUND_ORG),
)


def ingest_flags(attribution: dict[str, str | None], period_mismatch: bool) -> list[str]:
    flags = [flag.value for field, flag in _REQUIRED if not attribution.get(field)]
    if period_mismatch:
        flags.append(Flag.PERIOD_MISMATCH.value)
    return flags


def describe_flags(flags: str | None) -> list[str]:
    """Words for a stored flags string (comma-separated codes)."""
    if not flags:
        return []
    return [FLAG_REASONS.get(code, code) for code in flags.split(",")]
