"""Tables of the registry: PIs, projects, funds/orgs, fund splits, adjustments and the
budget alerts raised (one row per threshold crossed, so that each is raised once)."""

from __future__ import annotations

from sqlalchemy import Column, Date, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from openchargeback.storage.tables import metadata
from openchargeback.storage.types import ExactDecimal, Money, UTCDateTime

pis = Table(
    "pis",
    metadata,
    Column("email", String(320), primary_key=True),  # lower-case
    Column("name", String(300)),
    Column("department", String(300)),
    Column("billing_contacts", Text),  # ';'-separated emails, copied on statements
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

funds = Table(
    "funds",
    metadata,
    Column("code", String(200), primary_key=True),
    Column("description", String(500)),
    Column("valid_from", Date),  # inclusive
    Column("valid_to", Date),  # inclusive
    Column("budget", Money),
    Column("budget_per", String(16)),  # period | fiscal_year
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

projects = Table(
    "projects",
    metadata,
    Column("project_id", String(200), primary_key=True),
    Column("name", String(300)),
    Column("pi_email", ForeignKey("pis.email"), nullable=False, index=True),
    Column("status", String(16), nullable=False),  # active | inactive | closed
    Column("start_date", Date),
    Column("end_date", Date),
    Column("default_fund", ForeignKey("funds.code")),
    Column("budget", Money),
    Column("budget_per", String(16)),  # period | fiscal_year
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# A project's funds by percentage over whole periods [first_period, last_period]
# (last NULL: open-ended), optionally only for one source or one service.
fund_splits = Table(
    "fund_splits",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("project_id", ForeignKey("projects.project_id"), nullable=False),
    Column("first_period", String(7), nullable=False),  # YYYY-MM
    Column("last_period", String(7)),
    Column("scope", String(16), nullable=False),  # all | source | service
    Column("scope_value", String(300)),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_fund_splits_project", "project_id"),
)

fund_split_shares = Table(
    "fund_split_shares",
    metadata,
    Column("split_id", ForeignKey("fund_splits.id", ondelete="CASCADE"), primary_key=True),
    Column("fund_code", ForeignKey("funds.code"), primary_key=True),
    Column("percent", ExactDecimal, nullable=False),
)

# Manual lines (credits or charges) in a period, for a PI, project and/or fund.
adjustments = Table(
    "adjustments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("period_id", ForeignKey("periods.id"), nullable=False, index=True),
    Column("pi_email", String(320)),
    Column("project_id", String(200)),
    Column("fund_org", String(200)),
    Column("source_id", ForeignKey("sources.id")),
    Column("currency", String(16), nullable=False),
    Column("amount", Money, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# A budget threshold crossed: raised once per (holder, span, threshold).
budget_alerts = Table(
    "budget_alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("holder_kind", String(16), nullable=False),  # project | fund
    Column("holder", String(200), nullable=False),
    Column("span", String(16), nullable=False),  # YYYY-MM or FY2025
    Column("threshold", Integer, nullable=False),  # percent
    Column("budget", Money, nullable=False),
    Column("spend", Money, nullable=False),
    Column("raised_at", UTCDateTime, nullable=False),
    Column("recipients", Text),  # ';'-separated, when email is enabled
    Column("notified_at", UTCDateTime),  # when the email went out
    UniqueConstraint("holder_kind", "holder", "span", "threshold", name="uq_budget_alerts_once"),
)

__all__ = ["adjustments", "budget_alerts", "fund_split_shares", "fund_splits", "funds", "pis", "projects"]
