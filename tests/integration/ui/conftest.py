"""The Celery fixtures (real Redis, real ``dagcore worker`` processes) for the UI's tests."""

from __future__ import annotations

from tests.integration.celery.conftest import (  # noqa: F401 - fixtures
    celery_env,
    dagcore_redis_proc,
    redis_url,
    start_worker,
)
