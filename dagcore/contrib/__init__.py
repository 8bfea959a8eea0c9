"""Optional integrations: S3, SQL databases through SQLAlchemy, pandas, versioned outputs."""
