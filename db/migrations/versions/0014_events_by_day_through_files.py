"""A day's events are found through file_event_counts: parsed_logs loses its (business_date, kind, detail) index

Revision ID: 0014
Revises: 0013

file_event_counts (one row per file, business date, kind and detail) gains an index by (business_date, kind):
the first and last business dates come from it, and the files that hold a day's events of some kinds, whose rows
the (file_id, line_no) index of parsed_logs then finds. The parsed_logs index was 245 MB of the 159-day 100x
database (docs/benchmarks.md, "Storage: where the bytes go").
"""
from alembic import op


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_file_event_counts_date_kind', 'file_event_counts', ['business_date', 'kind'])
    op.drop_index('ix_parsed_logs_date_kind', table_name='parsed_logs', if_exists=True)


def downgrade() -> None:
    op.create_index('ix_parsed_logs_date_kind', 'parsed_logs', ['business_date', 'kind', 'detail'])
    op.drop_index('ix_file_event_counts_date_kind', table_name='file_event_counts')
