"""Journal fixtures: a context with journal settings and a fixed clock, the sample data,
and a reader of written gl files. (The ``snapshot`` fixture is in tests/conftest.py.)"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from conftest import INPUTS

SAMPLE_SOURCES = ("aws", "azure", "hpc", "storage", "it_storage")
FIXED_NOW = datetime(2025, 2, 3, 14, 30, tzinfo=UTC)
RECOVERY = {
    "aws": ("RC-CLOUD-0001", "4410"),
    "azure": ("RC-CLOUD-0001", "4410"),
    "hpc": ("RC-HPC-0002", "4420"),
    "storage": ("RC-STOR-0003", "4430"),
    "it_storage": ("IT-SEC-0004", "4430"),
    "focus": ("RC-FOCUS-0009", "4490"),
}


# Debit (expense) accounts, distinct from the recovery accounts above: per source, one per
# service for storage, and the journal's default for the rest (it_storage, focus).
DEBIT_ACCOUNTS = {
    "debit_account": "7900",
    "sources": {
        "aws": {"debit_account": "7410"},
        "azure": {"debit_account": "7410"},
        "hpc": {"debit_account": "7420"},
        "storage": {"debit_account": "7430", "service_accounts": {"Research Storage - Archive": "7435"}},
    },
}


def journal_sources(**override) -> list[dict]:
    """The test sources with recovery funds and accounts (``name=None`` drops both)."""
    from conftest import DEFAULT_SOURCES

    out = []
    for s in DEFAULT_SOURCES:
        fund, account = override.get(s["name"], RECOVERY[s["name"]]) or (None, None)
        out.append({**s, "gl_fund_org": fund, "gl_account": account})
    return out


@pytest.fixture
def make_journal_ctx(make_ctx, tmp_path):
    """make_journal_ctx(url, journal={...}, sources=[...]) -> a Context writing journals
    under tmp_path/journals, with a fixed clock."""

    def make(url: str, journal: dict | None = None, sources: list[dict] | None = None, **extra):
        settings = {
            "journal": {"output_dir": str(tmp_path / "journals"), **DEBIT_ACCOUNTS, **(journal or {})},
            "sources": sources or journal_sources(),
            **extra,
        }
        ctx = make_ctx(url, **settings)
        ctx.clock = lambda: FIXED_NOW
        return ctx

    return make


def load_sample(ctx, period: str = "2025-01", sources=SAMPLE_SOURCES) -> None:
    from openchargeback.services.ingest.loading import ingest

    for s in sources:
        ingest(ctx, INPUTS / f"{s}_{period}.csv", s, period=period)


def approve_all(ctx, period: str = "2025-01") -> None:
    from openchargeback.services import review as review

    review.approve(ctx, period, review.Selection(status="pending"), note="tests")


def close(ctx, period: str = "2025-01") -> None:
    from openchargeback.services.periods import change_status

    change_status(ctx, period, "close", "tests", force=True)


def reopen(ctx, period: str = "2025-01") -> None:
    from openchargeback.services.periods import change_status

    change_status(ctx, period, "reopen", "a correction")


def read_gl(content: bytes | str) -> tuple[list[str] | None, list[dict]]:
    """(draft line or None, rows as dicts) of a gl file."""
    text = content.decode("utf-8") if isinstance(content, bytes) else content
    rows = list(csv.reader(io.StringIO(text, newline="")))
    draft = None
    if rows and rows[0] and rows[0][0].startswith("DRAFT"):
        draft, rows = rows[0], rows[1:]
    header, body = rows[0], rows[1:]
    return draft, [dict(zip(header, r, strict=True)) for r in body]


def gl_sums(rows: list[dict], by: str | None = None) -> dict:
    """(debits, credits) in total, or per value of column ``by``."""
    out: dict = {}
    for r in rows:
        k = r[by] if by else None
        d, c = out.get(k, (Decimal(0), Decimal(0)))
        out[k] = (d + Decimal(r["Debit"] or 0), c + Decimal(r["Credit"] or 0))
    return out if by else out.get(None, (Decimal(0), Decimal(0)))
