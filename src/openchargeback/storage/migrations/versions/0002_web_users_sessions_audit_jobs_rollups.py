"""web application: users, sessions, audit log, login attempts, jobs, charge rollups

Revision ID: 0002_web
Revises: 0001
Create Date: 2026-11-21 06:28:53.017004
"""
import sqlalchemy as sa
from alembic import op

import openchargeback.storage.types

revision = '0002_web'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', openchargeback.storage.types.UTCDateTime(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=300), nullable=True),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_action', ['action'], unique=False)

    op.create_table('jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('params', sa.Text(), nullable=False),
    sa.Column('filename', sa.String(length=500), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('rows_read', sa.Integer(), nullable=False),
    sa.Column('result', sa.Text(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('import_id', sa.Integer(), nullable=True),
    sa.Column('created_at', openchargeback.storage.types.UTCDateTime(), nullable=False),
    sa.Column('started_at', openchargeback.storage.types.UTCDateTime(), nullable=True),
    sa.Column('finished_at', openchargeback.storage.types.UTCDateTime(), nullable=True),
    sa.Column('worker', sa.String(length=100), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('login_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', openchargeback.storage.types.UTCDateTime(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('success', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.create_index('ix_login_attempts_ip_at', ['ip', 'at'], unique=False)
        batch_op.create_index('ix_login_attempts_username_at', ['username', 'at'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=300), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('from_config', sa.Boolean(), nullable=False),
    sa.Column('created_at', openchargeback.storage.types.UTCDateTime(), nullable=False),
    sa.Column('password_changed_at', openchargeback.storage.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('username')
    )
    op.create_table('charge_rollups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('billing_currency', sa.String(length=16), nullable=False),
    sa.Column('pi_email', sa.String(length=320), nullable=True),
    sa.Column('project_id', sa.String(length=200), nullable=True),
    sa.Column('fund_org', sa.String(length=200), nullable=True),
    sa.Column('service_name', sa.String(length=300), nullable=True),
    sa.Column('flagged', sa.Boolean(), nullable=False),
    sa.Column('review', sa.String(length=16), nullable=True),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('billed_hi', sa.BigInteger(), nullable=False),
    sa.Column('billed_lo', sa.BigInteger(), nullable=False),
    sa.Column('effective_hi', sa.BigInteger(), nullable=False),
    sa.Column('effective_lo', sa.BigInteger(), nullable=False),
    sa.Column('list_hi', sa.BigInteger(), nullable=False),
    sa.Column('list_lo', sa.BigInteger(), nullable=False),
    sa.Column('contracted_hi', sa.BigInteger(), nullable=False),
    sa.Column('contracted_lo', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['period_id'], ['periods.id'], ),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('charge_rollups', schema=None) as batch_op:
        batch_op.create_index('ix_charge_rollups_period', ['period_id'], unique=False)

    op.create_table('rollup_state',
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('built_at', openchargeback.storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['period_id'], ['periods.id'], ),
    sa.PrimaryKeyConstraint('period_id')
    )
    op.create_table('sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', openchargeback.storage.types.UTCDateTime(), nullable=False),
    sa.Column('expires_at', openchargeback.storage.types.UTCDateTime(), nullable=False),
    sa.Column('last_seen_at', openchargeback.storage.types.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', openchargeback.storage.types.UTCDateTime(), nullable=True),
    sa.Column('ip', sa.String(length=64), nullable=True),
    sa.Column('user_agent', sa.String(length=300), nullable=True),
    sa.Column('period', sa.String(length=7), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sessions_user_id'), ['user_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sessions_user_id'))

    op.drop_table('sessions')
    op.drop_table('rollup_state')
    with op.batch_alter_table('charge_rollups', schema=None) as batch_op:
        batch_op.drop_index('ix_charge_rollups_period')

    op.drop_table('charge_rollups')
    op.drop_table('users')
    with op.batch_alter_table('login_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_login_attempts_username_at')
        batch_op.drop_index('ix_login_attempts_ip_at')

    op.drop_table('login_attempts')
    op.drop_table('jobs')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_action')

    op.drop_table('audit_log')
