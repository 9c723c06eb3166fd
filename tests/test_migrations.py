"""Migrations build exactly the schema the code declares, on every backend."""
from __future__ import annotations

import os

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


def test_every_migration_from_nothing_builds_the_declared_schema(database_url):
    """upgrade() builds a new database from the declared schema; the migrations must agree with it."""
    from alembic import command

    from db.migrate import alembic_config
    engine = make_engine(database_url)
    command.upgrade(alembic_config(engine), "head")
    assert current_revision(engine) == HEAD_REVISION
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_a_new_database_is_stamped_for_alembic(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == HEAD_REVISION
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    from alembic import command

    from db.migrate import alembic_config
    command.upgrade(alembic_config(engine), "head")  # nothing left to do, and Alembic agrees
    assert current_revision(engine) == HEAD_REVISION


def test_a_database_of_revision_0005_gains_reviews_and_keeps_its_rows(database_url):
    """0006 adds the dashboard's `reviews` table to a database that already holds data, and takes it away again."""
    from alembic import command
    from sqlalchemy import inspect, text

    from db.migrate import alembic_config
    engine = make_engine(database_url)
    command.upgrade(alembic_config(engine), "0005")
    with engine.begin() as conn:
        assert not inspect(conn).has_table("reviews")
        conn.execute(text("INSERT INTO ingest_runs (started_at, status) VALUES ('2024-01-01T00:00:00.000Z', 'ok')"))
    upgrade(engine)
    assert current_revision(engine) == HEAD_REVISION
    with engine.begin() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        assert conn.execute(text("SELECT count(*) FROM ingest_runs")).scalar_one() == 1
        conn.execute(text("INSERT INTO reviews (target_type, target_id, status, reviewer, reviewed_at) "
                          "VALUES ('anomaly', 'burst:01HX', 'explained', 'ana', '2024-01-01T00:00:00.000Z')"))
        assert conn.execute(text("SELECT review_id FROM reviews")).scalar_one() == 1
    command.downgrade(alembic_config(engine), "0005")
    with engine.connect() as conn:
        assert not inspect(conn).has_table("reviews")
        assert conn.execute(text("SELECT count(*) FROM ingest_runs")).scalar_one() == 1


def test_a_database_of_revision_0007_gains_relative_paths_from_its_runs(database_url):
    """0008 adds ingested_files.relative_path and fills it from each file's run: the path below the first folder
    the run was given that holds it (a file given on its own: its name), and takes it away again."""
    from alembic import command
    from sqlalchemy import inspect, text

    from db.migrate import alembic_config
    engine = make_engine(database_url)
    command.upgrade(alembic_config(engine), "0007")
    files = [(1, 1, "/data/logs/stream-a/000000.gz"), (2, 1, "/data/logs/stream-b/000000.gz"),
             (3, 2, "exports/extra.log"), (4, 2, "elsewhere/moved.gz"), (5, None, "/no/run/x.gz")]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO ingest_runs (run_id, started_at, status, paths) VALUES "
                          "(1, '2024-01-01T00:00:00.000Z', 'ok', :one), (2, '2024-01-02T00:00:00.000Z', 'ok', :two)"),
                     {"one": '["/data/logs"]', "two": '["exports/extra.log", "data/other"]'})
        for file_id, run_id, path in files:
            conn.execute(text("INSERT INTO ingested_files (file_id, path, content_hash, status, run_id) "
                              "VALUES (:id, :path, :hash, 'ok', :run)"),
                         {"id": file_id, "path": path, "hash": str(file_id) * 64, "run": run_id})
    upgrade(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        got = conn.execute(text("SELECT path, relative_path FROM ingested_files ORDER BY file_id")).all()
    assert [tuple(r) for r in got] == [
        ("/data/logs/stream-a/000000.gz", "stream-a/000000.gz"),
        ("/data/logs/stream-b/000000.gz", "stream-b/000000.gz"), ("exports/extra.log", "extra.log"),
        ("elsewhere/moved.gz", "moved.gz"), ("/no/run/x.gz", "x.gz")]
    command.downgrade(alembic_config(engine), "0007")
    with engine.connect() as conn:
        assert "relative_path" not in {c["name"] for c in inspect(conn).get_columns("ingested_files")}
        assert conn.execute(text("SELECT count(*) FROM ingested_files")).scalar_one() == 5


def test_a_database_of_revision_0008_gains_etags_and_checkpoints_and_keeps_its_files(database_url):
    """0009: ingested_files.etag (NULL for the files already in), the log stream checkpoints; and back."""
    from alembic import command
    from sqlalchemy import inspect, text

    from db.migrate import alembic_config
    engine = make_engine(database_url)
    command.upgrade(alembic_config(engine), "0008")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO ingest_runs (started_at, status) VALUES ('2024-01-01T00:00:00.000Z', 'ok')"))
        conn.execute(text("INSERT INTO ingested_files (file_id, path, content_hash, status) "
                          "VALUES (1, '/logs/a/000000.gz', 'abc', 'ok')"))
    upgrade(engine)
    with engine.begin() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        assert conn.execute(text("SELECT path, etag FROM ingested_files")).one() == ("/logs/a/000000.gz", None)
        conn.execute(text("INSERT INTO log_stream_checkpoints (log_group, stream_name, from_ms, to_ms, count_at_to, "
                          "run_id) VALUES ('/aws/lambda/x', 's', 0, 10, 1, 1)"))
    command.downgrade(alembic_config(engine), "0008")
    with engine.connect() as conn:
        assert not inspect(conn).has_table("log_stream_checkpoints")
        assert "etag" not in {c["name"] for c in inspect(conn).get_columns("ingested_files")}
        assert conn.execute(text("SELECT path FROM ingested_files")).scalar_one() == "/logs/a/000000.gz"


def test_a_database_of_revision_0010_keeps_the_text_of_its_events_and_gains_file_texts(database_url, tmp_path):
    """0011: file_texts, empty for the files already in, whose events keep their first line and payload in
    parsed_logs (the raw CSV and `python -m ingest show` say so); a file ingested after it keeps its whole text.
    And back."""
    from alembic import command
    from sqlalchemy import inspect, text

    import settings as settings_mod
    from db.migrate import alembic_config
    from ingest.texts import TextNotKept, file_text
    from pipeline import run
    from queries import Filters
    from reports.queries import parsed_events
    from tests.test_ingest_run import export
    engine = make_engine(database_url)
    command.upgrade(alembic_config(engine), "0010")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO ingested_files (file_id, path, content_hash, status) "
                          "VALUES (1, '/logs/a/000000.gz', 'abc', 'ok')"))
        conn.execute(text("INSERT INTO parsed_logs (event_id, file_id, line_no, ts, ts_ms, business_date, kind, "
                          "parse_status, text, payload) VALUES (1, 1, 1, '2023-01-01T00:00:00.000Z', 1672531200000, "
                          "'2023-01-01', 'metric', 'ok', :text, :payload)"),
                     {"text": '{"_aws": 1}', "payload": '{"_aws":1}'})
    upgrade(engine)
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
        assert conn.execute(text("SELECT count(*) FROM file_texts")).scalar_one() == 0
        try:
            file_text(conn, 1)
            raise AssertionError("a file ingested before 0011 has no kept text")
        except TextNotKept as exc:
            assert str(exc).startswith("file 1 was ingested before file texts were kept (migration 0011)")
    run([str(export(tmp_path))], settings_mod.load(env_file=os.devnull, DATABASE_URL=database_url), transform=False)
    rows = list(parsed_events(engine, Filters()))
    assert [r[-2:] for r in rows[:1]] == [('{"_aws": 1}', '{"_aws":1}')]  # the old row, as it was stored
    assert all(r[-2].startswith(r[1] + " ") for r in rows[1:])  # the new ones: each event's whole text
    command.downgrade(alembic_config(engine), "0010")
    with engine.connect() as conn:
        assert not inspect(conn).has_table("file_texts")
        assert conn.execute(text("SELECT text FROM parsed_logs WHERE file_id = 1")).scalar_one() == '{"_aws": 1}'
