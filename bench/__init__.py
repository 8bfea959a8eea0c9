"""The side-by-side benchmark harness (``make bench``); not timed tests."""
