"""Storage usage reports (CSV or JSON) to TB-month / GB-month usage lines.

A record names a path or share, an owner or project, the bytes used and, optionally,
a snapshot date and a tier. Header names are matched case-insensitively:

    path:  path, share, filesystem, fileset, directory
    owner: owner, project, group, user, account
    bytes: bytes, used_bytes, bytes_used, usage_bytes, size_bytes
    date:  date, snapshot_date, day            (optional)
    tier:  tier, class, pool                   (optional; default ``standard``)

JSON is a list of such objects, or an object holding one such list. Without dates
the report is one snapshot for the period given. With dates, each month's usage of
a path is the average over that month's snapshot days in the report (a path absent
on a snapshot day counts 0 that day), times one month. The quantity's unit is the
unit of the tier's rate: tb-month (10^12 bytes), tib-month (2^40), gb-month (10^9)
or gib-month (2^30).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from openchargeback.convert.attribution import AttributionMap
from openchargeback.convert.focus_writer import LineInfo, line_info
from openchargeback.convert.usage import ConversionReport, Usage, quantity
from openchargeback.domain.errors import InvalidInput
from openchargeback.domain.periods import Period
from openchargeback.domain.pricing import UsageLine
from openchargeback.domain.rates import RateTable

ALIASES = {
    "path": ("path", "share", "filesystem", "fileset", "directory"),
    "owner": ("owner", "project", "group", "user", "account"),
    "bytes": ("bytes", "used_bytes", "bytes_used", "usage_bytes", "size_bytes"),
    "date": ("date", "snapshot_date", "day"),
    "tier": ("tier", "class", "pool"),
}
SAME_SNAPSHOT = "snapshot listed twice (same date, path, owner, tier and bytes): counted once"
UNIT_BYTES = {"tb-month": 10**12, "tib-month": 2**40, "gb-month": 10**9, "gib-month": 2**30}


def _records(path: Path, report: ConversionReport):
    """(line or index, {field: text}) for each record."""
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"{path.name}: not a JSON storage report: {exc}") from None
        if isinstance(data, dict):
            lists = [v for v in data.values() if isinstance(v, list)]
            if len(lists) != 1:
                raise InvalidInput(
                    f"{path.name}: expected a list of records, or an object holding exactly one list"
                )
            data = lists[0]
        if not isinstance(data, list):
            raise InvalidInput(f"{path.name}: expected a list of records")
        for i, obj in enumerate(data, start=1):
            if not isinstance(obj, dict):
                report.records += 1
                report.problems.append(f"{path.name}: record {i}: expected an object")
                continue
            yield f"{path.name}: record {i}", _fields({str(k): v for k, v in obj.items()})
        return
    cut = _ends_inside_a_line(path)
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames:
            raise InvalidInput(f"{path.name}: empty storage report (expected a header line)")
        rows = iter(reader)
        row = next(rows, None)
        while row is not None:
            where = f"{path.name}:{reader.line_num}"
            following = next(rows, None)
            if following is None and cut:
                report.records += 1
                report.problems.append(
                    f"{where}: the file ends inside this record (no line end after it): it was "
                    f"cut short, and its last field may be incomplete; write the report again"
                )
                return
            yield where, _fields(row)
            row = following


def _ends_inside_a_line(path: Path) -> bool:
    """True when a non-empty file's last byte is not a line end."""
    with open(path, "rb") as f:
        if f.seek(0, 2) == 0:
            return False
        f.seek(-1, 2)
        return f.read(1) not in (b"\n", b"\r")


def _fields(row: dict) -> dict[str, str | None]:
    lower = {k.strip().lower(): v for k, v in row.items() if k is not None}
    out: dict[str, str | None] = {}
    for name, aliases in ALIASES.items():
        value = next((lower[a] for a in aliases if a in lower and lower[a] not in (None, "")), None)
        out[name] = None if value is None else str(value).strip()
    return out


def _day(text: str) -> date:
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        raise ValueError(f"column date: {text!r}: expected a date such as 2025-01-31") from None


def _bytes(text: str | None) -> int:
    if text is None:
        raise ValueError("column bytes: no value: expected a whole number of bytes")
    try:
        n = int(text)
    except ValueError:
        raise ValueError(f"column bytes: {text!r}: expected a whole number of bytes, such as 1200") from None
    if n < 0:
        raise ValueError(f"column bytes: {text!r}: expected a number of bytes of at least 0")
    return n


