"""Database access: engine, schema, migrations, the ingest lock, batched writes, exact money, SQLite's PRAGMAs."""
