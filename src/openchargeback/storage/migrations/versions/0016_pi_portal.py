"""PI portal (issue 18): pi/delegate links, disputes, API tokens

New tables only: ``pi_links`` (the registry PIs a pi or delegate user holds),
``api_tokens`` (personal access tokens, hashed), ``charge_disputes``,
``statement_acks`` and ``external_identities`` (OpenID Connect subjects).

Revision ID: 0016_pi_portal
Revises: 0015_web_hardening
"""

import sqlalchemy as sa
from alembic import op

import openchargeback.storage.types

revision = "0016_pi_portal"
down_revision = "0015_web_hardening"
branch_labels = None
depends_on = None

UTC = openchargeback.storage.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "pi_links",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("pi_email", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("granted_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["pi_email"], ["pis.email"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("user_id", "pi_email"),
    )
    with op.batch_alter_table("pi_links", schema=None) as batch_op:
        batch_op.create_index("ix_pi_links_pi_email", ["pi_email"], unique=False)
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("expires_at", UTC(), nullable=True),
        sa.Column("last_used_at", UTC(), nullable=True),
        sa.Column("revoked_at", UTC(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_user_id"), ["user_id"], unique=False)
    op.create_table(
        "charge_disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("charge_id", sa.Integer(), nullable=False),
        sa.Column("pi_email", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raised_by", sa.String(length=200), nullable=False),
        sa.Column("raised_at", UTC(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", UTC(), nullable=True),
        sa.ForeignKeyConstraint(["charge_id"], ["charges.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("charge_id", "open", name="uq_charge_disputes_one_open"),
    )
    with op.batch_alter_table("charge_disputes", schema=None) as batch_op:
        batch_op.create_index("ix_charge_disputes_pi_email", ["pi_email"], unique=False)
    op.create_table(
        "statement_acks",
        sa.Column("statement_id", sa.Integer(), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=False),
        sa.Column("acknowledged_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["statement_id"], ["statements.id"]),
        sa.PrimaryKeyConstraint("statement_id"),
    )
    op.create_table(
        "external_identities",
        sa.Column("issuer", sa.String(length=300), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
        sa.Column("last_login_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("issuer", "subject"),
    )
    with op.batch_alter_table("external_identities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_external_identities_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("external_identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_external_identities_user_id"))
    op.drop_table("external_identities")
    op.drop_table("statement_acks")
    with op.batch_alter_table("charge_disputes", schema=None) as batch_op:
        batch_op.drop_index("ix_charge_disputes_pi_email")
    op.drop_table("charge_disputes")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_user_id"))
    op.drop_table("api_tokens")
    with op.batch_alter_table("pi_links", schema=None) as batch_op:
        batch_op.drop_index("ix_pi_links_pi_email")
    op.drop_table("pi_links")
