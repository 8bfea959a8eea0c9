"""The Celery application of dagcore, configured from dagcore's settings, and its start-up checks.

Everything that makes delivery safe is fixed here rather than left to each deployment: JSON is
the only content type accepted (no pickle, so a message can never run code), messages are
acknowledged after the task ran (``acks_late``) and given back if the worker process dies,
each process reserves one message at a time, and Redis priority steps are switched on.

:func:`check_settings` catches, before a worker consumes anything, configurations that would
make Redis deliver a message twice (a delay or a task longer than the visibility timeout) or
lose it (eviction, no persistence).

Importing this module connects to nothing; the module attribute ``app`` is created on first
access, from the configuration in effect at that moment.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from functools import cache
from typing import Any

import redis
from celery import Celery, signals
from kombu.entity import Exchange, Queue
from redis.backoff import NoBackoff
from redis.retry import Retry

from celery_app.connection import REDIS_SCHEMES, SETTING, broker_options, redact, redis_client
from celery_app.presence import install_presence
from celery_app.registry import (
    DEFAULT_HANDLER,
    UnknownFamilyCallback,
    load_handler,
    register_families,
)
from celery_app.routing import MIDDLE_STEP, PRIORITY_STEPS
from dagcore.configuration.settings import DEFAULT_QUEUE, Settings
from dagcore.errors import ConfigError
from dagcore.plan import RetryPolicy

__all__ = [
    "KOMBU_HEALTH_CHECK_INTERVAL",
    "REDIS_URL_SCHEMES",
    "check_countdown",
    "check_settings",
    "default_app",
    "make_app",
    "max_retry_delay",
    "redis_durability_warnings",
    "worker_app",
]

logger = logging.getLogger(__name__)

REDIS_URL_SCHEMES = tuple(f"{scheme}://" for scheme in REDIS_SCHEMES)
"""Broker URLs whose server configuration :func:`check_settings` can inspect with redis-py."""

_CHECK_TIMEOUT = 5.0

KOMBU_HEALTH_CHECK_INTERVAL = 25.0
"""kombu's default ``health_check_interval`` of the Redis transport, in seconds."""


def _queue(name: str) -> Queue:
    # One direct exchange per queue, named after it: what Celery would create for a missing
    # queue, declared up front so every process agrees on the routing table.
    exchange = Exchange(name, type="direct")  # type: ignore[no-untyped-call]
    return Queue(name, exchange, routing_key=name)  # type: ignore[no-untyped-call]


