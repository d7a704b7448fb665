"""Tables of journal exports: every export of a period's journal, with the file as
written (compressed) and, for the formats made of postings, the full postings at that
time (what a later ``--delta`` export is computed against)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from openchargeback.storage.tables import metadata
from openchargeback.storage.types import UTCDateTime

journal_exports = Table(
    "journal_exports",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("period_id", ForeignKey("periods.id"), nullable=False),
    Column("sequence", Integer, nullable=False),  # running number within the period
    Column("format", String(64), nullable=False),  # standard | summary | gl | a template's name
    Column("file_name", String(300), nullable=False),
    Column("sha256", String(64), nullable=False),  # of the file as written
    Column("size_bytes", BigInteger, nullable=False),
    Column("draft", Boolean, nullable=False),
    Column("delta", Boolean, nullable=False),
    Column("basis_id", ForeignKey("journal_exports.id")),  # the export a delta is against
    Column("period_status", String(16), nullable=False),  # at export time
    Column("row_count", Integer, nullable=False),
    Column("totals", Text, nullable=False),  # JSON: currency -> {debit, credit, charged}
    Column("postings", Text),  # JSON: every posting of the full journal; NULL for standard/summary
    Column("template_hash", String(64)),  # sha256 of a user template's source
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # --again: exported for posting although an earlier export of the period was posted
    Column("again", Boolean, nullable=False, server_default=false()),
    UniqueConstraint("period_id", "sequence", name="uq_journal_exports_period_sequence"),
)

# The file, kept apart so that lists of exports stay light.
journal_documents = Table(
    "journal_documents",
    metadata,
    Column("export_id", ForeignKey("journal_exports.id"), primary_key=True),
    Column("content", LargeBinary, nullable=False),  # gzip of the file
)

__all__ = ["journal_documents", "journal_exports"]
