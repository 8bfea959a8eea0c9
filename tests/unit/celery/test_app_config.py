"""The Celery app's configuration comes from dagcore's settings and is safe by default."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from celery import Celery
from celery.app.utils import Settings as CeleryConf
from kombu.exceptions import ContentDisallowed
from kombu.serialization import loads, prepare_accept_content

import celery_app.app as app_module
from celery_app.app import check_countdown, check_settings, make_app, max_retry_delay
from celery_app.routing import MIDDLE_STEP, PRIORITY_STEPS
from dagcore.errors import ConfigError
from dagcore.plan import RetryPolicy
from tests.unit.celery.conftest import SettingsFactory

REPO = Path(__file__).resolve().parents[3]


def _conf(app: Celery) -> CeleryConf:
    return app.conf


def test_json_is_the_only_accepted_content(settings_from: SettingsFactory) -> None:
    conf = _conf(make_app(settings_from("")))
    assert conf.task_serializer == "json"
    assert conf.result_serializer == "json"
    assert list(conf.accept_content) == ["json"]
    assert list(conf.result_accept_content) == ["json"]
    accept = prepare_accept_content(conf.accept_content)  # type: ignore[no-untyped-call]
    body = {"kwargs": {"task_id": "T_1"}}
    # kombu applies exactly this check to every message a worker receives.
    decoded = loads(json.dumps(body), "application/json", "utf-8", accept=accept)  # type: ignore[no-untyped-call]
    assert decoded == body
    with pytest.raises(ContentDisallowed):
        loads(pickle.dumps(body), "application/x-python-serialize", "binary", accept=accept)  # type: ignore[no-untyped-call]


def test_delivery_guarantees(settings_from: SettingsFactory) -> None:
    settings = settings_from(
        """
        [celery]
        prefetch_multiplier = 2
        visibility_timeout = 7200
        """
    )
    conf = _conf(make_app(settings))
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 2
    assert conf.task_ignore_result is True
    assert conf.broker_connection_retry_on_startup is True
    options = conf.broker_transport_options
    assert options["visibility_timeout"] == 7200
    assert options["priority_steps"] == list(PRIORITY_STEPS)
    assert options["queue_order_strategy"] == "priority"
    assert conf.task_default_priority == MIDDLE_STEP


def test_broker_url_comes_from_the_file_then_the_environment(
    settings_from: SettingsFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = '[celery]\nbroker_url = "redis://file-host:6379/1"\n'
    assert make_app(settings_from(text)).conf.broker_url == "redis://file-host:6379/1"
    monkeypatch.setenv("DAGCORE_BROKER_URL", "redis://env-host:6380/2")
    assert make_app(settings_from(text)).conf.broker_url == "redis://env-host:6380/2"


def test_queues_are_the_configured_ones(settings_from: SettingsFactory) -> None:
    settings = settings_from(
        """
        [queues.gpu]
        concurrency = 1
        resources = ["gpu"]

        [queues.io]
        resource_classes = ["io"]
        """
    )
    conf = _conf(make_app(settings))
    names = [queue.name for queue in conf.task_queues]
    assert sorted(names) == sorted(q.name for q in settings.queues) == ["default", "gpu", "io"]
    assert conf.task_default_queue == "default"
    for queue in conf.task_queues:
        assert queue.routing_key == queue.name


@pytest.mark.parametrize("events", [True, False])
def test_task_events_follow_the_settings(settings_from: SettingsFactory, events: bool) -> None:
    conf = _conf(make_app(settings_from(f"[celery]\ntask_events = {str(events).lower()}\n")))
    assert conf.worker_send_task_events is events
    # "task-sent" events stay off: workers publish most messages, and Flower needs only
    # the workers' own events.
    assert conf.task_send_sent_event is False


def test_make_app_does_not_become_the_current_app(settings_from: SettingsFactory) -> None:
    from celery import current_app

    before = current_app._get_current_object()
    make_app(settings_from(""))
    assert current_app._get_current_object() is before


def test_importing_the_package_reads_no_config_and_imports_no_celery(tmp_path: Path) -> None:
    # A configuration that fails to load proves that nothing reads it at import time.
    code = (
        "import sys, celery_app, celery_app.routing, celery_app.fingerprint\n"
        "assert 'celery' not in sys.modules, 'celery imported'\n"
        "try:\n"
        "    celery_app.app\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        "DAGCORE_CONFIG_PATH": str(tmp_path / "missing.toml"),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ConfigError"


def test_module_attribute_app_is_created_lazily_from_the_config(
    settings_from: SettingsFactory,
) -> None:
    app_module.default_app.cache_clear()
    try:
        settings_from('[celery]\nbroker_url = "redis://lazy-host:6379/3"\n')
        app = app_module.app
        assert isinstance(app, Celery)
        assert app.conf.broker_url == "redis://lazy-host:6379/3"
        assert app_module.app is app
    finally:
        app_module.default_app.cache_clear()


def test_max_retry_delay_is_the_last_retry() -> None:
    policy = RetryPolicy(count=3, delay=10.0, backoff=2.0)
    assert max_retry_delay(policy) == policy.delay_before(4) == 40.0
    assert max_retry_delay(RetryPolicy(count=0, delay=99.0)) == 0.0
    assert max_retry_delay(RetryPolicy(count=2, delay=5.0, backoff=1.0)) == 5.0


def test_check_countdown_refuses_a_delay_reaching_the_visibility_timeout() -> None:
    check_countdown(3599.0, 3600, "retry_delay of Transform")
    with pytest.raises(ConfigError, match="retry_delay of Transform.*visibility_timeout"):
        check_countdown(3600.0, 3600, "retry_delay of Transform")


def test_check_settings_refuses_a_worker_timeout_above_the_visibility_timeout(
    settings_from: SettingsFactory,
) -> None:
    settings = settings_from(
        """
        [celery]
        broker_url = "memory://localhost/"
        visibility_timeout = 600

        [worker]
        timeout = 900
        """
    )
    with pytest.raises(ConfigError, match=r"\[worker\] timeout.*\[celery\] visibility_timeout"):
        check_settings(make_app(settings), settings)


def test_check_settings_refuses_a_retry_delay_above_the_visibility_timeout(
    settings_from: SettingsFactory,
) -> None:
    settings = settings_from(
        """
        [core]
        retry_count = 3
        retry_delay = 100
        retry_backoff = 3

        [celery]
        broker_url = "memory://localhost/"
        visibility_timeout = 600
        """
    )
    # The third retry waits 100 * 3**2 = 900 seconds.
    with pytest.raises(ConfigError, match="retry_delay.*900"):
        check_settings(make_app(settings), settings)


def test_check_settings_accepts_timings_below_the_visibility_timeout(
    settings_from: SettingsFactory,
) -> None:
    settings = settings_from(
        """
        [core]
        retry_count = 2
        retry_delay = 60

        [celery]
        broker_url = "memory://localhost/"
        visibility_timeout = 600

        [worker]
        timeout = 599
        """
    )
    # A non-Redis broker skips the server checks, so nothing is contacted.
    assert check_settings(make_app(settings), settings) == []