def convert_storage(
    path: str | Path | Sequence[str | Path],
    *,
    table: RateTable,
    amap: AttributionMap,
    period: Period | None = None,
    service: str = "storage",
    default_tier: str = "standard",
    skip_invalid: bool = False,
) -> Usage:
    """Usage lines of one or more reports, read as one set of snapshots: a snapshot is
    (date, path, owner, tier); the same snapshot in two records (a cron job that ran
    twice, overlapping reports) counts once, and two different byte counts for it are a
    problem naming both records."""
    paths = [Path(path)] if isinstance(path, str | Path) else [Path(x) for x in path]
    for p in paths:
        if not p.is_file():
            raise InvalidInput(f"storage report {p}: no such file")
    report = ConversionReport("storage", ", ".join(p.name for p in paths))
    # (period, path, owner, tier) -> bytes summed over snapshot days; period -> days
    sums: dict[tuple[Period, str, str, str], int] = {}
    days: dict[Period, set[date | None]] = {}
    seen: dict[tuple[date | None, str, str, str], tuple[int, str]] = {}  # snapshot -> (bytes, where)
    for p in paths:
        for where, rec in _records(p, report):
            report.records += 1
            try:
                if rec["path"] is None and rec["owner"] is None:
                    raise ValueError("neither a path nor an owner/project: expected one of them")
                n = _bytes(rec["bytes"])
                day = _day(rec["date"]) if rec["date"] else None
            except ValueError as exc:
                report.problems.append(f"{where}: {exc}")
                continue
            if day is None:
                if period is None:
                    raise InvalidInput(
                        f"{p.name}: the report has no dates; give the period it is for (--period YYYY-MM)"
                    )
                rec_period = period
            else:
                rec_period = Period(day.year, day.month)
                if period is not None and rec_period != period:
                    report.skip("snapshot outside the period")
                    continue
            spath, owner, tier = rec["path"] or "", rec["owner"] or "", rec["tier"] or default_tier
            snap = (day, spath, owner, tier)
            earlier = seen.get(snap)
            if earlier is not None:
                if earlier[0] == n:
                    report.skip(SAME_SNAPSHOT)
                else:
                    report.problems.append(
                        f"{where}: {spath or owner} ({tier}) on {day or 'the undated snapshot'}: "
                        f"{n} bytes, but {earlier[1]} gives {earlier[0]} bytes for the same snapshot; "
                        f"keep one of them"
                    )
                continue
            seen[snap] = (n, where)
            key = (rec_period, spath, owner, tier)
            days.setdefault(rec_period, set()).add(day)
            sums[key] = sums.get(key, 0) + n
            report.used += 1
    report.refuse_if_problems(skip_invalid)
    lines: list[UsageLine] = []
    for (per, spath, owner, tier), total in sums.items():
        rate = table.find(service, "storage", {"tier": tier}, per.start.date())
        unit_bytes = UNIT_BYTES.get(rate.unit)
        if unit_bytes is None:
            raise InvalidInput(
                f"rate table {table.name!r}: {rate.label} prices storage per "
                f"{rate.unit}; use tb-month, tib-month, gb-month or gib-month"
            )
        n_days = len(days[per])
        q = quantity(total, n_days * unit_bytes)
        if not q:
            report.skip("zero usage")
            continue
        r = amap.resolve(("path", spath or None), ("project", owner or None), ("user", owner or None))
        desc = f"{tier} storage" + (f", average of {n_days} snapshot(s)" if None not in days[per] else "")
        tags = tuple((k, v) for k, v in (("path", spath), ("owner", owner), ("tier", tier)) if v)
        info = LineInfo(
            sub_account=owner or spath or None,
            resource_id=spath or owner,
            resource_name=spath or owner,
            resource_type="Storage allocation",
            description=desc,
            attribution=r.entry,
            tags=tags,
            unmapped=r.missing,
        )
        lines.append(
            UsageLine(
                per, service, "storage", q, tier=tier, account=owner or None, project=r.project, ref=info
            )
        )
        if r.missing:
            report.unmapped[r.missing] = report.unmapped.get(r.missing, 0) + 1
    for per, ds in days.items():
        if None in ds and len(ds) > 1:
            report.notes.append(
                f"{per}: records with and without dates are mixed; undated ones "
                f"count as one more snapshot day"
            )
    lines.sort(key=lambda u: (u.period, u.project or "", line_info(u).resource_id or "", u.tier or ""))
    return Usage(lines, report, inputs=tuple(str(p) for p in paths))
