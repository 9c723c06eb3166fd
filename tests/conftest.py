"""Shared fixtures: real databases, the real export (BALANCE_LOGS_CORPUS), sample exports.

`database_url` is the one fixture every database-touching test asks for; the
PostgreSQL support extends it to run the same tests on a real server.

Exports come in three kinds. `corpus_dir` / `corpus_db` / `corpus_db_pg` are the real export, for tests of its
own figures: they are skipped, with one line saying why, when the export is not beside the checkout (and fail
instead with BALANCE_LOGS_REQUIRE_CORPUS=1, as CI sets). `realistic_dir` / `realistic_db` / `realistic_db_pg`
are for tests that only need realistic data: the real export when it is there, else the small sample export
(`sample_dir`). `large_dir` / `large_db` / `large_db_pg` are the same with a sample of the real export's size,
for tests whose ingests must last long enough to overlap.
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


# --- PostgreSQL: the same tests on a real throwaway server (tests/pg.py) ------------------------

PG_DISABLE_ENV = "BALANCE_LOGS_TEST_POSTGRES"  # =0: run only the SQLite variants
PG_REQUIRE_ENV = "BALANCE_LOGS_REQUIRE_POSTGRES"  # =1 (CI): missing binaries fail instead of skipping


@functools.lru_cache(maxsize=1)
def _postgres_status() -> tuple[Path | None, str]:
    """(server binaries or None, the one line the header and the summary print)."""
    if os.environ.get(PG_DISABLE_ENV) == "0":
        return None, f"SKIPPED: disabled by {PG_DISABLE_ENV}=0"
    return pg.availability()


def pytest_report_header(config) -> list[str]:
    return [f"PostgreSQL tests: {_postgres_status()[1]}", f"Real-export tests: {_corpus_status()}"]


def pytest_terminal_summary(terminalreporter) -> None:
    terminalreporter.write_line(f"PostgreSQL tests: {_postgres_status()[1]}")
    terminalreporter.write_line(f"Real-export tests: {_corpus_status()}")


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


# --- the real export, and realistic data: the real export when it is there, else the sample --------------

CORPUS_ENV = "BALANCE_LOGS_CORPUS"  # the real export's folder (make test: ../shared/corpus/balance-sync-logs)
CORPUS_REQUIRE_ENV = "BALANCE_LOGS_REQUIRE_CORPUS"  # =1 (CI): a missing export fails instead of skipping


@functools.lru_cache(maxsize=1)
def _corpus_missing() -> str | None:
    """Why the real export cannot be used (one line), or None when it can."""
    path = os.environ.get(CORPUS_ENV)
    if not path:
        return f"{CORPUS_ENV} is not set (make test sets it to ../shared/corpus/balance-sync-logs)"
    if not Path(path).is_dir():
        return f"the real export is not beside this checkout ({CORPUS_ENV}={path})"
    if next((p for p in Path(path).rglob("*") if p.is_file()), None) is None:
        return f"the real export's folder is empty ({CORPUS_ENV}={path})"
    return None


def _corpus_required() -> bool:
    return os.environ.get(CORPUS_REQUIRE_ENV) == "1"


def _corpus_status() -> str:
    """The one line the header and the summary print."""
    missing = _corpus_missing()
    if missing is None:
        return f"ON ({os.environ[CORPUS_ENV]})"
    if _corpus_required():
        return f"FAILING: required ({CORPUS_REQUIRE_ENV}=1) but {missing}"
    return f"SKIPPED: {missing}; the tests that only need realistic data use the sample export"


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The real export, for tests of its own figures: skipped without it (failed with BALANCE_LOGS_REQUIRE_CORPUS=1)."""
    missing = _corpus_missing()
    if missing is not None:
        if _corpus_required():
            pytest.fail(f"real-export tests are required ({CORPUS_REQUIRE_ENV}=1) but {missing}", pytrace=False)
        pytest.skip(f"{missing}: real-export tests skipped")
    return Path(os.environ[CORPUS_ENV])


def _ingest(path: Path, url: str) -> str:
    """`path` ingested (with transforms) into the database at `url`."""
    from pipeline import run
    run([str(path)], settings_mod.load(env_file=os.devnull, DATABASE_URL=url))
    return url


@pytest.fixture(scope="session")
def corpus_db(corpus_dir, tmp_path_factory) -> str:
    """The real export ingested once (with transforms) into a SQLite file shared by read-only tests."""
    return _ingest(corpus_dir, f"sqlite:///{tmp_path_factory.mktemp('corpus') / 'corpus.db'}")


@pytest.fixture(scope="session")
def corpus_db_pg(corpus_dir, pg_server) -> str:
    """`corpus_db` on the throwaway PostgreSQL server: the same ingest, for parity and read-only tests."""
    return _ingest(corpus_dir, pg_server.create_database("corpus"))


def _use_the_real_export() -> bool:
    """Realistic data is the real export when it is there, and when it is required (then missing, it fails)."""
    return _corpus_missing() is None or _corpus_required()


@pytest.fixture(scope="session")
def realistic_dir(request) -> Path:
    """A realistic export: the real export when it is beside the checkout, else the sample export."""
    return request.getfixturevalue("corpus_dir" if _use_the_real_export() else "sample_dir")


@pytest.fixture(scope="session")
def realistic_db(request, tmp_path_factory) -> str:
    """`realistic_dir` ingested (with transforms) into SQLite: `corpus_db` itself, or the sample in a file of
    its own (not `sample_db`: some tests ingest again into this one)."""
    if _use_the_real_export():
        return request.getfixturevalue("corpus_db")
    return _ingest(request.getfixturevalue("sample_dir"),
                   f"sqlite:///{tmp_path_factory.mktemp('realistic') / 'realistic.db'}")


@pytest.fixture(scope="session")
def realistic_db_pg(request) -> str:
    """`realistic_db` on the throwaway PostgreSQL server: `corpus_db_pg` itself, or the sample ingested there."""
    if _use_the_real_export():
        return request.getfixturevalue("corpus_db_pg")
    return _ingest(request.getfixturevalue("sample_dir"),
                   request.getfixturevalue("pg_server").create_database("realistic"))


@pytest.fixture(scope="session")
def large_dir(request, tmp_path_factory) -> Path:
    """An export whose ingest lasts about as long as the real one's, for ingests that must overlap: the real
    export when it is there, else a sample of about its size (some 86,000 events in 1,500 files)."""
    if _use_the_real_export():
        return request.getfixturevalue("corpus_dir")
    from sample import generate
    out = tmp_path_factory.mktemp("large-sample")
    generate(out, days=42, users=2000, seed=7)
    return out


@pytest.fixture(scope="session")
def large_db(request, tmp_path_factory) -> str:
    """`large_dir` ingested (with transforms) into SQLite: `corpus_db` itself, or the large sample."""
    if _use_the_real_export():
        return request.getfixturevalue("corpus_db")
    return _ingest(request.getfixturevalue("large_dir"), f"sqlite:///{tmp_path_factory.mktemp('large') / 'large.db'}")


@pytest.fixture(scope="session")
def large_db_pg(request) -> str:
    """`large_db` on the throwaway PostgreSQL server: `corpus_db_pg` itself, or the large sample ingested there."""
    if _use_the_real_export():
        return request.getfixturevalue("corpus_db_pg")
    return _ingest(request.getfixturevalue("large_dir"), request.getfixturevalue("pg_server").create_database("large"))


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
    return _ingest(sample_dir, f"sqlite:///{tmp_path_factory.mktemp('sampledb') / 'sample.db'}")
