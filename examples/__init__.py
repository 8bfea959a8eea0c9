"""Runnable example pipelines."""
