"""Database access: engine, schema, migrations, exact money."""
from db.sqlite_library import disable_memory_statistics

disable_memory_statistics()  # before anything imports sqlite3, which initialises SQLite (db/sqlite_library.py)

from db.engine import make_engine  # noqa: E402,F401
