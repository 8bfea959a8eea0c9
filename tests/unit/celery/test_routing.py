"""Luigi priorities onto Redis priority steps, and queue choice."""

from __future__ import annotations

import logging
import random

import pytest

from celery_app.routing import (
    HIGHEST_STEP,
    LOWEST_STEP,
    MIDDLE_STEP,
    PRIORITY_STEPS,
    queue_for,
    redis_priority,
)
from dagcore.plan import Node

SAMPLES = sorted(
    {0, 1, -1, 9, 10, -10, 99, 100, -100, 999, 1000, -1000, 10**4, -(10**4), 10**9, -(10**9)}
    | {random.Random(7).randint(-(10**6), 10**6) for _ in range(500)}
)


def test_default_priority_maps_to_the_middle_step() -> None:
    assert redis_priority(0) == MIDDLE_STEP
    assert PRIORITY_STEPS[len(PRIORITY_STEPS) // 2] == MIDDLE_STEP


@pytest.mark.parametrize("priority", SAMPLES)
def test_every_priority_lands_on_a_step(priority: int) -> None:
    assert redis_priority(priority) in PRIORITY_STEPS


def test_mapping_is_monotonic_and_reverses_luigi_order() -> None:
    # Luigi runs higher priorities first; Redis serves lower steps first.
    steps = [redis_priority(p) for p in SAMPLES]
    assert steps == sorted(steps, reverse=True)


def test_luigi_order_is_preserved_for_a_higher_priority() -> None:
    for low, high in [(-1, 0), (0, 1), (9, 10), (10, 100), (-100, -10), (100, 1000)]:
        assert redis_priority(high) < redis_priority(low), (low, high)


def test_extremes_saturate_at_the_bounds() -> None:
    assert redis_priority(10**12) == HIGHEST_STEP
    assert redis_priority(-(10**12)) == LOWEST_STEP
    assert {redis_priority(p) for p in SAMPLES} == set(PRIORITY_STEPS)


def test_queue_for_keeps_a_configured_queue() -> None:
    node = Node(task_id="T_1", family="T", module="m", params={}, queue="gpu")
    assert queue_for(node, ["default", "gpu"]) == "gpu"


def test_queue_for_sends_an_unconfigured_queue_to_default_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    node = Node(task_id="T_1", family="T", module="m", params={}, queue="nowhere-queue-x")
    with caplog.at_level(logging.WARNING, logger="celery_app.routing"):
        assert queue_for(node, ["default"]) == "default"
        assert queue_for(node, ["default"]) == "default"
    warnings = [r for r in caplog.records if "nowhere-queue-x" in r.getMessage()]
    assert len(warnings) == 1
    assert "[queues.nowhere-queue-x]" in warnings[0].getMessage()
