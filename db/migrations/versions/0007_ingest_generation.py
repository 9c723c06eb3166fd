"""ingest_generation: a number that grows with every change of the ingest tables

Revision ID: 0007
Revises: 0006

The transforms decided whether the derived tables were current from the count and the highest id of the
ingested files; after a --full-refresh SQLite hands out the same ids again, so a refresh looked like no
change. The generation only grows (db/generation.py). An existing database starts without a row: its
first change makes it 1, and its first build after the upgrade rebuilds (the recorded fingerprint differs).
"""
import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ingest_generation', sa.Column('generation', sa.BigInteger(), nullable=False))


def downgrade() -> None:
    op.drop_table('ingest_generation')
