"""pending_changes says where each changed user's ledger first changed

Revision ID: 0016
Revises: 0015

A changed user's row gains since_ts and since_tx: the earliest (time, transaction id) of their ledger that a
write touched. A build then keeps the derived rows that only depend on the transactions before it
(transform/scope.py). Rows noted before the upgrade have none, which means the whole ledger.
"""
import sqlalchemy as sa
from alembic import op


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('pending_changes') as batch:
        batch.add_column(sa.Column('since_ts', sa.String(length=24), nullable=True))
        batch.add_column(sa.Column('since_tx', sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('pending_changes') as batch:
        batch.drop_column('since_tx')
        batch.drop_column('since_ts')
