"""Durable storage: the SQLite database (schema, group-commit journal) and the blob store."""
