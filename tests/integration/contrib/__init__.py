"""Integration tests of dagcore.contrib: S3, SQLAlchemy, pandas and versioned outputs."""
