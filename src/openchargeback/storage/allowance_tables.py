"""The allowance ledger: what each conversion consumed of the rate table's allowances
and capped subsidies, so that running the same conversion twice never consumes them
twice and fiscal-year caps see every earlier period.

A *run* is one conversion's record for one period (rate table, converter, period,
input SHA-256). Exactly one run per (rate table, converter, period) is current: a
newer input supersedes it (``is_current`` NULL, ``superseded_by_id`` set; it is kept
as history). NULLs never collide in the unique key, so superseded runs can pile up.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, UniqueConstraint

from openchargeback.storage.tables import metadata
from openchargeback.storage.types import ExactDecimal, Money, UTCDateTime

allowance_runs = Table(
    "allowance_runs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("rate_table", String(200), nullable=False),
    Column("converter", String(32), nullable=False),  # slurm | storage | csv
    Column("period", String(7), nullable=False),  # YYYY-MM
    Column("fiscal_year", String(16), nullable=False),  # FY2026
    Column("input_sha256", String(64), nullable=False),
    Column("is_current", Boolean),  # true, or NULL once superseded
    Column("superseded_by_id", ForeignKey("allowance_runs.id")),
    Column("actor", String(200), nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    UniqueConstraint("rate_table", "converter", "period", "is_current", name="uq_allowance_runs_current"),
    Index("ix_allowance_runs_table_year", "rate_table", "fiscal_year"),
)

allowance_consumption = Table(
    "allowance_consumption",
    metadata,
    Column("run_id", ForeignKey("allowance_runs.id"), primary_key=True),
    Column("subsidy", String(200), primary_key=True),
    Column("project_id", String(200), primary_key=True),
    Column("quantity", ExactDecimal, nullable=False),  # allowance quantity taken
    Column("amount", Money, nullable=False),  # subsidy money granted
)

__all__ = ["allowance_consumption", "allowance_runs"]
