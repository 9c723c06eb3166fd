"""Database access: engine, schema, migrations, exact money."""
