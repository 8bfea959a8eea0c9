"""Fixtures for the Celery integration tests (several helpers add to this file; only add).

* ``redis_url`` gives each test a real, empty Redis: ``$DAGCORE_TEST_REDIS_URL`` when set, else
  a ``redis-server`` that pytest-redis starts once per session on a free port of its own (so the
  tests never touch a developer's Redis on 6379). The database is flushed before and after
  every test.
* ``celery_env`` points this process at that Redis (``DAGCORE_BROKER_URL``) and, through
  ``celery_env.configure(toml)``, at a dagcore.toml of the test's own (``DAGCORE_CONFIG_PATH``);
  ``celery_env.app()`` is a Celery app configured from it, for sending messages and inspecting.
* ``start_worker(modules=[...], queues=..., concurrency=..., handler=..., extra=[...])`` starts
  a real ``dagcore worker`` subprocess with that environment, waits for Celery's ``ready`` line
  and returns a :class:`~tests.integration.celery.workerproc.WorkerProcess`; every worker it
  started is stopped (SIGTERM, then SIGKILL of its process group) at teardown.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import kombu.pools
import pytest
import redis
from celery import Celery
from pytest_redis import factories

from celery_app.app import make_app
from dagcore.configuration import reset_config
from dagcore.configuration.settings import Settings
from tests.integration.celery.workerproc import REPO, WorkerProcess, worker_command

REDIS_URL_ENV = "DAGCORE_TEST_REDIS_URL"

# A session-wide redis-server on a random free port; named so that it does not shadow the
# plugin's own ``redis_proc`` fixture (which uses the fixed port from the pytest-redis config).
dagcore_redis_proc = factories.redis_proc(port=None)  # type: ignore[arg-type]  # None: any free port


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Yield the URL of an empty Redis database, flushed again after the test."""
    url = os.environ.get(REDIS_URL_ENV)
    if not url:
        server = request.getfixturevalue("dagcore_redis_proc")
        url = f"redis://{server.host}:{server.port}/0"
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
        yield url
        client.flushdb()
    finally:
        client.close()


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers these tests use (add further ones here)."""
    config.addinivalue_line(
        "markers", "slow: takes 30 seconds or more; deselect with -m 'not slow'"
    )


class CeleryEnv:
    """The broker and configuration shared by a test and the workers it starts."""

    def __init__(self, redis_url: str, directory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.redis_url = redis_url
        self.directory = directory
        self.config_path = directory / "dagcore-celery-test.toml"
        self._monkeypatch = monkeypatch
        monkeypatch.setenv("DAGCORE_BROKER_URL", redis_url)
        # Teardown stops workers with SIGTERM: a short soft shutdown keeps that quick.
        monkeypatch.setenv("DAGCORE__WORKER__SHUTDOWN_TIMEOUT", "2")
        self.settings = self.configure("")
        with self.client() as client:
            try:
                # pytest-redis starts redis-server with --timeout 15, below kombu's 25 s
                # connection health check, so a pooled connection left idle 15-25 s fails.
                # A broker runs with timeout 0 (check_settings warns otherwise).
                client.config_set("timeout", 0)
            except redis.exceptions.ResponseError:
                pass  # CONFIG refused on a provided server: keep its own setting

    def configure(self, toml: str) -> Settings:
        """Make ``toml`` the configuration of this process and of workers started from now on."""
        self.config_path.write_text(toml, encoding="utf-8")
        self._monkeypatch.setenv("DAGCORE_CONFIG_PATH", str(self.config_path))
        reset_config()
        self.settings = Settings.from_config()
        return self.settings

    def app(self) -> Celery:
        """A Celery app configured like the workers' (to send messages and inspect them)."""
        return make_app(self.settings)

    def client(self) -> redis.Redis[bytes]:
        """A Redis client of the broker database (close it after use)."""
        return redis.Redis.from_url(self.redis_url)


@pytest.fixture
def celery_env(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[CeleryEnv]:
    """Point dagcore in this process at the test Redis, with an empty configuration."""
    yield CeleryEnv(redis_url, tmp_path, monkeypatch)
    reset_config()
    # Celery apps share kombu's process-wide connection pools; close what this test opened.
    kombu.pools.reset()  # type: ignore[no-untyped-call]


class StartWorker(Protocol):
    """The type of the ``start_worker`` fixture."""

    def __call__(
        self,
        modules: Sequence[str],
        *,
        queues: Sequence[str] = (),
        concurrency: int | None = 1,
        handler: str | None = None,
        extra: Sequence[str] = (),
        wait_ready: bool = True,
    ) -> WorkerProcess:
        """Start a worker; see the fixture."""


@pytest.fixture
def start_worker(celery_env: CeleryEnv) -> Iterator[StartWorker]:
    """Start real ``dagcore worker`` subprocesses on the test's broker and configuration.

    Arguments of the returned callable: ``modules`` (``--module``), ``queues`` (``--queues``;
    default: every configured queue), ``concurrency`` (``--concurrency``; None: the configured
    one), ``handler`` (``--handler MODULE:FUNCTION``; None: the Celery executor's own),
    ``extra`` (more worker options) and ``wait_ready`` (wait for the ``ready`` line). Gossip and
    mingle are off (they only slow the start-up) and every worker gets a unique node name.
    """
    started: list[WorkerProcess] = []

    def start(
        modules: Sequence[str],
        *,
        queues: Sequence[str] = (),
        concurrency: int | None = 1,
        handler: str | None = None,
        extra: Sequence[str] = (),
        wait_ready: bool = True,
    ) -> WorkerProcess:
        argv = worker_command()
        for module in modules:
            argv += ["--module", module]
        if queues:
            argv += ["--queues", ",".join(queues)]
        if concurrency is not None:
            argv += ["--concurrency", str(concurrency)]
        if handler is not None:
            argv += ["--handler", handler]
        argv += ["-n", f"itest-{uuid.uuid4().hex[:10]}@%h", "--without-gossip", "--without-mingle"]
        argv += list(extra)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
        env["PYTHONUNBUFFERED"] = "1"
        worker = WorkerProcess(argv, env, celery_env.directory)
        started.append(worker)
        if wait_ready:
            worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()
