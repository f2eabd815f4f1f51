"""The local store: tables, engine, migrations and bulk upsert helpers."""
