"""dagcore.executor."""
