"""Typed settings: defaults, validation messages, queues and routing, Luigi's retcodes."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from luigi.retcodes import retcode as luigi_retcode

from dagcore.configuration import get_config
from dagcore.configuration.schema import QUEUE_KEYS, SECTION_KEYS
from dagcore.configuration.settings import (
    DEFAULT_BROKER_URL,
    DEFAULT_HISTORY_URL,
    CelerySettings,
    CoreSettings,
    HistorySettings,
    QueueSettings,
    RetcodeSettings,
    Settings,
    WorkerSettings,
    queues,
    resources,
)
from dagcore.errors import ConfigError

Write = Callable[[str, str], Path]


def test_everything_has_a_default() -> None:
    settings = Settings.from_config()
    assert settings.core == CoreSettings()
    assert settings.core.executor == "local"
    assert settings.core.complete_check_threads == 16
    assert (settings.core.retry_count, settings.core.retry_delay) == (0, 0.0)
    assert settings.worker == WorkerSettings()
    assert settings.history.url == DEFAULT_HISTORY_URL == "sqlite:///.dagcore/history.db"
    assert settings.celery.broker_url == DEFAULT_BROKER_URL == "redis://localhost:6379/0"
    assert (settings.celery.visibility_timeout, settings.celery.key_prefix) == (3600, "dagcore")
    assert settings.retcode == RetcodeSettings()
    assert dict(settings.resources) == {}
    assert settings.queues == (QueueSettings("default", concurrency=os.cpu_count() or 1),)


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        CoreSettings().workers = 2  # type: ignore[misc]


def test_schema_lists_exactly_the_settings_fields() -> None:
    """Unknown-key warnings and the settings classes must agree on every section's keys."""
    classes = {
        "core": CoreSettings,
        "worker": WorkerSettings,
        "history": HistorySettings,
        "celery": CelerySettings,
        "retcode": RetcodeSettings,
    }
    assert set(classes) == set(SECTION_KEYS)
    for section, cls in classes.items():
        assert {f.name for f in dataclasses.fields(cls)} == SECTION_KEYS[section], section
    queue_fields = {f.name for f in dataclasses.fields(QueueSettings)} - {"name"}
    assert queue_fields - {"memory_bytes"} | {"memory"} == QUEUE_KEYS


def test_retcode_keys_are_luigis_and_defaults_are_non_zero() -> None:
    # Same keys as Luigi's [retcode]; defaults are the values Luigi's docs recommend, so a
    # failed run never exits 0 (Luigi's built-in defaults are 0 for everything but crashes).
    recommended = {
        "already_running": 10,
        "missing_data": 20,
        "not_run": 25,
        "task_failed": 30,
        "scheduling_error": 35,
        "unhandled_exception": 40,
    }
    for field in dataclasses.fields(RetcodeSettings):
        assert hasattr(luigi_retcode, field.name), field.name
        assert field.default == recommended[field.name], field.name
    assert len(dataclasses.fields(RetcodeSettings)) == len(recommended)


def test_core_settings_from_file(write_file: Write) -> None:
    write_file(
        "dagcore.toml",
        """
        [core]
        executor = "Celery"
        workers = 4
        log_level = "debug"
        log_format = "json"
        complete_check_threads = 32
        retry_count = 2
        retry_delay = 5
        retry_backoff = 2.0
        """,
    )
    assert CoreSettings.from_config() == CoreSettings(
        executor="celery",
        workers=4,
        log_level="DEBUG",
        log_format="json",
        complete_check_threads=32,
        retry_count=2,
        retry_delay=5.0,
        retry_backoff=2.0,
    )


