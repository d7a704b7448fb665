"""Tables of statements and their delivery: every version of every statement with the
document as issued, and every email message with the statement versions it carried."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from openchargeback.storage.tables import metadata
from openchargeback.storage.types import ExactDecimal, UTCDateTime

# One row per version. A statement's number is stable: every version of the statement
# of one (period, PI, project, currency) carries the same number. Issued versions are
# never edited; a regenerated statement is a new version and the old one is marked
# superseded (or withdrawn when nothing is left to bill).
statements = Table(
    "statements",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(40), nullable=False),
    Column("version", Integer, nullable=False),
    Column("sequence", Integer, nullable=False),  # the running number within the period
    Column("period_id", ForeignKey("periods.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # project | pi (a PI's summary)
    Column("pi_email", String(320)),
    Column("project_id", String(200)),
    Column("currency", String(16), nullable=False),
    Column("status", String(16), nullable=False),  # current | superseded | withdrawn
    # Totals are exact decimals of any size: a statement can exceed the +-9.2 million a
    # single charge's BIGINT picounits hold.
    Column("list_total", ExactDecimal, nullable=False),
    Column("discount_total", ExactDecimal, nullable=False),
    Column("due_total", ExactDecimal, nullable=False),
    Column("charge_count", Integer, nullable=False),
    Column("line_count", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),  # data and rendering inputs
    Column("template_hash", String(64), nullable=False),  # templates and branding rendered with
    Column("data", Text, nullable=False),  # JSON: the document's content as issued
    Column("generated_by", String(200), nullable=False),
    Column("generated_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Column("superseded_by_id", ForeignKey("statements.id")),
    Column("superseded_at", UTCDateTime),
    Column("software_version", String(40)),  # of OpenChargeback that rendered it (None: before 0012)
    UniqueConstraint("number", "version", name="uq_statements_number_version"),
    Index("ix_statements_period_pi", "period_id", "pi_email"),
)

# The files of a version as issued, kept apart so that lists of statements stay light. The
# files in the output directory are copies, checked against the hashes and rewritten from
# here when missing or damaged.
statement_documents = Table(
    "statement_documents",
    metadata,
    Column("statement_id", ForeignKey("statements.id"), primary_key=True),
    Column("pdf", LargeBinary, nullable=False),
    Column("detail_csv", LargeBinary),  # the full detail when the PDF shows only part of it
    Column("pdf_sha256", String(64), nullable=False),
    Column("csv_sha256", String(64)),
)

# Every message sent (or written to the outbox), one per PI and attempt. Its status:
#   queued    claimed its statement versions; the SMTP conversation has not started
#   sending   the conversation started; its outcome is not recorded yet
#   sent      every recipient accepted it
#   partial   the PI (To) accepted it, a CC did not
#   failed    the PI did not get it (refused, or the message could not be built or sent)
#   in_doubt  transmitted, final reply never came (or the process died while sending):
#             never retried automatically; an operator resends or marks it delivered
statement_messages = Table(
    "statement_messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("period_id", ForeignKey("periods.id"), nullable=False, index=True),
    Column("pi_email", String(320)),
    Column("recipients", Text, nullable=False),  # JSON: {"to": [...], "cc": [...]}
    Column("subject", Text, nullable=False),
    Column("transport", String(16), nullable=False),  # smtp | outbox
    Column("status", String(16), nullable=False),  # see above
    Column("attempts", Integer, nullable=False),
    Column("error", Text),
    Column("message_id", String(300)),  # the Message-ID header
    Column("outbox_path", Text),
    Column("resend_of_id", ForeignKey("statement_messages.id")),
    Column("actor", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    # JSON: [{"address", "kind": to|cc, "status", "reply"}], one per recipient (see
    # delivery.base for the statuses)
    Column("outcomes", Text),
    Column("batch", String(64)),  # the send batch (its lock token) that made the message
    Column("decision", Text),  # an operator's decision on an in-doubt message: who, when, what
    # None: the statements themselves; "notice": tells the PI that the sent versions it
    # carries were withdrawn or superseded (and by what)
    Column("kind", String(16)),
)

# A statement version belongs to at most one message that has not finished: claimed
# (the primary key guards it) before the SMTP conversation starts, released when the
# message is sent or failed, kept while it is in doubt.
statement_claims = Table(
    "statement_claims",
    metadata,
    Column("statement_id", ForeignKey("statements.id"), primary_key=True),
    Column("message_id", ForeignKey("statement_messages.id"), nullable=False, index=True),
    Column("claimed_at", UTCDateTime, nullable=False),
)

# One send batch per period at a time: the row is the lock (its primary key makes the
# claim atomic on both databases). A batch renews ``expires_at`` after each message; a
# row past it, or held by a process that no longer runs on this host, is taken over.
statement_send_locks = Table(
    "statement_send_locks",
    metadata,
    Column("period_id", ForeignKey("periods.id"), primary_key=True),
    Column("token", String(64), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

statement_message_items = Table(
    "statement_message_items",
    metadata,
    Column("message_id", ForeignKey("statement_messages.id"), primary_key=True),
    Column("statement_id", ForeignKey("statements.id"), primary_key=True, index=True),
)

__all__ = [
    "statement_claims",
    "statement_documents",
    "statement_message_items",
    "statement_messages",
    "statement_send_locks",
    "statements",
]
