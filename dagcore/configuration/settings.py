"""Typed, validated settings built from the configuration.

Each settings class is a frozen dataclass whose fields are the keys of one section; its
``from_config`` reads and checks them and raises :class:`~dagcore.errors.ConfigError` naming the
file, section and key of a bad value. Components take a settings object instead of a long list
of keyword arguments. :meth:`Settings.from_config` builds and cross-checks all of them at once,
which is what a command should do at start-up so that a bad value fails before anything runs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, cast

from dagcore.configuration.core import DagcoreConfig
from dagcore.configuration.parsers import get_config
from dagcore.configuration.schema import QUEUE_PREFIX
from dagcore.configuration.values import (
    bounded_float,
    bounded_int,
    one_of,
    to_bool,
    to_memory_bytes,
    to_str,
    to_str_list,
)
from dagcore.errors import ConfigError

Executor = Literal["local", "celery"]
LogFormat = Literal["text", "json"]

DEFAULT_QUEUE = "default"
DEFAULT_BROKER_URL = "redis://localhost:6379/0"
DEFAULT_HISTORY_URL = "sqlite:///.dagcore/history.db"
DEFAULT_HEARTBEAT_FILE = "/tmp/dagcore-worker.heartbeat"

_URL_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
_NAME_RE = re.compile(r"^[A-Za-z0-9_\-]+$")


def _config(cfg: DagcoreConfig | None) -> DagcoreConfig:
    return get_config() if cfg is None else cfg


def _url(raw: Any) -> str:
    text = to_str(raw).strip()
    if not _URL_RE.match(text):
        raise ValueError("expected a URL such as redis://host:6379/0 or sqlite:///path.db")
    return text


def _optional_url(raw: Any) -> str | None:
    if isinstance(raw, str) and not raw.strip():
        return None
    return _url(raw)


def _file_path(raw: Any) -> str:
    text = to_str(raw).strip()
    if not text or "\0" in text:
        raise ValueError("expected a file path such as /tmp/dagcore-worker.heartbeat")
    return text


def _key_prefix(raw: Any) -> str:
    text = to_str(raw).strip()
    # The prefix starts every Redis key dagcore writes; ':' separates its parts.
    if not text or not re.fullmatch(r"[A-Za-z0-9_.\-]+", text):
        raise ValueError("expected a non-empty prefix of letters, digits, '_', '-' or '.'")
    return text


@dataclass(frozen=True)
class CoreSettings:
    """``[core]``: how a run is executed and logged, and the default retry policy.

    Attributes:
        executor: ``"local"`` (in-process, the default) or ``"celery"``.
        workers: Tasks run at once by the local executor.
        log_level: A :mod:`logging` level name.
        log_format: ``"text"`` or ``"json"``.
        complete_check_threads: Threads that run ``complete()`` checks while planning.
        retry_count: Retries of a failed task unless the task sets its own.
        retry_delay: Seconds before the first retry.
        retry_backoff: Factor applied to the delay after each retry (1.0 keeps it constant).
        fail_fast: Refuse the whole run when a task is broken, an external input is missing or
            there is a cycle (off: run everything else, as Luigi does).
        luigi_alias: Make ``import luigi`` resolve to dagcore (the zero-edit migration switch).
    """

    executor: Executor = "local"
    workers: int = 1
    log_level: str = "INFO"
    log_format: LogFormat = "text"
    complete_check_threads: int = 16
    retry_count: int = 0
    retry_delay: float = 0.0
    retry_backoff: float = 1.0
    fail_fast: bool = False
    luigi_alias: bool = False

    @classmethod
    def from_config(cls, cfg: DagcoreConfig | None = None) -> CoreSettings:
        """Read and validate ``[core]`` (the process-wide configuration by default)."""
        c, s = _config(cfg), "core"
        levels = ("NOTSET", "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        return cls(
            executor=cast(
                Executor, c.getparsed(s, "executor", one_of("local", "celery"), cls.executor)
            ),
            workers=c.getparsed(s, "workers", bounded_int(1), cls.workers),
            log_level=c.getparsed(s, "log_level", one_of(*levels), cls.log_level),
            log_format=cast(
                LogFormat, c.getparsed(s, "log_format", one_of("text", "json"), cls.log_format)
            ),
            complete_check_threads=c.getparsed(
                s, "complete_check_threads", bounded_int(1), cls.complete_check_threads
            ),
            retry_count=c.getparsed(s, "retry_count", bounded_int(0), cls.retry_count),
            retry_delay=c.getparsed(s, "retry_delay", bounded_float(0.0), cls.retry_delay),
            retry_backoff=c.getparsed(s, "retry_backoff", bounded_float(1.0), cls.retry_backoff),
            fail_fast=c.getparsed(s, "fail_fast", to_bool, cls.fail_fast),
            luigi_alias=c.getparsed(s, "luigi_alias", to_bool, cls.luigi_alias),
        )


@dataclass(frozen=True)
class WorkerSettings:
    """``[worker]``: defaults for worker processes (Luigi's keys that mean something here).

    Attributes:
        timeout: Seconds a task may run before it is failed; 0 means no limit.
        check_complete_on_run: Mark a task done only if ``complete()`` is true after ``run()``.
        check_unfulfilled_deps: Check that a task's requirements are complete before running it.
        queues: Queues a ``dagcore worker`` consumes by default; empty means all of them.
        modules: Modules a worker imports; it only runs families defined there.
        heartbeat_file: File a running worker touches while it can reach the broker; what
            ``dagcore worker --healthcheck`` reads. Give each worker on one host its own.
        heartbeat_interval: Seconds between two touches of the heartbeat file.
        shutdown_timeout: Seconds a worker stopped with SIGTERM lets running tasks finish
            before it interrupts them and hands them back (keep it below the orchestrator's
            grace period, 30 s on Kubernetes).
    """

    timeout: int = 0
    check_complete_on_run: bool = False
    check_unfulfilled_deps: bool = True
    queues: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    heartbeat_file: str = DEFAULT_HEARTBEAT_FILE
    heartbeat_interval: float = 5.0
    shutdown_timeout: float = 20.0

    @classmethod
    def from_config(cls, cfg: DagcoreConfig | None = None) -> WorkerSettings:
        """Read and validate ``[worker]``."""
        c, s = _config(cfg), "worker"
        return cls(
            timeout=c.getparsed(s, "timeout", bounded_int(0), cls.timeout),
            check_complete_on_run=c.getparsed(
                s, "check_complete_on_run", to_bool, cls.check_complete_on_run
            ),
            check_unfulfilled_deps=c.getparsed(
                s, "check_unfulfilled_deps", to_bool, cls.check_unfulfilled_deps
            ),
            queues=tuple(c.getparsed(s, "queues", to_str_list, [])),
            modules=tuple(c.getparsed(s, "modules", to_str_list, [])),
            heartbeat_file=c.getparsed(s, "heartbeat_file", _file_path, cls.heartbeat_file),
            heartbeat_interval=c.getparsed(
                s, "heartbeat_interval", bounded_float(0.1), cls.heartbeat_interval
            ),
            shutdown_timeout=c.getparsed(
                s, "shutdown_timeout", bounded_float(0.0), cls.shutdown_timeout
            ),
        )


@dataclass(frozen=True)
class QueueSettings:
    """``[queues.NAME]``: one Celery queue and what is routed to it.

    Attributes:
        name: The queue name.
        concurrency: Worker processes per worker of this queue (default: the CPU count).
        memory_bytes: Memory a worker of this queue may use, or None for no limit.
        resources: Tasks using any of these ``[resources]`` go to this queue.
        resource_classes: Tasks whose resource class is one of these go to this queue.
    """

    name: str
    concurrency: int = field(default_factory=lambda: os.cpu_count() or 1)
    memory_bytes: int | None = None
    resources: tuple[str, ...] = ()
    resource_classes: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, name: str, cfg: DagcoreConfig | None = None) -> QueueSettings:
        """Read and validate ``[queues.NAME]``."""
        c, s = _config(cfg), QUEUE_PREFIX + name
        if not _NAME_RE.match(name):
            raise ConfigError(
                f"[{s}]: invalid queue name {name!r}; use letters, digits, '_' and '-'"
                + _origin_hint(c, s)
            )
        concurrency = c.getparsed(s, "concurrency", bounded_int(1), None)
        return cls(
            name=name,
            concurrency=concurrency if concurrency is not None else os.cpu_count() or 1,
            memory_bytes=c.getparsed(s, "memory", to_memory_bytes, None),
            resources=tuple(c.getparsed(s, "resources", to_str_list, [])),
            resource_classes=tuple(c.getparsed(s, "resource_classes", to_str_list, [])),
        )


def _origin_hint(cfg: DagcoreConfig, section: str) -> str:
    options = [option for option, _ in cfg.items(section)] if cfg.has_section(section) else []
    return f" (set in {cfg.source(section, options[0])})" if options else ""


def queues(cfg: DagcoreConfig | None = None) -> tuple[QueueSettings, ...]:
    """Return the configured queues, ``default`` first.

    A queue named ``default`` always exists (with default settings unless configured): tasks
    that no queue claims by resource or resource class are routed there.

    Raises:
        ConfigError: a value is invalid, or one resource or resource class is mapped to two
            queues (routing would be ambiguous).
    """
    c = _config(cfg)
    names = [s[len(QUEUE_PREFIX) :] for s in c.sections() if s.startswith(QUEUE_PREFIX)]
    found = [QueueSettings.from_config(name, c) for name in names]
    if DEFAULT_QUEUE not in names:
        found.insert(0, QueueSettings(DEFAULT_QUEUE))
    found.sort(key=lambda queue: queue.name != DEFAULT_QUEUE)
    _check_unique_routing(c, found, "resources")
    _check_unique_routing(c, found, "resource_classes")
    return tuple(found)


def _check_unique_routing(
    cfg: DagcoreConfig, found: list[QueueSettings], key: Literal["resources", "resource_classes"]
) -> None:
    owner: dict[str, str] = {}
    for queue in found:
        for item in getattr(queue, key):
            if item in owner and owner[item] != queue.name:
                where = cfg.describe(QUEUE_PREFIX + queue.name, key)
                raise ConfigError(
                    f"{where}: {item!r} is already routed to queue {owner[item]!r}; "
                    "map each name to one queue"
                )
            owner[item] = queue.name


@dataclass(frozen=True)
class HistorySettings:
    """``[history]``: where runs and attempts are recorded.

    Attributes:
        url: A SQLAlchemy database URL (``DAGCORE_HISTORY_URL`` overrides it).
    """

    url: str = DEFAULT_HISTORY_URL

    @classmethod
    def from_config(cls, cfg: DagcoreConfig | None = None) -> HistorySettings:
        """Read and validate ``[history]``."""
        return cls(url=_config(cfg).getparsed("history", "url", _url, cls.url))


@dataclass(frozen=True)
class CelerySettings:
    """``[celery]``: the broker and the delivery guarantees of the Celery executor.

    Attributes:
        broker_url: Redis URL of the broker (``DAGCORE_BROKER_URL`` overrides it).
        result_backend: Celery result backend URL, or None; dagcore itself needs none.
        visibility_timeout: Seconds before Redis redelivers an unacknowledged message.
        key_prefix: Prefix of every Redis key dagcore writes.
        prefetch_multiplier: Messages a worker process reserves at once.
        max_redeliveries: Redeliveries after a worker was lost before the task fails.
        lease_seconds: Lifetime of semaphore slots and task claims; renewed while running.
        task_events: Send task events (Flower needs them).
        reaper_interval: Seconds between the reaper's passes (expired claims and slots,
            unpublished outboxes).
        flower_url: Base URL of Flower, for the links ``dagcore status`` prints.
    """

    broker_url: str = DEFAULT_BROKER_URL
    result_backend: str | None = None
    visibility_timeout: int = 3600
    key_prefix: str = "dagcore"
    prefetch_multiplier: int = 1
    max_redeliveries: int = 3
    lease_seconds: int = 60
    task_events: bool = True
    reaper_interval: float = 5.0
    flower_url: str | None = None

    @classmethod
    def from_config(cls, cfg: DagcoreConfig | None = None) -> CelerySettings:
        """Read and validate ``[celery]``."""
        c, s = _config(cfg), "celery"
        return cls(
            broker_url=c.getparsed(s, "broker_url", _url, cls.broker_url),
            result_backend=c.getparsed(s, "result_backend", _optional_url, cls.result_backend),
            visibility_timeout=c.getparsed(
                s, "visibility_timeout", bounded_int(1), cls.visibility_timeout
            ),
            key_prefix=c.getparsed(s, "key_prefix", _key_prefix, cls.key_prefix),
            prefetch_multiplier=c.getparsed(
                s, "prefetch_multiplier", bounded_int(1), cls.prefetch_multiplier
            ),
            max_redeliveries=c.getparsed(
                s, "max_redeliveries", bounded_int(0), cls.max_redeliveries
            ),
            lease_seconds=c.getparsed(s, "lease_seconds", bounded_int(1), cls.lease_seconds),
            task_events=c.getparsed(s, "task_events", to_bool, cls.task_events),
            reaper_interval=c.getparsed(
                s, "reaper_interval", bounded_float(0.1), cls.reaper_interval
            ),
            flower_url=c.getparsed(s, "flower_url", _optional_url, cls.flower_url),
        )


@dataclass(frozen=True)
class RetcodeSettings:
    """``[retcode]``: process exit codes per outcome, with Luigi's keys.

    The defaults are the values Luigi's documentation recommends, not Luigi's built-in zeros:
    a failed pipeline must not look like a success to cron or CI. Set them all to 0 (and
    ``unhandled_exception`` to 4) to get Luigi's built-in behaviour back.
    """

    already_running: int = 10
    missing_data: int = 20
    not_run: int = 25
    task_failed: int = 30
    scheduling_error: int = 35
    unhandled_exception: int = 40

    @classmethod
    def from_config(cls, cfg: DagcoreConfig | None = None) -> RetcodeSettings:
        """Read and validate ``[retcode]``; each code must be a valid exit status (0-255)."""
        c, s, code = _config(cfg), "retcode", bounded_int(0, 255)
        return cls(
            already_running=c.getparsed(s, "already_running", code, cls.already_running),
            missing_data=c.getparsed(s, "missing_data", code, cls.missing_data),
            not_run=c.getparsed(s, "not_run", code, cls.not_run),
            task_failed=c.getparsed(s, "task_failed", code, cls.task_failed),
            scheduling_error=c.getparsed(s, "scheduling_error", code, cls.scheduling_error),
            unhandled_exception=c.getparsed(
                s, "unhandled_exception", code, cls.unhandled_exception
            ),
        )


def resources(cfg: DagcoreConfig | None = None) -> dict[str, int]:
    """Return ``[resources]``: resource name -> capacity (a non-negative integer)."""
    return _config(cfg).getintdict("resources", minimum=0)


@dataclass(frozen=True)
class Settings:
    """Every dagcore setting, validated together."""

    core: CoreSettings
    worker: WorkerSettings
    queues: tuple[QueueSettings, ...]
    resources: Mapping[str, int] = field(hash=False)
    history: HistorySettings
    celery: CelerySettings
    retcode: RetcodeSettings

    @classmethod
    def from_config(cls, cfg: DagcoreConfig | None = None) -> Settings:
        """Build every settings object and check them against each other.

        Raises:
            ConfigError: a value is invalid, or ``[worker] queues`` names a queue that is not
                configured.
        """
        c = _config(cfg)
        settings = cls(
            core=CoreSettings.from_config(c),
            worker=WorkerSettings.from_config(c),
            queues=queues(c),
            resources=MappingProxyType(resources(c)),
            history=HistorySettings.from_config(c),
            celery=CelerySettings.from_config(c),
            retcode=RetcodeSettings.from_config(c),
        )
        known = {queue.name for queue in settings.queues}
        unknown = [name for name in settings.worker.queues if name not in known]
        if unknown:
            raise ConfigError(
                f"{c.describe('worker', 'queues')}: no queue named {', '.join(unknown)}; "
                f"configured queues: {', '.join(sorted(known))}. Add a [queues.NAME] table."
            )
        return settings
