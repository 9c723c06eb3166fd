"""Shared fixtures: real databases, the real corpus (when BALANCE_LOGS_CORPUS is set), a small sample export.

`database_url` is the one fixture every database-touching test asks for; the
PostgreSQL support extends it to run the same tests on a real server.
"""
from __future__ import annotations

import functools
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import settings as settings_mod  # noqa: E402
from tests import pg  # noqa: E402


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    path = os.environ.get("BALANCE_LOGS_CORPUS")
    if not path:
        pytest.skip("BALANCE_LOGS_CORPUS is not set (make test sets it to ../shared/corpus/balance-sync-logs)")
    if not Path(path).is_dir():
        pytest.fail(f"BALANCE_LOGS_CORPUS={path} is not a folder")
    return Path(path)


# --- PostgreSQL: the same tests on a real throwaway server (tests/pg.py) ------------------------

PG_DISABLE_ENV = "BALANCE_LOGS_TEST_POSTGRES"  # =0: run only the SQLite variants
PG_REQUIRE_ENV = "BALANCE_LOGS_REQUIRE_POSTGRES"  # =1 (CI): missing binaries fail instead of skipping


@functools.lru_cache(maxsize=1)
def _postgres_status() -> tuple[Path | None, str]:
    """(server binaries or None, the one line the header and the summary print)."""
    if os.environ.get(PG_DISABLE_ENV) == "0":
        return None, f"SKIPPED: disabled by {PG_DISABLE_ENV}=0"
    return pg.availability()


def pytest_report_header(config) -> str:
    return f"PostgreSQL tests: {_postgres_status()[1]}"


def pytest_terminal_summary(terminalreporter) -> None:
    terminalreporter.write_line(f"PostgreSQL tests: {_postgres_status()[1]}")


@pytest.fixture(scope="session")
def pg_server():
    """One throwaway PostgreSQL server for the session, started on first use and deleted at the end."""
    bindir, line = _postgres_status()
    if bindir is None:
        if os.environ.get(PG_REQUIRE_ENV) == "1":
            pytest.fail(f"PostgreSQL tests are required ({PG_REQUIRE_ENV}=1) but {line}")
        pytest.skip(f"PostgreSQL tests {line}")
    try:
        server = pg.PostgresServer.start(bindir)
    except (pg.PostgresUnavailable, pg.PostgresStartError) as exc:
        pytest.fail(f"the throwaway PostgreSQL server did not start: {exc}")
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    """A fresh empty database per test: a SQLite file, or a new database on the throwaway server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'balance_logs.db'}"
        return
    with pg.throwaway_database(request.getfixturevalue("pg_server")) as url:
        yield url


@pytest.fixture
def make_settings(database_url):
    def build(**overrides):
        return settings_mod.load(env_file=os.devnull, DATABASE_URL=overrides.pop("DATABASE_URL", database_url),
                                 **overrides)
    return build


@pytest.fixture(scope="session")
def corpus_db(corpus_dir, tmp_path_factory) -> str:
    """The real export ingested once (with transforms) into a SQLite file shared by read-only tests."""
    from pipeline import run
    url = f"sqlite:///{tmp_path_factory.mktemp('corpus') / 'corpus.db'}"
    run([str(corpus_dir)], settings_mod.load(env_file=os.devnull, DATABASE_URL=url))
    return url


@pytest.fixture(scope="session")
def corpus_db_pg(corpus_dir, pg_server) -> str:
    """`corpus_db` on the throwaway PostgreSQL server: the same ingest, for parity and read-only tests."""
    from pipeline import run
    url = pg_server.create_database("corpus")
    run([str(corpus_dir)], settings_mod.load(env_file=os.devnull, DATABASE_URL=url))
    return url


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    """A small realistic export written by the sample generator (deterministic)."""
    from sample import generate
    out = tmp_path_factory.mktemp("sample")
    generate(out, days=14, users=300, seed=7)
    return out


@pytest.fixture(scope="session")
def sample_db(sample_dir, tmp_path_factory) -> str:
    """The small sample ingested once (with transforms); read-only tests share it."""
    from pipeline import run
    url = f"sqlite:///{tmp_path_factory.mktemp('sampledb') / 'sample.db'}"
    run([str(sample_dir)], settings_mod.load(env_file=os.devnull, DATABASE_URL=url))
    return url
