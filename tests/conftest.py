"""Shared fixtures: real databases, the real corpus (when BALANCE_LOGS_CORPUS is set), a small sample export.

`database_url` is the one fixture every database-touching test asks for; the
PostgreSQL support extends it to run the same tests on a real server.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import settings as settings_mod  # noqa: E402


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    path = os.environ.get("BALANCE_LOGS_CORPUS")
    if not path:
        pytest.skip("BALANCE_LOGS_CORPUS is not set (make test sets it to ../shared/corpus/balance-sync-logs)")
    if not Path(path).is_dir():
        pytest.fail(f"BALANCE_LOGS_CORPUS={path} is not a folder")
    return Path(path)


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'balance_logs.db'}"


@pytest.fixture
def make_settings(database_url):
    def build(**overrides):
        return settings_mod.load(env_file=os.devnull, DATABASE_URL=overrides.pop("DATABASE_URL", database_url),
                                 **overrides)
    return build


@pytest.fixture(scope="session")
def corpus_db(corpus_dir, tmp_path_factory) -> str:
    """The real export ingested once (with transforms) into a SQLite file shared by read-only tests."""
    from ingest.run import run
    url = f"sqlite:///{tmp_path_factory.mktemp('corpus') / 'corpus.db'}"
    run([str(corpus_dir)], settings_mod.load(env_file=os.devnull, DATABASE_URL=url))
    return url


@pytest.fixture(scope="session")
def sample_dir(tmp_path_factory) -> Path:
    """A small realistic export written by ingest.sample (deterministic)."""
    from ingest.sample import generate
    out = tmp_path_factory.mktemp("sample")
    generate(out, days=14, users=300, seed=7)
    return out


@pytest.fixture(scope="session")
def sample_db(sample_dir, tmp_path_factory) -> str:
    """The small sample ingested once (with transforms); read-only tests share it."""
    from ingest.run import run
    url = f"sqlite:///{tmp_path_factory.mktemp('sampledb') / 'sample.db'}"
    run([str(sample_dir)], settings_mod.load(env_file=os.devnull, DATABASE_URL=url))
    return url
