"""Alembic migrations of the history schema; the store applies them on first use."""