def make_app(settings: Settings | None = None) -> Celery:
    """Create a Celery application configured from dagcore's settings.

    The app has no task registered; a worker adds one per family with
    :func:`celery_app.registry.register_families`. Creating it connects to nothing.

    Args:
        settings: The settings to use (default: ``Settings.from_config()``).

    Raises:
        ConfigError: ``[celery] broker_url`` is not a valid Redis URL (see
            :mod:`celery_app.connection`).
    """
    settings = Settings.from_config() if settings is None else settings
    celery = settings.celery
    # The broker URL in kombu's syntax, plus Sentinel and TLS options: the same connection
    # setting as every redis_client() of dagcore.
    broker = broker_options(celery)
    app = Celery("dagcore", set_as_current=False)
    app.conf.update(
        broker_url=broker["broker_url"],
        broker_use_ssl=broker.get("broker_use_ssl"),
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            **broker["broker_transport_options"],
            "visibility_timeout": celery.visibility_timeout,
            # One Redis list per step instead of kombu's default four, so all ten steps that
            # routing.redis_priority produces stay distinct.
            "priority_steps": list(PRIORITY_STEPS),
            # Consume the -Q queues in the order given instead of round-robin.
            "queue_order_strategy": "priority",
            # kombu sweeps for messages of dead workers every interval * throttle seconds
            # (100 s by default). Sweep every quarter of the visibility timeout instead, so
            # a SIGKILLed worker's task is redelivered soon after it becomes visible again.
            "unacked_restore_interval": max(1, min(10, int(celery.visibility_timeout // 4))),
            "unacked_restore_throttle": 1,
        },
        # JSON only, both ways: a pickled message would let a publisher run code in workers.
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        event_serializer="json",
        # The message is acknowledged after the task ran, and given back when the worker
        # process dies; dagcore's claim/finish bookkeeping makes the redelivered copy harmless.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=celery.prefetch_multiplier,
        # On a broker connection loss, let running tasks finish instead of killing them: the
        # copy Redis redelivers later finds the task claimed or done (celery_app.joins), so
        # finishing the work loses nothing, while cancelling would throw it away.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_send_task_events=celery.task_events,
        # Task events go out in batches (celery_app.events), not one PUBLISH each.
        worker_consumer="celery_app.events:BatchingConsumer",
        # Worker events are enough for Flower; "task-sent" events would double the publishes
        # of every task, and workers send most of the messages here.
        task_send_sent_event=False,
        task_queues=tuple(_queue(queue.name) for queue in settings.queues),
        task_default_queue=DEFAULT_QUEUE,
        task_default_exchange=DEFAULT_QUEUE,
        task_default_routing_key=DEFAULT_QUEUE,
        # Messages of tasks registered in this app (a worker's families: retries, re-sends)
        # would otherwise get kombu's step 0, served first. send_task() by a name the app does
        # not know ignores this: a submitter passes priority=redis_priority(...) itself.
        task_default_priority=MIDDLE_STEP,
        # Task data passes through targets; results would only fill Redis.
        task_ignore_result=True,
        result_backend=celery.result_backend,
    )
    return app


# -- start-up checks ---------------------------------------------------------------------------


def max_retry_delay(policy: RetryPolicy) -> float:
    """The longest countdown a retry under ``policy`` waits (0 when it never retries)."""
    if policy.count <= 0:
        return 0.0
    # Attempt count + 1 is the last retry; its delay is the largest when backoff >= 1.
    return max(policy.delay_before(attempt) for attempt in range(2, policy.count + 2))


def _visibility_timeout(app: Celery, settings: Settings) -> float:
    options = app.conf.broker_transport_options or {}
    return float(options.get("visibility_timeout", settings.celery.visibility_timeout))


def check_countdown(seconds: float, visibility_timeout: float, what: str) -> None:
    """Refuse a delay that Redis would answer with a second delivery.

    Celery keeps a delayed (ETA) message reserved but unacknowledged in the worker, and the
    Redis transport gives every message unacknowledged for ``visibility_timeout`` seconds to
    another worker; a countdown that long runs the task twice.

    Args:
        seconds: The countdown (or the longest run time) to check.
        visibility_timeout: ``[celery] visibility_timeout`` in effect.
        what: Which setting or task the countdown comes from, for the message.

    Raises:
        ConfigError: ``seconds`` is not below ``visibility_timeout``.
    """
    if seconds >= visibility_timeout:
        raise ConfigError(
            f"{what} is {seconds:g}s, not below [celery] visibility_timeout "
            f"({visibility_timeout:g}s): Redis would deliver the message again to another "
            "worker while the first still holds it. Raise [celery] visibility_timeout above "
            f"{seconds:g} or lower {what}."
        )


def _check_timing(app: Celery, settings: Settings) -> None:
    visibility = _visibility_timeout(app, settings)
    core = settings.core
    default_policy = RetryPolicy(core.retry_count, core.retry_delay, core.retry_backoff)
    check_countdown(
        max_retry_delay(default_policy),
        visibility,
        "the longest retry delay of [core] retry_count/retry_delay/retry_backoff",
    )
    if settings.worker.timeout:
        check_countdown(float(settings.worker.timeout), visibility, "[worker] timeout")
    else:
        logger.info(
            "[worker] timeout is 0 (no limit): a task running longer than [celery] "
            "visibility_timeout (%ss) is delivered again; its claim makes the copy wait",
            visibility,
        )


def _config_value(client: redis.Redis[Any], name: str) -> str:
    reply: dict[str, Any] = client.config_get(name)
    value = reply.get(name, "")
    return value.decode() if isinstance(value, bytes) else str(value)


def redis_durability_warnings(
    client: redis.Redis[Any], health_check_interval: float = KOMBU_HEALTH_CHECK_INTERVAL
) -> list[str]:
    """Return what in a Redis server's configuration could lose messages or break connections.

    Reads ``maxmemory-policy``, ``maxmemory``, ``save``, ``appendonly`` and ``timeout`` with
    ``CONFIG GET``.

    Args:
        client: A client of the broker.
        health_check_interval: Seconds after which kombu checks an idle connection before
            using it; a server that drops idle clients sooner breaks pooled connections.

    Raises:
        redis.exceptions.ResponseError: ``CONFIG`` is refused (ACL, managed services).
        redis.exceptions.ConnectionError: the server cannot be reached.
    """
    warnings: list[str] = []
    policy = _config_value(client, "maxmemory-policy")
    if policy and policy != "noeviction":
        maxmemory = _config_value(client, "maxmemory")
        warnings.append(
            f"Redis maxmemory-policy is {policy!r} (maxmemory {maxmemory}): when memory runs "
            "out Redis evicts keys, which can drop queued messages and a run's bookkeeping. "
            "Set maxmemory-policy to noeviction on the broker."
        )
    save = _config_value(client, "save").strip()
    appendonly = _config_value(client, "appendonly").strip().lower()
    if not save and appendonly != "yes":
        warnings.append(
            'Redis persistence is off (save "" and appendonly no): a Redis restart loses '
            "every queued message and running run. Enable appendonly yes (or RDB snapshots) "
            "on the broker."
        )
    idle = _config_value(client, "timeout").strip()
    if idle.isdigit() and 0 < int(idle) <= health_check_interval:
        warnings.append(
            f"Redis closes connections idle for {idle}s (timeout), before kombu checks them "
            f"({health_check_interval:g}s): a publisher or inspector that was idle that long "
            "fails with 'Connection closed by server'. Set timeout 0 on the broker, or "
            "above the health check interval."
        )
    return warnings


def _broker_url(app: Celery, settings: Settings) -> str:
    # make_app gives Celery the URL rewritten for kombu, which loses dagcore's options
    # (master_name, TLS files); when the app still has that one, check the setting itself.
    url = str(app.conf.broker_url)
    configured = settings.celery.broker_url
    if url == broker_options(configured)["broker_url"]:
        return configured
    return url


def _broker_warnings(broker_url: str, health_check_interval: float) -> list[str]:
    if not broker_url.startswith(REDIS_URL_SCHEMES):
        logger.info(
            "broker %s is not a plain Redis URL; its configuration is not checked",
            broker_url.split("://", 1)[0],
        )
        return []
    client = redis_client(
        broker_url,
        decode_responses=False,
        socket_timeout=_CHECK_TIMEOUT,
        socket_connect_timeout=_CHECK_TIMEOUT,
        # One quick try: the check is advice, and a refused password is not worth retrying.
        retry=Retry(NoBackoff(), 0),
    )
    try:
        return redis_durability_warnings(client, health_check_interval)
    except redis.exceptions.AuthenticationError as exc:
        # Not an outage that Celery's retries would outlast: fail before consuming anything.
        raise ConfigError(
            f"{SETTING} {redact(broker_url)!r}: Redis refused the credentials ({exc}). Check "
            "the user and password in the URL (percent-encode '@', ':' and '/' in them)."
        ) from None
    except redis.exceptions.ResponseError as exc:
        # ACL users without +config and managed services (CONFIG renamed or disabled) end here.
        logger.info(
            "cannot read the broker's configuration (%s); make sure it uses "
            "maxmemory-policy noeviction and persistence (appendonly yes)",
            exc,
        )
        return []
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        # Celery retries the connection itself; the check is advice, not a gate. A sentinel
        # that knows no master raises MasterNotFoundError, a ConnectionError.
        logger.warning("cannot reach the broker to check its configuration: %s", exc)
        return []
    finally:
        client.close()


def check_settings(app: Celery, settings: Settings, *, log_warnings: bool = True) -> list[str]:
    """Check, before a worker starts, that Redis will neither redeliver nor lose messages.

    Fatal: the longest retry countdown of the default retry policy (``[core] retry_count``,
    ``retry_delay``, ``retry_backoff``) and ``[worker] timeout`` must be below the broker's
    ``visibility_timeout``. Per-task retry policies and timeouts are checked where they are
    used, with :func:`check_countdown`. Advisory: Redis' eviction policy, persistence and
    idle-client timeout, read with ``CONFIG GET`` over the same connection setting as
    everything else (with Sentinel, on the current master; skipped with a note when ACLs
    refuse ``CONFIG``).

    Args:
        app: The app whose ``broker_url`` and ``broker_transport_options`` are in effect.
        settings: dagcore's settings.
        log_warnings: Also log each warning (at WARNING level).

    Returns:
        The warnings.

    Raises:
        ConfigError: a countdown or the worker timeout reaches the visibility timeout, or
            Redis refuses the credentials of ``[celery] broker_url``.
    """
    _check_timing(app, settings)
    options = app.conf.broker_transport_options or {}
    interval = float(options.get("health_check_interval", KOMBU_HEALTH_CHECK_INTERVAL))
    warnings = _broker_warnings(_broker_url(app, settings), interval)
    if log_warnings:
        for warning in warnings:
            logger.warning("%s", warning)
    return warnings


# -- worker apps and the lazily created module attribute ----------------------------------------


def worker_app(
    settings: Settings, modules: Sequence[str], handler: str = DEFAULT_HANDLER
) -> Celery:
    """Create the app of a worker: families of ``modules`` registered with ``handler``.

    The handler's module may define ``configure(modules)``, called first with the modules the
    worker may run families from, and ``handle_unknown(family, kwargs)``, called for a message
    naming a family this worker does not run.

    Args:
        settings: dagcore's settings.
        modules: Modules to import; their families are the only ones the worker runs.
        handler: ``MODULE:FUNCTION`` of the message handler.

    Raises:
        DagcoreError: a module or the handler cannot be imported.
    """
    module, run = load_handler(handler)
    configure = getattr(module, "configure", None)
    if callable(configure):
        configure(tuple(modules))
    on_unknown: UnknownFamilyCallback | None = getattr(module, "handle_unknown", None)
    app = make_app(settings)
    register_families(app, modules, run, on_unknown=on_unknown)
    # Submitters tell from these heartbeats whether anyone consumes the queues a run needs.
    install_presence(app, settings)
    return app


@cache
def default_app() -> Celery:
    """The app ``celery -A celery_app`` finds, built from the configuration on first use.

    With ``[worker] modules`` set, their families are registered and a worker started from it
    runs :func:`check_settings` first, as ``dagcore worker`` does; without, it is the plain
    configured app (enough for ``celery inspect`` and friends), and a worker started from it
    refuses to start with a one-line reason: with no family registered it would take dagcore
    messages only to discard them.
    """
    settings = Settings.from_config()
    if not settings.worker.modules:
        plain = make_app(settings)

        def refuse(sender: Any = None, **_: Any) -> None:
            if getattr(sender, "app", None) is not plain:
                return
            print(
                "dagcore worker: error: `celery -A celery_app worker` needs [worker] modules "
                "(or DAGCORE__WORKER__MODULES), the modules whose tasks it runs; without, it "
                "would discard every dagcore message. Set it, or start `dagcore worker "
                "--module PKG.MOD`",
                file=sys.stderr,
                flush=True,
            )
            raise SystemExit(2)

        signals.worker_init.connect(refuse, weak=False)
        return plain
    app = worker_app(settings, settings.worker.modules)

    def check_on_start(sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is not app:
            return
        try:
            check_settings(app, settings)
        except ConfigError as exc:
            # Celery logs and swallows exceptions of signal receivers; SystemExit gets through.
            print(f"dagcore worker: error: {exc}", file=sys.stderr)
            raise SystemExit(2) from exc

    signals.worker_init.connect(check_on_start, weak=False)
    return app


def __getattr__(name: str) -> Any:
    # ``app`` is built on first use so that importing this module reads no configuration.
    if name == "app":
        return default_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
