"""Value normalisation as real exports write them (FOCUS.md, "Values as real exports
write them"). Each parser raises ValueError with the expectation in words."""

from __future__ import annotations

import calendar
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from openchargeback.domain.money import MoneyError, is_exact_at_scale, money

_NULLS = frozenset({"", "null", "NULL", "Null"})
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})$")
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Years a billing date can have: 9999 has no next month to end a period, and dates
# near year 1 overflow when moved to UTC.
_YEARS = range(1900, 9999)
_OUT_OF_RANGE = "a date between the years 1900 and 9998, such as 2025-01-01T00:00:00Z"


def is_null(value: str) -> bool:
    return value in _NULLS or value.strip().lower() == "null"


def parse_datetime(text: str) -> tuple[datetime, bool]:
    """Aware UTC datetime and whether the text was a bare date."""
    s = text.strip()
    if s.endswith(" UTC"):  # BigQuery's CSV export: "2026-01-01 00:00:00 UTC"
        s = s[:-4] + "+00:00"
    m = _US_DATE.match(s)
    if m:
        month, day, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if year < 100:
            year += 2000
        if year not in _YEARS:
            raise ValueError(_OUT_OF_RANGE)
        try:
            return datetime(year, month, day, tzinfo=UTC), True
        except ValueError:
            raise ValueError("a date such as 2025-01-01T00:00:00Z") from None
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        raise ValueError("a date such as 2025-01-01T00:00:00Z") from None
    if dt.year not in _YEARS:
        raise ValueError(_OUT_OF_RANGE)
    date_only = bool(_DATE_ONLY.match(s))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC), date_only


def inclusive_end(dt: datetime) -> datetime:
    """A bare-date end written as the last day it covers -> the exclusive next midnight."""
    return dt + timedelta(days=1)


def is_last_day_of_month(dt: datetime) -> bool:
    return dt.day == calendar.monthrange(dt.year, dt.month)[1]


def parse_decimal(text: str) -> Decimal:
    """An exact, finite decimal written in plain ASCII (no ``_`` separators)."""
    s = text.strip()
    if "_" in s or not s.isascii():
        raise ValueError("a decimal number such as 12.34 or 1.2e-7")
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise ValueError("a decimal number such as 12.34 or 1.2e-7") from None
    if not d.is_finite():
        raise ValueError("a finite decimal number")
    return d


def parse_money(text: str) -> tuple[Decimal, bool]:
    """Amount at ledger scale and whether digits beyond the scale were rounded."""
    d = parse_decimal(text)
    try:
        return money(d), not is_exact_at_scale(d)
    except MoneyError:
        raise ValueError("an amount within ±9223372.036854775807 per charge line") from None


def parse_tags(text: str) -> dict[str, object]:
    """A JSON object of scalar values. Valueless tags are ``true``."""
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise ValueError('a JSON object such as {"project_id": "abc"}') from None
    if obj is None:
        return {}
    if not isinstance(obj, dict):
        raise ValueError('a JSON object such as {"project_id": "abc"}')
    for key, value in obj.items():
        if isinstance(value, (dict, list)):
            raise ValueError(f"a JSON object of scalar values (tag {key!r} holds a {type(value).__name__})")
        if "\x00" in key or (isinstance(value, str) and "\x00" in value):
            raise ValueError(f"tags without NUL characters (tag {key!r})")
    return obj
