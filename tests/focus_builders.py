"""Helpers for the core tests: build small FOCUS files, sum a file's columns
independently of the reader (csv + Decimal), and look at what was stored."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

from sqlalchemy import text

COSTS = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")
NULLS = ("", "NULL", "null", "Null")

HEADER = [
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "BillingCurrency",
    "ChargeCategory",
    "ServiceName",
    "ResourceId",
    "ResourceName",
    "Tags",
]

DEFAULT_TAGS = {"pi_email": "pi@example.edu", "project_id": "proj-1", "fund_org": "FUND-1"}


def period_bounds(period: str) -> tuple[str, str]:
    year, month = map(int, period.split("-"))
    ny, nm = year + month // 12, month % 12 + 1
    return f"{year:04d}-{month:02d}-01T00:00:00Z", f"{ny:04d}-{nm:02d}-01T00:00:00Z"


def row(
    period: str = "2025-01", *, cost: str = "10.00", tags: dict | str | None = DEFAULT_TAGS, **over
) -> dict:
    """One valid FOCUS row (as text cells); keyword arguments override columns."""
    start, end = period_bounds(period)
    r = {
        "BillingPeriodStart": start,
        "BillingPeriodEnd": end,
        "ChargePeriodStart": start.replace("-01T", "-05T"),
        "ChargePeriodEnd": start.replace("-01T", "-06T"),
        "BilledCost": cost,
        "EffectiveCost": cost,
        "ListCost": cost,
        "ContractedCost": cost,
        "BillingCurrency": "USD",
        "ChargeCategory": "Usage",
        "ServiceName": "Compute",
        "ResourceId": "r-1",
        "ResourceName": "node-1",
        "Tags": "" if tags is None else (tags if isinstance(tags, str) else json.dumps(tags)),
    }
    r.update(over)
    return r


def csv_text(rows: list[dict | list], header: list[str] | None = None, *, newline: str = "\n") -> str:
    """CSV text of ``rows`` (dicts keyed by header names, or lists of cells)."""
    header = header or (list(rows[0]) if rows and isinstance(rows[0], dict) else HEADER)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=newline)
    w.writerow(header)
    for r in rows:
        w.writerow([r.get(h, "") for h in header] if isinstance(r, dict) else r)
    return buf.getvalue()


def write_csv(
    path: Path,
    rows: list[dict | list],
    header: list[str] | None = None,
    *,
    newline: str = "\n",
    bom: bool = False,
) -> Path:
    data = csv_text(rows, header, newline=newline).encode("utf-8")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def file_sums(
    path: Path, columns=COSTS, *, skip_lines: set[int] | frozenset = frozenset()
) -> dict[str, Decimal]:
    """Exact Decimal sum of each column as written in a CSV file (header matched
    case-insensitively, nulls ignored); records starting on ``skip_lines`` left out."""
    out = {c: Decimal(0) for c in columns}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = [h.strip().lower() for h in next(reader)]
        renames = {"amortizedcost": "effectivecost"}
        header = [renames.get(h, h) for h in header]
        start = reader.line_num + 1
        for cells in reader:
            if cells and start not in skip_lines:
                for c in columns:
                    if c.lower() in header:
                        v = cells[header.index(c.lower())].strip()
                        if v not in NULLS:
                            out[c] += Decimal(v)
            start = reader.line_num + 1
    return out


def record_count(path: Path) -> int:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return sum(1 for cells in csv.reader(fh) if cells) - 1


def stored_totals(ctx, import_id: int) -> dict[str, Decimal]:
    """Per cost column (one currency) the stored total recorded on an import."""
    from openchargeback.services.ingest.history import get_import

    return {col: stored for _cur, col, _file, stored in get_import(ctx, import_id).totals}


def all_charges(ctx, **filters) -> list:
    from openchargeback.services.charges import list_charges

    out, after = [], None
    while True:
        page = list_charges(ctx, after_id=after, limit=1000, **filters)
        out.extend(page.charges)
        if page.next_after is None:
            return out
        after = page.next_after


def count_rows(ctx, table: str) -> int:
    with ctx.engine.connect() as conn:
        return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def money_sum_sql(ctx, column: str) -> Decimal:
    """Exact SUM of a stored money column straight from SQL (picounits, no split)."""
    with ctx.engine.connect() as conn:
        values = conn.execute(text(f"SELECT {column} FROM charges WHERE {column} IS NOT NULL")).scalars()
        return sum((Decimal(int(v)) for v in values), Decimal(0)).scaleb(-12)
