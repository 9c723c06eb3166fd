"""drop ix_parsed_logs_kind_ts: no query of the product reads it any more

Revision ID: 0005
Revises: 0004

It served the per-day event counts (now file_event_counts, 0004) and the error-day lookups, which seek
ix_parsed_logs_date_kind instead (business_date = day AND kind IN …). A bulk load rebuilt it every time:
about a quarter of the index rebuild and 5% of the database.
"""
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_parsed_logs_kind_ts', table_name='parsed_logs', if_exists=True)


def downgrade() -> None:
    op.create_index('ix_parsed_logs_kind_ts', 'parsed_logs', ['kind', 'ts'])
