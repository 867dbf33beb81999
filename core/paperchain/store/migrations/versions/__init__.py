"""The kernel's Alembic revisions (a package so that the wheel ships them)."""
