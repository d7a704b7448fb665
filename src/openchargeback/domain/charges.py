"""Flags of a charge in words, and the attribution flags without configured rules
(what `validate` reports before any database is involved)."""

from __future__ import annotations

import json
from typing import Any

from openchargeback.domain.review import ChargeFacts, Evaluator, ReviewRules, describe

_PLAIN = Evaluator(ReviewRules())


def ingest_flags(attribution: dict[str, str | None], period_mismatch: bool) -> list[str]:
    flags = _PLAIN.facts_flags(
        ChargeFacts(attribution.get("pi_email"), attribution.get("project_id"), attribution.get("fund_org"))
    )
    return flags + (["period_mismatch"] if period_mismatch else [])


def describe_flags(flags: str | None) -> list[str]:
    """Words for a stored flags string (comma-separated codes)."""
    return [describe(code) for code in flags.split(",")] if flags else []


def tags_dict(text: str | None) -> dict[str, Any] | None:
    """A charge's stored tags (JSON text) as a dict."""
    return json.loads(text) if text else None
