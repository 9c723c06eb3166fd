"""Reading logs where they live: an S3 object's ETag, and how far each log stream has been read

Revision ID: 0009
Revises: 0008

`ingested_files.etag` lets a run skip an S3 object it has ingested without downloading it again (same key and
ETag). `log_stream_checkpoints` holds, per log stream read through the CloudWatch Logs API, the spans of time
whose events are in; `log_group_reads` where the last complete read of a log group ended. Existing rows are
local files: their etag stays NULL.
"""
import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ingested_files') as batch:
        batch.add_column(sa.Column('etag', sa.Text(), nullable=True))
    op.create_table(
        'log_stream_checkpoints',
        sa.Column('log_group', sa.String(length=512), nullable=False),
        sa.Column('stream_name', sa.String(length=512), nullable=False),
        sa.Column('from_ms', sa.BigInteger(), nullable=False),
        sa.Column('to_ms', sa.BigInteger(), nullable=False),
        sa.Column('count_at_to', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['run_id'], ['ingest_runs.run_id']),
        sa.PrimaryKeyConstraint('log_group', 'stream_name', 'from_ms'),
    )
    op.create_table(
        'log_group_reads',
        sa.Column('log_group', sa.String(length=512), nullable=False),
        sa.Column('stream_prefix', sa.String(length=512), nullable=False),
        sa.Column('read_to_ms', sa.BigInteger(), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['run_id'], ['ingest_runs.run_id']),
        sa.PrimaryKeyConstraint('log_group', 'stream_prefix'),
    )


def downgrade() -> None:
    op.drop_table('log_group_reads')
    op.drop_table('log_stream_checkpoints')
    with op.batch_alter_table('ingested_files') as batch:
        batch.drop_column('etag')