@pytest.mark.parametrize(
    ("key", "toml_value", "message"),
    [
        ("executor", '"dask"', "executor: expected one of 'local', 'celery', got 'dask'"),
        ("workers", "0", "workers: expected a positive integer, got 0"),
        ("log_level", '"LOUD"', "log_level: expected one of 'NOTSET', 'DEBUG'"),
        ("log_format", '"xml"', "log_format: expected one of 'text', 'json', got 'xml'"),
        ("complete_check_threads", '"many"', "complete_check_threads: expected a positive"),
        ("retry_count", "-1", "retry_count: expected a non-negative integer, got -1"),
        ("retry_delay", "-0.5", "retry_delay: expected a non-negative number, got -0.5"),
        ("retry_backoff", "0.5", "retry_backoff: expected a number >= 1.0, got 0.5"),
    ],
)
def test_core_settings_validation_names_file_section_key(
    write_file: Write, key: str, toml_value: str, message: str
) -> None:
    write_file("dagcore.toml", f"[core]\n{key} = {toml_value}\n")
    with pytest.raises(ConfigError) as error:
        CoreSettings.from_config()
    assert str(error.value).startswith(f"dagcore.toml [core] {message}")


def test_resources_bad_value_message(write_file: Write) -> None:
    write_file("dagcore.toml", '[resources]\ngpu = "two"\n')
    with pytest.raises(ConfigError) as error:
        resources()
    assert str(error.value) == (
        "dagcore.toml [resources] gpu: expected a non-negative integer, got 'two'"
    )


def test_queues_from_file_with_default_first(write_file: Write) -> None:
    write_file(
        "dagcore.toml",
        """
        [resources]
        gpu = 2

        [queues.gpu]
        concurrency = 1
        memory = "16GiB"
        resources = ["gpu"]

        [queues.highmem]
        memory = 4096
        resource_classes = ["highmem", "xl"]

        [queues.default]
        concurrency = 8
        """,
    )
    found = queues()
    assert [queue.name for queue in found] == ["default", "gpu", "highmem"]
    default, gpu, highmem = found
    assert default.concurrency == 8
    assert (gpu.concurrency, gpu.memory_bytes, gpu.resources) == (1, 16 * 1024**3, ("gpu",))
    assert highmem.memory_bytes == 4096 * 1024**2
    assert highmem.resource_classes == ("highmem", "xl")
    assert highmem.concurrency == (os.cpu_count() or 1)


def test_default_queue_is_added_when_not_configured(write_file: Write) -> None:
    write_file("dagcore.toml", "[queues.gpu]\nconcurrency = 1\n")
    assert [queue.name for queue in queues()] == ["default", "gpu"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (512, 512 * 1024**2),
        ('"512"', 512 * 1024**2),
        ('"2GiB"', 2 * 1024**3),
        ('"2G"', 2 * 1000**3),
        ('"4Gi"', 4 * 1024**3),
        ('"1.5 GiB"', int(1.5 * 1024**3)),
        ('"300MB"', 300 * 1000**2),
        ('"100kib"', 100 * 1024),
    ],
)
def test_queue_memory_units(write_file: Write, raw: str, expected: int) -> None:
    write_file("dagcore.toml", f"[queues.default]\nmemory = {raw}\n")
    assert queues()[0].memory_bytes == expected


@pytest.mark.parametrize("raw", ['"lots"', '"2XB"', "-1", "true", '"2 GiB extra"'])
def test_queue_memory_rejects_nonsense(write_file: Write, raw: str) -> None:
    write_file("dagcore.toml", f"[queues.default]\nmemory = {raw}\n")
    with pytest.raises(ConfigError, match=r"^dagcore\.toml \[queues\.default\] memory: expected"):
        queues()


def test_queues_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGCORE__QUEUES__GPU__CONCURRENCY", "2")
    monkeypatch.setenv("DAGCORE__QUEUES__GPU__RESOURCES", "gpu,tpu")
    monkeypatch.setenv("DAGCORE__QUEUES__GPU__MEMORY", "8GiB")
    gpu = queues()[1]
    assert (gpu.name, gpu.concurrency, gpu.resources) == ("gpu", 2, ("gpu", "tpu"))
    assert gpu.memory_bytes == 8 * 1024**3


