"""pending_changes: the users and business days changed since the last build

Revision ID: 0010
Revises: 0009

The loader notes every user and business day whose rows it writes; a build rebuilds the derived rows of those
keys only (transform/scope.py). An existing database starts with none noted: its first build after the upgrade
is from scratch anyway, because the transforms' code changed.
"""
import sqlalchemy as sa
from alembic import op


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'pending_changes',
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('key', sa.String(length=72), nullable=False),
        sa.PrimaryKeyConstraint('kind', 'key'),
    )


def downgrade() -> None:
    op.drop_table('pending_changes')
