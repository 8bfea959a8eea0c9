"""Integration tests: real services (Redis, PostgreSQL, an S3 server, workers) from fixtures."""
