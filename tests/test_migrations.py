"""Migrations build exactly the schema the code declares, on every backend."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from db.engine import make_engine
from db.migrate import HEAD_REVISION, current_revision, head_revision, upgrade
from db.schema import metadata


def test_the_cheap_head_is_alembics_head():
    assert HEAD_REVISION == head_revision()


def test_upgrade_builds_the_declared_schema_and_is_idempotent(database_url):
    engine = make_engine(database_url)
    assert current_revision(engine) is None
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == HEAD_REVISION
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
