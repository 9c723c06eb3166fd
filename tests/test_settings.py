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


def test_passwords_never_reach_logs():
    assert "s3cret" not in settings.redact_url("postgresql+psycopg://app:s3cret@db/balance")
