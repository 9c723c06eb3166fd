"""Database access: engine, schema, migrations, exact money."""
from db.engine import DatabaseError, make_engine  # noqa: F401
