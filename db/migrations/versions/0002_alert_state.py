"""alert_state: which findings were alerted on which channel

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'alert_state',
        sa.Column('fingerprint', sa.String(length=160), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('finding_kind', sa.String(length=16), nullable=False),
        sa.Column('severity', sa.String(length=8), nullable=True),
        sa.Column('message', sa.Text(), nullable=False),
        sa.Column('first_seen_at', sa.String(length=24), nullable=False),
        sa.Column('sent', sa.Boolean(), nullable=False),
        sa.Column('sent_at', sa.String(length=24), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_attempt_at', sa.String(length=24), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('fingerprint', 'channel'),
    )
    op.create_index('ix_alert_state_pending', 'alert_state', ['channel', 'sent'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_alert_state_pending', table_name='alert_state')
    op.drop_table('alert_state')
