"""reviews: the append-only history of what reviewers decided about discrepancies and anomalies

Revision ID: 0006
Revises: 0005

Written by the dashboard, never by ingest or transforms (see db/schema.py).
"""
import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'reviews',
        sa.Column('review_id', sa.Integer(), nullable=False),
        sa.Column('target_type', sa.String(length=16), nullable=False),
        sa.Column('target_id', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('previous_status', sa.String(length=16), nullable=True),
        sa.Column('assignee', sa.String(length=64), nullable=True),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('reviewer', sa.String(length=64), nullable=False),
        sa.Column('reviewed_at', sa.String(length=24), nullable=False),
        sa.Column('user_id', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('review_id'),
    )
    op.create_index('ix_reviews_target', 'reviews', ['target_type', 'target_id', 'review_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_reviews_target', table_name='reviews')
    op.drop_table('reviews')