@pytest.mark.parametrize("key", ["resources", "resource_classes"])
def test_a_name_routed_to_two_queues_is_an_error(write_file: Write, key: str) -> None:
    write_file(
        "dagcore.toml",
        f'[queues.a]\n{key} = ["gpu"]\n[queues.b]\n{key} = ["cpu", "gpu"]\n',
    )
    with pytest.raises(ConfigError, match=rf"^dagcore\.toml \[queues\.b\] {key}: 'gpu' is already"):
        queues()


def test_queue_names_must_be_plain(write_file: Write) -> None:
    write_file("dagcore.toml", "[queues.gpu.big]\nconcurrency = 1\n")
    with pytest.raises(ConfigError, match=r"invalid queue name 'gpu\.big'.*dagcore\.toml"):
        queues()


def test_queue_list_values_must_be_names(write_file: Write) -> None:
    write_file("dagcore.toml", "[queues.gpu]\nresources = [1, 2]\n")
    with pytest.raises(ConfigError, match=r"\[queues\.gpu\] resources: expected a list of names"):
        queues()


def test_celery_settings_validation(write_file: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    write_file(
        "dagcore.toml",
        """
        [celery]
        visibility_timeout = 7200
        key_prefix = "etl"
        result_backend = ""
        max_redeliveries = 0
        task_events = "off"
        """,
    )
    monkeypatch.setenv("DAGCORE_BROKER_URL", "redis://broker:6379/2")
    celery = CelerySettings.from_config()
    assert celery.broker_url == "redis://broker:6379/2"
    assert (celery.visibility_timeout, celery.key_prefix) == (7200, "etl")
    assert celery.result_backend is None
    assert (celery.max_redeliveries, celery.task_events) == (0, False)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("broker_url", '"localhost"', "broker_url: expected a URL"),
        ("visibility_timeout", "0", "visibility_timeout: expected a positive integer"),
        ("key_prefix", '"my prefix"', "key_prefix: expected a non-empty prefix"),
        ("prefetch_multiplier", "0", "prefetch_multiplier: expected a positive integer"),
        ("lease_seconds", '"soon"', "lease_seconds: expected a positive integer"),
    ],
)
def test_celery_settings_errors(write_file: Write, key: str, value: str, message: str) -> None:
    write_file("dagcore.toml", f"[celery]\n{key} = {value}\n")
    with pytest.raises(ConfigError, match=rf"^dagcore\.toml \[celery\] {message}"):
        CelerySettings.from_config()


def test_history_url_from_environment_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAGCORE_HISTORY_URL", "postgresql+psycopg://postgres@127.0.0.1/history")
    assert HistorySettings.from_config().url == "postgresql+psycopg://postgres@127.0.0.1/history"
    monkeypatch.setenv("DAGCORE_HISTORY_URL", "history.db")
    get_config().reload()
    with pytest.raises(ConfigError, match=r"^environment variable DAGCORE_HISTORY_URL"):
        HistorySettings.from_config()


def test_retcode_must_be_an_exit_status(write_file: Write) -> None:
    write_file("luigi.cfg", "[retcode]\ntask_failed = 300\n")
    with pytest.raises(ConfigError, match=r"^luigi\.cfg \[retcode\] task_failed: .*0 and 255"):
        RetcodeSettings.from_config()


def test_worker_settings_lists(write_file: Write) -> None:
    write_file(
        "dagcore.toml",
        '[worker]\nqueues = ["gpu"]\nmodules = "examples.etl, examples.ml"\n[queues.gpu]\n',
    )
    worker = Settings.from_config().worker
    assert worker.queues == ("gpu",)
    assert worker.modules == ("examples.etl", "examples.ml")


def test_worker_queues_must_be_configured(write_file: Write) -> None:
    write_file("dagcore.toml", '[worker]\nqueues = ["default", "gpu"]\n')
    with pytest.raises(ConfigError, match=r"^dagcore\.toml \[worker\] queues: no queue named gpu"):
        Settings.from_config()


def test_settings_use_an_explicit_config_object() -> None:
    cfg = get_config()
    cfg.set("core", "workers", "6")
    cfg.set("resources", "gpu", 1)
    settings = Settings.from_config(cfg)
    assert settings.core.workers == 6
    assert dict(settings.resources) == {"gpu": 1}
