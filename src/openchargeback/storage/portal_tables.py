"""Tables of the PI portal, sign-on and the API (issue 18): which registry PIs a user
holds, personal access tokens, disputes of charges, acknowledged statements and the
external identities (OpenID Connect subjects) of users."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint

from openchargeback.storage.tables import metadata
from openchargeback.storage.types import UTCDateTime

# A pi user holds the PIs whose verified email is theirs (kind "pi"); a delegate holds
# the PIs an admin or the PI granted (kind "delegate").
pi_links = Table(
    "pi_links",
    metadata,
    Column("user_id", ForeignKey("users.id"), primary_key=True),
    Column("pi_email", ForeignKey("pis.email"), primary_key=True),
    Column("kind", String(16), nullable=False),  # pi | delegate
    Column("granted_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_pi_links_pi_email", "pi_email"),
)

# Personal access tokens: only the SHA-256 of the secret is kept (the secret has 256
# random bits, so a plain hash is enough); the prefix names it in lists.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("scope", String(8), nullable=False),  # read | write
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("last_used_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
)

# A PI's dispute of a charge. ``open`` is TRUE while undecided and NULL after: the
# unique constraint (NULLs are distinct) allows one open dispute per charge. A dispute of
# a statement line is one row per charge behind it, with the statement and the line's
# label: the group is decided at once. ``remedy`` says what the decision changed.
charge_disputes = Table(
    "charge_disputes",
    metadata,
    Column("id", Integer, primary_key=True),
    # charges.id: no foreign key, as charges is partitioned by period on PostgreSQL (its
    # key is (id, period_id)); `db check` reports a dispute whose charge is gone
    Column("charge_id", Integer, nullable=False),
    Column("pi_email", String(320), nullable=False),
    Column("reason", Text, nullable=False),
    Column("raised_by", String(200), nullable=False),
    Column("raised_at", UTCDateTime, nullable=False),
    Column("open", Boolean),
    Column("decision", String(16)),  # upheld | declined
    Column("reply", Text),
    Column("decided_by", String(200)),
    Column("decided_at", UTCDateTime),
    # statements.id of the version whose line was disputed (kept by its id, like charge_id)
    Column("statement_id", Integer, index=True),
    Column("line", String(300)),
    Column("remedy", Text),
    # the import whose --replace removed the charge (kept by its id, like charge_id)
    Column("withdrawn_by_import", Integer),
    UniqueConstraint("charge_id", "open", name="uq_charge_disputes_one_open"),
    Index("ix_charge_disputes_pi_email", "pi_email"),
)

# A statement version acknowledged by its PI (or a delegate): once per version.
statement_acks = Table(
    "statement_acks",
    metadata,
    Column("statement_id", ForeignKey("statements.id"), primary_key=True),
    Column("acknowledged_by", String(200), nullable=False),
    Column("acknowledged_at", UTCDateTime, nullable=False),
)

# The OpenID Connect (issuer, subject) or trusted-header identity of a user.
external_identities = Table(
    "external_identities",
    metadata,
    Column("issuer", String(300), primary_key=True),
    Column("subject", String(255), primary_key=True),
    Column("user_id", ForeignKey("users.id"), nullable=False, index=True),
    Column("email", String(320)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_login_at", UTCDateTime, nullable=False),
)

__all__ = ["api_tokens", "charge_disputes", "external_identities", "pi_links", "statement_acks"]
