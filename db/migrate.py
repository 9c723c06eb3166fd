"""Schema migrations, run by the project itself (Alembic under the hood).

`upgrade(engine)` brings any database to the newest schema; it is cheap when
the database is already current, because ingest calls it on every run. The
upgrade itself runs under db.lock.migration_lock, so concurrent callers are safe.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


@lru_cache(maxsize=1)
def head_revision() -> str:
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine) -> None:
    if current_revision(engine) == head_revision():
        return
    # Two commands started at once on a new (or older) database: one upgrades, the other waits
    # and then finds nothing to do, instead of both creating the same tables.
    from db.lock import migration_lock
    with migration_lock(engine):
        if current_revision(engine) != head_revision():
            command.upgrade(alembic_config(engine), "head")
