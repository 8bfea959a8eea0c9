"""The metrics hook API (Luigi's ``luigi.metrics``)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, Mapping
from types import ModuleType
from typing import Any

import pytest

import dagcore
from dagcore.configuration import get_config
from dagcore.metrics import (
    MetricsCollector,
    MetricsCollectors,
    NoMetricsCollector,
    TaskMetrics,
    configured_collector,
)


class Elapsed(NoMetricsCollector):
    def __init__(self) -> None:
        super().__init__()
        self.elapsed: dict[tuple[str, str | None], float] = {}

    def handle_task_statistics(self, task: Any, statistics: Mapping[str, Any]) -> None:
        if "elapsed" in statistics:
            self.elapsed[(task.family, task.params.get("n"))] = statistics["elapsed"]


class NotACollector:
    pass


@pytest.fixture
def collectors_module() -> Iterator[str]:
    module = ModuleType("dagcore_test_collectors")
    module.Elapsed = Elapsed  # type: ignore[attr-defined]
    module.NotACollector = NotACollector  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module.__name__
    del sys.modules[module.__name__]


class Sized(dagcore.Task):
    n = dagcore.IntParameter()
    hidden = dagcore.Parameter(default="x", significant=False)
    resources = {"cpu": 2}


def test_none_is_default_and_collects_nothing() -> None:
    assert MetricsCollectors["none"] is MetricsCollectors["default"]
    collector = MetricsCollectors.get(MetricsCollectors.none)
    assert type(collector) is NoMetricsCollector
    assert collector.generate_latest() is None


def test_custom_collector_is_imported_and_receives_statistics(collectors_module: str) -> None:
    collector = MetricsCollectors.get(MetricsCollectors.custom, f"{collectors_module}.Elapsed")
    assert isinstance(collector, Elapsed)
    record = TaskMetrics.from_task(Sized(n=3), status="RUNNING")
    collector.handle_task_statistics(record, {"elapsed": 1.5})
    assert collector.elapsed == {("Sized", "3"): 1.5}


def test_anything_else_is_not_supported() -> None:
    with pytest.raises(ValueError, match="' junk ' isn't supported"):
        MetricsCollectors.get("junk")  # type: ignore[arg-type]


def test_custom_needs_an_import_path() -> None:
    with pytest.raises(ValueError, match="custom_import is None"):
        MetricsCollectors.get(MetricsCollectors.custom)


def test_custom_must_be_a_collector(collectors_module: str) -> None:
    with pytest.raises(ValueError, match="not a subclass of MetricsCollector"):
        MetricsCollectors.get(MetricsCollectors.custom, f"{collectors_module}.NotACollector")


def test_collector_base_is_abstract() -> None:
    with pytest.raises(TypeError):
        MetricsCollector()  # type: ignore[abstract]


def test_task_record_has_luigi_scheduler_task_attributes() -> None:
    task = Sized(n=7)
    record = TaskMetrics.from_task(task)
    assert record.id == task.task_id
    assert record.family == "Sized"
    assert record.params == {"n": "7"}  # significant parameters only
    assert record.resources == {"cpu": 2}
    assert record.status == "PENDING"
    assert record.module == __name__


def test_configured_collector_reads_scheduler_section(collectors_module: str) -> None:
    assert type(configured_collector()) is NoMetricsCollector
    config = get_config()
    config.set("scheduler", "metrics_collector", "custom")
    config.set("scheduler", "metrics_custom_import", f"{collectors_module}.Elapsed")
    assert isinstance(configured_collector(), Elapsed)
    config.set("scheduler", "metrics_collector", "graphite")
    with pytest.raises(ValueError, match="'graphite' is not one of"):
        configured_collector()


def test_luigi_alias_gives_the_same_module() -> None:
    from dagcore import luigi_alias

    was_installed = luigi_alias.installed()
    luigi_alias.install()
    try:
        aliased = importlib.import_module("luigi.metrics")
        assert aliased.MetricsCollectors is MetricsCollectors
    finally:
        if not was_installed:
            luigi_alias.uninstall()
