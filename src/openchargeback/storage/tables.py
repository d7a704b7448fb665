"""SQLAlchemy Core tables. The Alembic migrations create exactly these (a test
compares them)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
    text,
)
from sqlalchemy.types import TypeEngine

from openchargeback.storage.types import ExactDecimal, Money, UTCDateTime

metadata = MetaData()

periods = Table(
    "periods",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(7), nullable=False, unique=True),  # YYYY-MM
    Column("starts_at", UTCDateTime, nullable=False),
    Column("ends_at", UTCDateTime, nullable=False),  # exclusive
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

period_transitions = Table(
    "period_transitions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("period_id", ForeignKey("periods.id"), nullable=False, index=True),
    Column("from_status", String(16)),
    Column("to_status", String(16), nullable=False),
    Column("reason", Text),
    Column("actor", String(200), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

sources = Table(
    "sources",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),  # stored lower-case
    Column("display_name", String(200), nullable=False),
    Column("file_pattern", String(200)),
    Column("cost_basis", String(16), nullable=False),  # billed | effective
    Column("gl_fund_org", String(100)),
    Column("gl_account", String(100)),
    Column("tag_mapping", Text),  # JSON: per-source overrides
    Column("from_config", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

imports = Table(
    "imports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("source_id", ForeignKey("sources.id"), nullable=False, index=True),
    Column("filename", String(500), nullable=False),
    Column("sha256", String(64), nullable=False, index=True),
    Column("size_bytes", BigInteger, nullable=False),
    Column("format", String(16), nullable=False),
    Column("focus_version", String(8), nullable=False),
    Column("status", String(16), nullable=False),  # loading | complete | replaced
    Column("requested_period", String(7)),
    Column("periods", Text, nullable=False),  # comma-separated YYYY-MM
    Column("row_count", Integer, nullable=False),
    Column("skipped_count", Integer, nullable=False),
    Column("rounded_values", Integer, nullable=False),
    Column("flagged_count", Integer, nullable=False),
    Column("columns", Text, nullable=False),  # JSON: canonical -> header, and unmapped
    Column("actor", String(200), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("replaced_by_id", ForeignKey("imports.id")),
    Column("appended", Boolean, nullable=False, server_default=false()),  # --append
    Column("source_ok", Boolean, nullable=False, server_default=false()),  # --source-ok
    Column("parties", Text),  # JSON: the file's providers and billing accounts (source guard)
    # One active import per file (a constraint: two imports of one file racing cannot both
    # commit). Rows are written as 'loading' and become 'complete' at the end.
    Index(
        "ux_imports_active_sha256",
        "sha256",
        unique=True,
        sqlite_where=text("status = 'complete'"),
        postgresql_where=text("status = 'complete'"),
    ),
)

import_totals = Table(
    "import_totals",
    metadata,
    Column("import_id", ForeignKey("imports.id"), primary_key=True),
    Column("currency", String(16), primary_key=True),
    Column("cost_column", String(32), primary_key=True),
    Column("file_total", ExactDecimal, nullable=False),  # exact sum as written in the file
    Column("stored_total", ExactDecimal, nullable=False),  # sum of what was stored (exact)
)

import_problems = Table(
    "import_problems",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("import_id", ForeignKey("imports.id"), nullable=False, index=True),
    Column("line", Integer, nullable=False),
    Column("column_name", String(200)),
    Column("value", Text),
    Column("expected", Text, nullable=False),
)

import_replacements = Table(
    "import_replacements",
    metadata,
    Column("import_id", ForeignKey("imports.id"), primary_key=True),
    Column("replaced_import_id", ForeignKey("imports.id"), primary_key=True),
    Column("period_id", ForeignKey("periods.id"), primary_key=True),
    Column("rows_removed", Integer, nullable=False),
)

# The descriptive FOCUS columns, stored once per distinct combination.
charge_details = Table(
    "charge_details",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(40), nullable=False, unique=True),  # sha1 of the values
    Column("billing_period_start", UTCDateTime, nullable=False),
    Column("billing_period_end", UTCDateTime, nullable=False),
    Column("billing_currency", String(16), nullable=False),
    Column("charge_category", String(64)),
    Column("charge_class", String(64)),
    Column("charge_frequency", String(64)),
    Column("charge_description", Text),
    Column("service_name", String(300)),
    Column("service_category", String(200)),
    Column("service_subcategory", String(200)),
    Column("provider_name", String(300)),
    Column("publisher_name", String(300)),
    Column("service_provider_name", String(300)),
    Column("invoice_issuer_name", String(300)),
    Column("invoice_id", String(300)),
    Column("billing_account_id", String(300)),
    Column("billing_account_name", String(300)),
    Column("sub_account_id", String(300)),
    Column("sub_account_name", String(300)),
    Column("resource_type", String(300)),
    Column("sku_id", String(300)),
    Column("sku_price_id", String(300)),
    Column("sku_meter", String(300)),
    Column("pricing_category", String(64)),
    Column("pricing_unit", String(200)),
    Column("consumed_unit", String(200)),
    Column("commitment_discount_id", String(500)),
    Column("commitment_discount_name", String(300)),
    Column("commitment_discount_status", String(64)),
    Column("commitment_discount_type", String(200)),
    Column("commitment_discount_category", String(64)),
    Column("region_id", String(200)),
    Column("region_name", String(200)),
    Column("availability_zone", String(200)),
)

tag_sets = Table(
    "tag_sets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(40), nullable=False, unique=True),  # sha1 of the raw text
    Column("tags", Text, nullable=False),  # the Tags JSON exactly as in the file
)


def _attribution(length: int) -> TypeEngine[str]:
    return String(length).with_variant(Text(), "postgresql")


charges = Table(
    "charges",
    metadata,
    Column("id", Integer, primary_key=True),
    # Only the ingest writes these five, from rows it reads or creates in the same
    # transaction (`db check` verifies them). Foreign keys on them would be checked row by
    # row and cost more than half of a PostgreSQL bulk load (26 s instead of 12 s per
    # million rows; import_id's alone took 6 s of a 300,000-row import, migration 0019).
    Column("import_id", Integer, nullable=False),  # imports.id
    Column("line", Integer, nullable=False),
    Column("period_id", Integer, nullable=False),  # periods.id
    Column("source_id", Integer, nullable=False),  # sources.id
    Column("detail_id", Integer, nullable=False),  # charge_details.id
    Column("tag_set_id", Integer),  # tag_sets.id
    Column("billing_currency", String(16), nullable=False),
    Column("charge_period_start", UTCDateTime, nullable=False),
    Column("charge_period_end", UTCDateTime, nullable=False),
    Column("billed_cost", Money, nullable=False),
    Column("effective_cost", Money),
    Column("list_cost", Money),
    Column("contracted_cost", Money),
    Column("pricing_quantity", ExactDecimal),
    Column("consumed_quantity", ExactDecimal),
    Column("list_unit_price", ExactDecimal),
    Column("contracted_unit_price", ExactDecimal),
    Column("resource_id", Text),
    Column("resource_name", Text),
    # Attribution comes from tag values of any length (AWS and Azure allow 256 characters):
    # unbounded TEXT on PostgreSQL; SQLite never enforces a VARCHAR length.
    Column("pi_email", _attribution(320)),
    Column("project_id", _attribution(200)),
    Column("fund_org", _attribution(200)),
    Column("cost_center", _attribution(200)),
    Column("account_code", _attribution(200)),
    Column("reference_1", _attribution(300)),
    Column("reference_2", _attribution(300)),
    Column("flags", String(300)),  # comma-separated flag codes; NULL when none
    Column("extra", Text),  # JSON: x_ and unmodelled columns
    Column("attribution_rule_id", Integer),  # attribution_rules.id that set PI/project/fund
    # Review: NULL (no decision: pending when flagged), approved or rejected.
    Column("review", String(16)),
    Column("review_note", Text),
    Column("reviewed_by", String(200)),
    Column("reviewed_at", UTCDateTime),
    # The file order (period, source, import, id), appended to in key order by an import:
    # filters by period and source, replacement, control totals and every page of charges
    # use it. A period's charges of one project or PI have an index in the same order (the
    # charge browser's and the API's filters, a PI's scope), so their pages are index
    # range scans too. More indexes cost ingest time (about 2 s per million rows each on
    # SQLite) and are added with the queries that need them.
    Index("ix_charges_period_source_import", "period_id", "source_id", "import_id", "id"),
    Index("ix_charges_period_project", "period_id", "project_id", "source_id", "import_id", "id"),
    Index("ix_charges_period_pi", "period_id", "pi_email", "source_id", "import_id", "id"),
)

# Storage order of the per-row charge columns written by the bulk insert.
CHARGE_INSERT_COLUMNS = tuple(
    c.name
    for c in charges.columns
    if c.name not in ("id", "review", "review_note", "reviewed_by", "reviewed_at")
)

__all__ = [
    "charge_details",
    "charges",
    "import_problems",
    "import_replacements",
    "import_totals",
    "imports",
    "metadata",
    "period_transitions",
    "periods",
    "sources",
    "tag_sets",
]
