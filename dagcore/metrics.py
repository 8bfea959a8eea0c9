"""Task metrics hooks: Luigi's ``luigi.metrics`` API.

A metrics collector is told when a task starts, finishes, fails or is disabled, and receives
the statistics a task reports. Pick one with ``[scheduler] metrics_collector`` (``none``, the
default; ``prometheus``; ``datadog``; or ``custom`` with ``metrics_custom_import =
package.module.ClassName``), exactly as Luigi's scheduler does::

    [scheduler]
    metrics_collector = custom
    metrics_custom_import = mypkg.metrics.ElapsedCollector

A custom collector subclasses :class:`MetricsCollector` (or :class:`NoMetricsCollector`, to
override only some hooks). The ``task`` the hooks receive is a :class:`TaskMetrics` record with
the attributes Luigi's scheduler-side task has (``id``, ``family``, ``module``, ``params``,
``status``, ``resources``), so a collector written for Luigi works unchanged.
"""

from __future__ import annotations

import abc
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dagcore.task import Task

__all__ = [
    "MetricsCollector",
    "MetricsCollectors",
    "NoMetricsCollector",
    "TaskMetrics",
    "configured_collector",
]

# Where the collectors of the named kinds live; each is a module of its own, loaded on demand,
# because each needs a third-party client library.
_BUILTIN_COLLECTORS = {
    "datadog": "dagcore.contrib.datadog_metric.DatadogMetricsCollector",
    "prometheus": "dagcore.contrib.prometheus_metric.PrometheusMetricsCollector",
}


@dataclass
class TaskMetrics:
    """What a collector learns about a task (Luigi's scheduler-side task, as far as a
    collector reads it)."""

    id: str
    family: str
    module: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    status: str = "PENDING"
    resources: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_task(cls, task: Task, status: str = "PENDING") -> TaskMetrics:
        """The record of a task instance, with its significant parameters as strings."""
        return cls(
            id=task.task_id,
            family=task.get_task_family(),
            module=type(task).__module__,
            params=dict(task.to_str_params(only_significant=True)),
            status=status,
            resources=dict(task.process_resources()),
        )


class MetricsCollector(metaclass=abc.ABCMeta):
    """The hooks a collector implements. ``generate_latest`` returns the exposition text of a
    pull-based collector (Prometheus), ``None`` for others."""

    @abc.abstractmethod
    def __init__(self) -> None: ...

    @abc.abstractmethod
    def handle_task_started(self, task: Any) -> None: ...

    @abc.abstractmethod
    def handle_task_failed(self, task: Any) -> None: ...

    @abc.abstractmethod
    def handle_task_disabled(self, task: Any, config: Any) -> None: ...

    @abc.abstractmethod
    def handle_task_done(self, task: Any) -> None: ...

    def handle_task_statistics(self, task: Any, statistics: Mapping[str, Any]) -> None:
        """Statistics a running task reported (e.g. ``{"elapsed": 1.5}``); ignored by default."""
        return None

    def generate_latest(self) -> bytes | str | None:
        return None

    def configure_http_handler(self, http_handler: Any) -> None:
        """Set headers on the HTTP handler that serves :meth:`generate_latest`."""
        return None


class NoMetricsCollector(MetricsCollector):
    """The collector that collects nothing (the default)."""

    def __init__(self) -> None:
        pass

    def handle_task_started(self, task: Any) -> None:
        pass

    def handle_task_failed(self, task: Any) -> None:
        pass

    def handle_task_disabled(self, task: Any, config: Any) -> None:
        pass

    def handle_task_done(self, task: Any) -> None:
        pass


def _import_collector(dotted: str) -> MetricsCollector:
    module_name, _, class_name = dotted.rpartition(".")
    if not module_name:
        raise ValueError(f"metrics collector {dotted!r} is not of the form package.module.Class")
    found = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(found, type) and issubclass(found, MetricsCollector)):
        raise ValueError(f"Custom Import: {dotted} is not a subclass of MetricsCollector")
    collector: MetricsCollector = found()
    return collector


class MetricsCollectors(Enum):
    """The kinds of collector ``[scheduler] metrics_collector`` names.

    As in Luigi, ``none`` is another name of ``default`` (same value).
    """

    custom = -1
    default = 1
    none = 1
    datadog = 2
    prometheus = 3

    @classmethod
    def get(cls, which: MetricsCollectors, custom_import: str | None = None) -> MetricsCollector:
        """A new collector of kind ``which``; ``custom`` imports ``custom_import``."""
        if not isinstance(which, cls):
            raise ValueError(f"MetricsCollectors value ' {which} ' isn't supported")
        if which is cls.default:
            return NoMetricsCollector()
        if which is cls.custom:
            if custom_import is None:
                raise ValueError(
                    f"MetricsCollectors value ' {which} ' is -1 and custom_import is None"
                )
            return _import_collector(custom_import)
        if which.name in _BUILTIN_COLLECTORS:
            return _import_collector(_BUILTIN_COLLECTORS[which.name])
        raise ValueError(f"MetricsCollectors value ' {which} ' isn't supported")


def configured_collector() -> MetricsCollector:
    """The collector ``[scheduler] metrics_collector`` / ``metrics_custom_import`` select."""
    from dagcore.configuration import get_config

    config = get_config()
    name = str(config.get("scheduler", "metrics_collector", "default")).strip().lower()
    try:
        which = MetricsCollectors[name]
    except KeyError:
        choices = ", ".join(MetricsCollectors.__members__)
        raise ValueError(
            f"[scheduler] metrics_collector: {name!r} is not one of {choices}"
        ) from None
    custom_import = config.get("scheduler", "metrics_custom_import", None)
    return MetricsCollectors.get(which, None if custom_import is None else str(custom_import))
