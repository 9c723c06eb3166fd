"""Every setting is declared once and documented everywhere it must be."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import settings

ROOT = Path(__file__).resolve().parents[1]


def test_env_example_lists_every_setting():
    assert (ROOT / ".env.example").read_text() == settings.env_example(), \
        "regenerate it: python settings.py > .env.example"


def test_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    missing = [s.name for s in settings.SETTINGS if f"`{s.name}`" not in readme]
    assert not missing, f"README.md settings table lacks {missing}"


def test_precedence_flag_over_environment_over_file(tmp_path, monkeypatch):
    env_file = tmp_path / ".env"
    env_file.write_text("LOG_DIR=from-file\nBUSINESS_TZ=+04:00\nDASH_PORT=1\n")
    monkeypatch.setenv("BUSINESS_TZ", "+05:00")
    loaded = settings.load(env_file, DASH_PORT="2")
    assert (loaded["LOG_DIR"], loaded["BUSINESS_TZ"], loaded["DASH_PORT"]) == ("from-file", "+05:00", "2")


def test_unusable_values_are_named():
    with pytest.raises(settings.SettingsError, match="BALANCE_TOLERANCE"):
        settings.load(os.devnull, BALANCE_TOLERANCE="a lot")


@pytest.mark.parametrize("url, shown", [
    ("postgresql+psycopg://app:s3cret@db/balance", "postgresql+psycopg://app:***@db/balance"),
    ("postgresql+psycopg://app:s3%40cret@db:5433/balance", "postgresql+psycopg://app:***@db:5433/balance"),
    ("postgresql+psycopg://app@db/balance?password=s3cret&sslmode=require",
     "postgresql+psycopg://app@db/balance?sslmode=require&password=***"),
    # an '@' left unescaped in the password: nothing of the URL is shown, not even the end of the password
    ("postgresql+psycopg://app:s3@cret@db/balance", "<database url not shown: it cannot be read>"),
    ("postgresql+psycopg://app:s3@cr:et@db:5432/balance", "<database url not shown: it cannot be read>"),
    ("postgresql+psycopg://app:s3@cr/et@db/balance", "<database url not shown: it cannot be read>"),
    ("not a url s3cret", "<database url not shown: it cannot be read>"),
    ("sqlite:///data/balance_logs.db", "sqlite:///data/balance_logs.db"),
])
def test_passwords_never_reach_logs(url, shown):
    assert settings.redact_url(url) == shown


@pytest.mark.parametrize("url", ["postgresql+psycopg://app:s3@cret@db/balance",
                                 "postgresql+psycopg://app:s3@cr:et@db:5432/balance", "not a url s3cret"])
def test_an_unreadable_database_url_is_refused_without_quoting_it(url):
    with pytest.raises(settings.SettingsError) as exc:
        settings.read_database_url(url)
    assert "DATABASE_URL" in str(exc.value) and "%40" in str(exc.value)
    assert "s3" not in str(exc.value) and "cret" not in str(exc.value)


def test_an_at_sign_in_a_sqlite_path_is_a_path():
    assert settings.read_database_url("sqlite:////srv/team@site/balance.db").database == "/srv/team@site/balance.db"
