"""check_settings reads a real Redis' configuration: eviction, persistence, idle timeout, ACLs."""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import redis

from celery_app.app import check_settings
from tests.integration.celery.conftest import CeleryEnv

pytestmark = pytest.mark.integration

CHECKED = ("maxmemory-policy", "save", "appendonly", "timeout")
DURABLE = {"maxmemory-policy": "noeviction", "save": "3600 1", "appendonly": "no", "timeout": "0"}


@pytest.fixture
def server(celery_env: CeleryEnv) -> Iterator[redis.Redis[bytes]]:
    """The broker, set up like a durable one; its checked settings are restored afterwards."""
    client = celery_env.client()
    saved = {name: client.config_get(name)[name] for name in CHECKED}
    for name, value in DURABLE.items():
        client.config_set(name, value)
    yield client
    for name, value in saved.items():
        client.config_set(name, value)
    client.close()


def test_a_durable_broker_passes(celery_env: CeleryEnv, server: redis.Redis[bytes]) -> None:
    assert check_settings(celery_env.app(), celery_env.settings) == []


def test_eviction_is_reported(
    celery_env: CeleryEnv, server: redis.Redis[bytes], caplog: pytest.LogCaptureFixture
) -> None:
    server.config_set("maxmemory-policy", "allkeys-lru")
    with caplog.at_level(logging.WARNING, logger="celery_app.app"):
        [warning] = check_settings(celery_env.app(), celery_env.settings)
    assert "maxmemory-policy is 'allkeys-lru'" in warning and "noeviction" in warning
    assert warning in caplog.text


def test_missing_persistence_is_reported(celery_env: CeleryEnv, server: redis.Redis[bytes]) -> None:
    server.config_set("save", "")
    [warning] = check_settings(celery_env.app(), celery_env.settings)
    assert "persistence is off" in warning and "appendonly yes" in warning
    server.config_set("appendonly", "yes")
    assert check_settings(celery_env.app(), celery_env.settings) == []


def test_a_short_idle_timeout_is_reported(
    celery_env: CeleryEnv, server: redis.Redis[bytes]
) -> None:
    server.config_set("timeout", 10)
    [warning] = check_settings(celery_env.app(), celery_env.settings)
    assert "idle for 10s" in warning and "timeout 0" in warning
    server.config_set("timeout", 300)
    assert check_settings(celery_env.app(), celery_env.settings) == []


def test_a_user_without_config_rights_is_tolerated(
    celery_env: CeleryEnv, server: redis.Redis[bytes], caplog: pytest.LogCaptureFixture
) -> None:
    server.config_set("maxmemory-policy", "allkeys-lru")  # would be reported if readable
    user, password = f"dagcore-test-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    server.acl_setuser(
        user,
        enabled=True,
        passwords=[f"+{password}"],
        keys=["*"],
        channels=["*"],
        commands=["+@all", "-config"],
    )
    try:
        broker = urlsplit(celery_env.redis_url)
        app = celery_env.app()
        app.conf.broker_url = f"redis://{user}:{password}@{broker.hostname}:{broker.port}/0"
        with caplog.at_level(logging.INFO, logger="celery_app.app"):
            assert check_settings(app, celery_env.settings) == []
        assert "cannot read the broker's configuration" in caplog.text
    finally:
        server.acl_deluser(user)


def test_an_unreachable_broker_is_only_a_warning(
    celery_env: CeleryEnv, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = celery_env.app()
    app.conf.broker_url = f"redis://127.0.0.1:{port}/0"  # nothing listens there any more
    with caplog.at_level(logging.WARNING, logger="celery_app.app"):
        assert check_settings(app, celery_env.settings) == []
    assert "cannot reach the broker" in caplog.text
