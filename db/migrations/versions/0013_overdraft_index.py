"""An index of the overdraft events alone, for the Overdraft tab's counts and per-day roll-up

Revision ID: 0013
Revises: 0012

Partial: only the transactions with an overdraft reason (about 5 % of them), by business date and currency with
their four flags, so counting a period's overdraft events reads these entries instead of every transaction
(docs/benchmarks.md, "The dashboard at 100x").
"""
import sqlalchemy as sa
from alembic import op


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

COLUMNS = ['business_date', 'currency', 'is_overdraft_crossing', 'is_overdraft_actual', 'is_overdraft_expected',
           'is_overdraft_wallet']


def upgrade() -> None:
    where = sa.text('overdraft_reason IS NOT NULL')
    op.create_index('ix_balance_events_overdraft', 'balance_events', COLUMNS, sqlite_where=where,
                    postgresql_where=where)


def downgrade() -> None:
    op.drop_index('ix_balance_events_overdraft', table_name='balance_events')
