"""Schema migrations, run by the project itself (Alembic under the hood).

`upgrade(engine)` brings any database to the newest schema; it is cheap when
the database is already current, because every ingest calls it: then it reads
one row and never imports Alembic. The upgrade itself runs under
db.lock.migration_lock, so concurrent callers are safe.
"""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, inspect, text
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The newest revision in db/migrations/versions; tests/test_migrations.py keeps it equal to Alembic's head.
HEAD_REVISION = "0016"


def alembic_config(engine: Engine):
    from alembic.config import Config
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def head_revision() -> str:
    """Alembic's own idea of the head (imports Alembic; HEAD_REVISION is the cheap answer)."""
    from alembic.script import ScriptDirectory
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> None:
    if current_revision(engine) == HEAD_REVISION:
        return
    # Two commands started at once on a new (or older) database: one upgrades, the other waits
    # and then finds nothing to do, instead of both creating the same tables.
    from db.lock import migration_lock
    with migration_lock(engine):
        if current_revision(engine) == HEAD_REVISION:
            return
        if _is_empty(engine):
            create_new(engine)
            return
        from alembic import command
        command.upgrade(alembic_config(engine), "head")


# Alembic's own bookkeeping table, as Alembic creates it.
_alembic_version = Table("alembic_version", MetaData(),
                         Column("version_num", String(32), nullable=False),
                         PrimaryKeyConstraint("version_num", name="alembic_version_pkc"))


def _is_empty(engine: Engine) -> bool:
    with engine.connect() as conn:
        return not inspect(conn).get_table_names()


def create_new(engine: Engine) -> None:
    """A new database: the declared schema, stamped with the head revision (Alembic's recipe for
    building a database from scratch). Replaying every migration gives the same schema
    (tests/test_migrations.py) but costs a quarter of a second on each new database."""
    from db.schema import metadata
    with engine.begin() as conn:
        metadata.create_all(conn)
        _alembic_version.create(conn)
        conn.execute(_alembic_version.insert(), {"version_num": HEAD_REVISION})
