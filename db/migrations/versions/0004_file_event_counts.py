"""file_event_counts: events per file, business date, kind and detail, counted at ingest

Revision ID: 0004
Revises: 0003

`daily_event_counts` sums these rows (a few per file) instead of grouping every parsed_logs row on
every transform build. Existing databases are filled from parsed_logs.
"""
import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'file_event_counts',
        sa.Column('file_id', sa.Integer(), sa.ForeignKey('ingested_files.file_id'), nullable=False),
        sa.Column('business_date', sa.String(length=10), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('detail', sa.Text()),
        sa.Column('count_events', sa.Integer(), nullable=False),
    )
    op.execute("INSERT INTO file_event_counts (file_id, business_date, kind, detail, count_events) "
               "SELECT file_id, business_date, kind, detail, count(*) FROM parsed_logs "
               "GROUP BY file_id, business_date, kind, detail")


def downgrade() -> None:
    op.drop_table('file_event_counts')
