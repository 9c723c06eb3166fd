"""parsed_logs: the business-date index also holds kind and detail

Revision ID: 0003
Revises: 0002

`daily_event_counts` (one row per day, kind and detail) becomes a read of this index alone instead of
a sort of every parsed_logs row, and the error-day lookups (kind IN … AND business_date = day) seek
in it. It replaces ix_parsed_logs_date, so a bulk load still builds the same number of indexes.
"""
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_parsed_logs_date', table_name='parsed_logs')
    op.create_index('ix_parsed_logs_date_kind', 'parsed_logs', ['business_date', 'kind', 'detail'])


def downgrade() -> None:
    op.drop_index('ix_parsed_logs_date_kind', table_name='parsed_logs')
    op.create_index('ix_parsed_logs_date', 'parsed_logs', ['business_date'])
