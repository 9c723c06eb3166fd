"""Each file's text kept once, compressed, in file_texts; parsed_logs keeps no copy of it

Revision ID: 0011
Revises: 0010

Since this revision ingest keeps the text of every file it stores in `file_texts` (gzip: a gzip file's own
bytes), writes no `parsed_logs.text`, and writes `parsed_logs.payload` only for the kinds no typed table holds
(docs/ingest.md, "How events are stored"). Rows already stored keep their first line and payload: their files
have no `file_texts` row (ingest again with --full-refresh to keep their whole text). A downgrade drops the
kept texts, so the rows ingested since keep no text at all.
"""
import sqlalchemy as sa
from alembic import op


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'file_texts',
        sa.Column('file_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('gzip', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['file_id'], ['ingested_files.file_id']),
        sa.PrimaryKeyConstraint('file_id'),
    )


def downgrade() -> None:
    op.drop_table('file_texts')
