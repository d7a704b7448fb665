"""Tables of the review workflow: the rules, attribution rules, every action on a charge."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text, and_, literal_column

from openchargeback.storage.tables import charges, metadata
from openchargeback.storage.types import UTCDateTime

# One row: the rules in force (JSON), with who changed them last.
review_rules = Table(
    "review_rules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("rules", Text, nullable=False),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# A saved correction, applied to every future import: charges whose resource id (or
# tag value) matches get this PI / project / fund.
attribution_rules = Table(
    "attribution_rules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("match_field", String(200), nullable=False),  # resource_id, or tag:<key>
    Column("match_value", Text, nullable=False),
    Column("pi_email", String(320)),
    Column("project_id", String(200)),
    Column("fund_org", String(200)),
    Column("note", Text),
    Column("active", Boolean, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

# Every action on every charge: who, when, what it was before and after, why.
charge_actions = Table(
    "charge_actions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("charge_id", Integer, nullable=False),  # follows the charge across --replace
    Column("period_id", Integer, nullable=False),
    Column("action", String(32), nullable=False),  # approve, reject, correct, carry_over
    Column("before", Text),  # JSON
    Column("after", Text),  # JSON
    Column("note", Text),
    Column("actor", String(200), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_charge_actions_charge", "charge_id"),
)


# The review queue (pending charges, largest amount first): one partial index per sign of
# the amount, so that a page is read in order from an index instead of sorting every
# pending charge, and the totals at stake are summed from the index alone (it holds every
# column the queue filters on, except PI, project, fund and resource). Only flagged
# charges without a decision are in them: an import without flags pays almost nothing.
# (An index on abs(billed_cost) would be one index, but SQLite cannot reflect expression
# indexes, so the schema could no longer be compared with the migrations.)
_PENDING = and_(charges.c.review.is_(None), charges.c.flags.is_not(None))
_POSITIVE = and_(_PENDING, charges.c.billed_cost >= literal_column("0"))
_NEGATIVE = and_(_PENDING, charges.c.billed_cost < literal_column("0"))
QUEUE_COLUMNS = ("source_id", "flags", "review")
ix_review_queue_positive = Index(
    "ix_charges_review_queue_pos",
    charges.c.period_id,
    charges.c.billed_cost.desc(),
    charges.c.id,
    *(charges.c[c] for c in QUEUE_COLUMNS),
    sqlite_where=_POSITIVE,
    postgresql_where=_POSITIVE,
)
ix_review_queue_negative = Index(
    "ix_charges_review_queue_neg",
    charges.c.period_id,
    charges.c.billed_cost,
    charges.c.id,
    *(charges.c[c] for c in QUEUE_COLUMNS),
    sqlite_where=_NEGATIVE,
    postgresql_where=_NEGATIVE,
)
