"""Drop the two indexes no query reads: parsed_logs by request id, balance_events by message id

Revision ID: 0012
Revises: 0011

Both are keyed by random ids, so every event written touched a random page of each: on the 159-day 100x
sample a day's ingest took 3.8 s with them and 2.6-2.9 s without, and they held 448 MB of 4,381
(docs/benchmarks.md, "Storage: where the bytes go"). One invocation's events are found from its stream's files
instead (`python -m ingest show --request ID`, ingest/texts.py).
"""
import sqlalchemy as sa
from alembic import op


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index('ix_parsed_logs_request', table_name='parsed_logs', if_exists=True)
    op.drop_index('ix_balance_events_message', table_name='balance_events', if_exists=True)


def downgrade() -> None:
    op.create_index('ix_balance_events_message', 'balance_events', ['message_id'])
    op.create_index('ix_parsed_logs_request', 'parsed_logs', ['request_id'])
