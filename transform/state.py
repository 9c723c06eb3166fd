"""What the last build was made from, and whether it still holds (no need to rebuild).

Its own small module: every ingest asks `is_current()`, and a re-run on unchanged input should not pay
for importing the whole transform runner to hear "yes".
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from db import generation
from settings import Settings
from transform.params import Params, from_settings

# What the last build was made from: the ingest generation (db/generation.py: it grows with every change of
# the ingest tables and never repeats), every parameter and the transforms' own code. When none changed, an
# ingest that stored nothing need not rebuild (a re-run on unchanged input stays fast); when only the
# generation did, a build may rebuild what changed only (transform/scope.py).
STATE_TABLE = "transform_state"
HERE = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def code_version(folder: Path = HERE) -> str:
    """A digest of every SQL and Python file of transform/: a new version whose transforms changed rebuilds
    (its tables may have other columns or rules) even when no log and no setting changed."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.suffix in (".sql", ".py", ".yml")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def fingerprint_parts(conn: Connection, params: Params) -> dict[str, str]:
    return {"generation": str(generation.current(conn)), "code": code_version(),
            "params": repr(sorted(params.bind().items()))}


def _fingerprint(parts: dict[str, str]) -> str:
    return ";".join(f"{k}={v}" for k, v in parts.items())


def built_from(conn: Connection) -> dict[str, str] | None:
    """The parts of the last build's fingerprint, or None when there was none."""
    if not inspect(conn).has_table(STATE_TABLE):
        return None
    built = conn.execute(text(f"SELECT value FROM {STATE_TABLE} WHERE key = 'fingerprint'")).scalar()
    if built is None:
        return None
    parts = {}
    for name in ("generation", "code"):  # (params last: its repr may hold any character)
        head, _, built = built.partition(";")
        key, _, value = head.partition("=")
        parts[key] = value
    key, _, parts["params"] = built.partition("=")
    return parts


def is_current(engine: Engine, settings: Settings) -> bool:
    """True when the derived tables were built from exactly the data and settings there are now."""
    with engine.connect() as conn:
        return built_from(conn) == fingerprint_parts(conn, from_settings(settings))


def forget_state(conn: Connection) -> None:
    """No record of a build (inside a build's transaction, which records the new one when it is done)."""
    conn.execute(text(f"CREATE TABLE IF NOT EXISTS {STATE_TABLE} (key VARCHAR(40) PRIMARY KEY, value TEXT)"))
    conn.execute(text(f"DELETE FROM {STATE_TABLE}"))


def record_state(conn: Connection, params: Params) -> None:
    forget_state(conn)
    conn.execute(text(f"INSERT INTO {STATE_TABLE} (key, value) VALUES ('fingerprint', :v)"),
                 {"v": _fingerprint(fingerprint_parts(conn, params))})
