"""ingested_files.relative_path: the file's path below the folder ingest was given

Revision ID: 0008
Revises: 0007

Reports and exports name a row's file by this path (a server's absolute path means nothing to the reader);
`path` keeps meaning the path ingest read, which it compares on every run. Existing rows are filled from
their run's `ingest_runs.paths`: below the first of them that holds the file, else the file's name.
"""
import json
from pathlib import PurePath

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def relative_path(path: str, roots: list[str]) -> str:
    """`path` below the first root that holds it (a root that is the file itself gives its name)."""
    file = PurePath(path)
    for root in map(PurePath, roots):
        if file == root:
            return file.name
        if root in file.parents:
            return file.relative_to(root).as_posix()
    return file.name


def upgrade() -> None:
    op.add_column('ingested_files', sa.Column('relative_path', sa.Text(), nullable=True))
    conn = op.get_bind()
    roots = {run_id: json.loads(paths or "[]") for run_id, paths in conn.execute(
        sa.text("SELECT run_id, paths FROM ingest_runs"))}
    rows = [{"id": file_id, "rel": relative_path(path, roots.get(run_id, []))} for file_id, path, run_id in
            conn.execute(sa.text("SELECT file_id, path, run_id FROM ingested_files"))]
    if rows:
        conn.execute(sa.text("UPDATE ingested_files SET relative_path = :rel WHERE file_id = :id"), rows)


def downgrade() -> None:
    with op.batch_alter_table('ingested_files') as batch:
        batch.drop_column('relative_path')
