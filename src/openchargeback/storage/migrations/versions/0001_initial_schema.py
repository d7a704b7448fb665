"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 06:19:09.763632
"""
import sqlalchemy as sa
from alembic import op

import openchargeback.storage.types

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('charge_details',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('billing_period_start', openchargeback.storage.types.UTCDateTime(), nullable=False),
    sa.Column('billing_period_end', openchargeback.storage.types.UTCDateTime(), nullable=False),
    sa.Column('billing_currency', sa.String(length=16), nullable=False),
    sa.Column('charge_category', sa.String(length=64), nullable=True),
    sa.Column('charge_class', sa.String(length=64), nullable=True),
    sa.Column('charge_frequency', sa.String(length=64), nullable=True),
    sa.Column('charge_description', sa.Text(), nullable=True),
    sa.Column('service_name', sa.String(length=300), nullable=True),
    sa.Column('service_category', sa.String(length=200), nullable=True),
    sa.Column('service_subcategory', sa.String(length=200), nullable=True),
    sa.Column('provider_name', sa.String(length=300), nullable=True),
    sa.Column('publisher_name', sa.String(length=300), nullable=True),
    sa.Column('service_provider_name', sa.String(length=300), nullable=True),
    sa.Column('invoice_issuer_name', sa.String(length=300), nullable=True),
    sa.Column('invoice_id', sa.String(length=300), nullable=True),
    sa.Column('billing_account_id', sa.String(length=300), nullable=True),
    sa.Column('billing_account_name', sa.String(length=300), nullable=True),
    sa.Column('sub_account_id', sa.String(length=300), nullable=True),
    sa.Column('sub_account_name', sa.String(length=300), nullable=True),
    sa.Column('resource_type', sa.String(length=300), nullable=True),
    sa.Column('sku_id', sa.String(length=300), nullable=True),
    sa.Column('sku_price_id', sa.String(length=300), nullable=True),
    sa.Column('sku_meter', sa.String(length=300), nullable=True),
    sa.Column('pricing_category', sa.String(length=64), nullable=True),
    sa.Column('pricing_unit', sa.String(length=200), nullable=True),
    sa.Column('consumed_unit', sa.String(length=200), nullable=True),
    sa.Column('commitment_discount_id', sa.String(length=500), nullable=True),
    sa.Column('commitment_discount_name', sa.String(length=300), nullable=True),
    sa.Column('commitment_discount_status', sa.String(length=64), nullable=True),
    sa.Column('commitment_discount_type', sa.String(length=200), nullable=True),
    sa.Column('commitment_discount_category', sa.String(length=64), nullable=True),
    sa.Column('region_id', sa.String(length=200), nullable=True),
    sa.Column('region_name', sa.String(length=200), nullable=True),
    sa.Column('availability_zone', sa.String(length=200), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_table('periods',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=7), nullable=False),
    sa.Column('starts_at', openchargeback.storage.types.UTCDateTime(), nullable=False),
    sa.Column('ends_at', openchargeback.storage.types.UTCDateTime(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', openchargeback.storage.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('sources',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('file_pattern', sa.String(length=200), nullable=True),
    sa.Column('cost_basis', sa.String(length=16), nullable=False),
    sa.Column('gl_fund_org', sa.String(length=100), nullable=True),
    sa.Column('gl_account', sa.String(length=100), nullable=True),
    sa.Column('tag_mapping', sa.Text(), nullable=True),
    sa.Column('from_config', sa.Boolean(), nullable=False),
    sa.Column('created_at', openchargeback.storage.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('tag_sets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=40), nullable=False),
    sa.Column('tags', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    op.create_table('imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('filename', sa.String(length=500), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('format', sa.String(length=16), nullable=False),
    sa.Column('focus_version', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requested_period', sa.String(length=7), nullable=True),
    sa.Column('periods', sa.Text(), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.Column('skipped_count', sa.Integer(), nullable=False),
    sa.Column('rounded_values', sa.Integer(), nullable=False),
    sa.Column('flagged_count', sa.Integer(), nullable=False),
    sa.Column('columns', sa.Text(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('started_at', openchargeback.storage.types.UTCDateTime(), nullable=False),
    sa.Column('finished_at', openchargeback.storage.types.UTCDateTime(), nullable=False),
    sa.Column('replaced_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['replaced_by_id'], ['imports.id'], ),
    sa.ForeignKeyConstraint(['source_id'], ['sources.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_imports_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_imports_source_id'), ['source_id'], unique=False)

    op.create_table('period_transitions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=True),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('at', openchargeback.storage.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['period_id'], ['periods.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('period_transitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_period_transitions_period_id'), ['period_id'], unique=False)

    op.create_table('charges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('detail_id', sa.Integer(), nullable=False),
    sa.Column('tag_set_id', sa.Integer(), nullable=True),
    sa.Column('billing_currency', sa.String(length=16), nullable=False),
    sa.Column('charge_period_start', openchargeback.storage.types.UTCDateTime(), nullable=False),
    sa.Column('charge_period_end', openchargeback.storage.types.UTCDateTime(), nullable=False),
    sa.Column('billed_cost', openchargeback.storage.types.Money(), nullable=False),
    sa.Column('effective_cost', openchargeback.storage.types.Money(), nullable=True),
    sa.Column('list_cost', openchargeback.storage.types.Money(), nullable=True),
    sa.Column('contracted_cost', openchargeback.storage.types.Money(), nullable=True),
    sa.Column('pricing_quantity', openchargeback.storage.types.ExactDecimal(), nullable=True),
    sa.Column('consumed_quantity', openchargeback.storage.types.ExactDecimal(), nullable=True),
    sa.Column('list_unit_price', openchargeback.storage.types.ExactDecimal(), nullable=True),
    sa.Column('contracted_unit_price', openchargeback.storage.types.ExactDecimal(), nullable=True),
    sa.Column('resource_id', sa.Text(), nullable=True),
    sa.Column('resource_name', sa.Text(), nullable=True),
    sa.Column('pi_email', sa.String(length=320), nullable=True),
    sa.Column('project_id', sa.String(length=200), nullable=True),
    sa.Column('fund_org', sa.String(length=200), nullable=True),
    sa.Column('cost_center', sa.String(length=200), nullable=True),
    sa.Column('account_code', sa.String(length=200), nullable=True),
    sa.Column('reference_1', sa.String(length=300), nullable=True),
    sa.Column('reference_2', sa.String(length=300), nullable=True),
    sa.Column('flags', sa.String(length=300), nullable=True),
    sa.Column('extra', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['import_id'], ['imports.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.create_index('ix_charges_period_source_import', ['period_id', 'source_id', 'import_id'], unique=False)

    op.create_table('import_problems',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('column_name', sa.String(length=200), nullable=True),
    sa.Column('value', sa.Text(), nullable=True),
    sa.Column('expected', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['imports.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('import_problems', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_import_problems_import_id'), ['import_id'], unique=False)

    op.create_table('import_replacements',
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('replaced_import_id', sa.Integer(), nullable=False),
    sa.Column('period_id', sa.Integer(), nullable=False),
    sa.Column('rows_removed', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['imports.id'], ),
    sa.ForeignKeyConstraint(['period_id'], ['periods.id'], ),
    sa.ForeignKeyConstraint(['replaced_import_id'], ['imports.id'], ),
    sa.PrimaryKeyConstraint('import_id', 'replaced_import_id', 'period_id')
    )
    op.create_table('import_totals',
    sa.Column('import_id', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=16), nullable=False),
    sa.Column('cost_column', sa.String(length=32), nullable=False),
    sa.Column('file_total', openchargeback.storage.types.ExactDecimal(), nullable=False),
    sa.Column('stored_total', openchargeback.storage.types.ExactDecimal(), nullable=False),
    sa.ForeignKeyConstraint(['import_id'], ['imports.id'], ),
    sa.PrimaryKeyConstraint('import_id', 'currency', 'cost_column')
    )


def downgrade() -> None:
    op.drop_table('import_totals')
    op.drop_table('import_replacements')
    with op.batch_alter_table('import_problems', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_import_problems_import_id'))

    op.drop_table('import_problems')
    with op.batch_alter_table('charges', schema=None) as batch_op:
        batch_op.drop_index('ix_charges_period_source_import')

    op.drop_table('charges')
    with op.batch_alter_table('period_transitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_period_transitions_period_id'))

    op.drop_table('period_transitions')
    with op.batch_alter_table('imports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_imports_source_id'))
        batch_op.drop_index(batch_op.f('ix_imports_sha256'))

    op.drop_table('imports')
    op.drop_table('tag_sets')
    op.drop_table('sources')
    op.drop_table('periods')
    op.drop_table('charge_details')
