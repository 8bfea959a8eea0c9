"""KEDA: each worker Deployment scales on the whole backlog of its queue's Redis lists.

Which lists those are is taken from kombu itself (``Channel._q_for_pri`` of its Redis
transport) with the priority steps of dagcore's Celery app, so a change in either shows here.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from kombu.transport import redis as kombu_redis

from celery_app.app import make_app
from tests.unit.deploy.manifests import (
    K8sObject,
    command_of,
    example_secrets,
    example_settings,
    of_kind,
    parse_worker,
    worker_container,
    worker_deployments,
)

# Redis connection details must reach the scaler from a Secret, never from the manifest.
_CONNECTION_KEYS = {"address", "addresses", "host", "hosts", "port", "ports", "password"}
_CONNECTION_KEYS |= {"username", "sentinelPassword", "sentinelUsername"}


def _kombu_channel(steps: list[int]) -> Any:
    # A Channel without its constructor, which would connect: _q_for_pri only needs the
    # class's separator and the priority steps.
    channel = object.__new__(kombu_redis.Channel)
    channel.priority_steps = steps
    return channel


def _transport_options() -> dict[str, Any]:
    options = make_app(example_settings()).conf.broker_transport_options
    assert isinstance(options, dict)
    return options


def expected_lists(queue: str) -> set[str]:
    """Every Redis list kombu may put a message of ``queue`` in, whatever its priority."""
    options = _transport_options()
    channel = _kombu_channel(list(options["priority_steps"]))
    prefix = str(options.get("global_keyprefix", ""))
    return {prefix + channel._q_for_pri(queue, priority) for priority in range(10)}


def test_kombu_stores_priorities_in_lists_named_after_the_queue() -> None:
    # The convention the manifests are written against (kombu/transport/redis.py).
    channel = _kombu_channel(list(_transport_options()["priority_steps"]))
    assert kombu_redis.Channel.sep == "\x06\x16"
    assert channel._q_for_pri("io", 0) == "io"
    assert channel._q_for_pri("io", 5) == "io\x06\x165"
    # Ten steps: every priority has its own list, so one trigger on "io" sees a tenth at best.
    assert len(expected_lists("io")) == 10


def _scaled_objects() -> dict[str, K8sObject]:
    found: dict[str, K8sObject] = {}
    for obj in of_kind("ScaledObject"):
        target = obj.body["spec"]["scaleTargetRef"]
        assert target.get("kind", "Deployment") == "Deployment", obj
        assert target.get("apiVersion", "apps/v1") == "apps/v1", obj
        assert target["name"] not in found, f"two ScaledObjects scale {target['name']}"
        found[target["name"]] = obj
    return found


def test_each_worker_deployment_has_exactly_one_scaled_object() -> None:
    assert set(_scaled_objects()) == {d.name for d in worker_deployments()}


def _queue_of(deployment_name: str) -> str:
    (deployment,) = [d for d in worker_deployments() if d.name == deployment_name]
    options = parse_worker(command_of(worker_container(deployment)), example_settings())
    (queue,) = options.queues
    return queue


def _broker_db() -> str:
    url = urlsplit(example_secrets()["dagcore-broker"]["broker-url"])
    return url.path.lstrip("/") or "0"


@pytest.mark.parametrize("deployment", sorted(_scaled_objects()))
def test_triggers_watch_every_priority_list_of_the_queue(deployment: str) -> None:
    scaled = _scaled_objects()[deployment]
    triggers = scaled.body["spec"]["triggers"]
    assert {t["type"] for t in triggers} == {"redis"}, scaled
    names = [t["metadata"]["listName"] for t in triggers]
    assert len(names) == len(set(names)), f"{scaled}: a list is counted twice"
    assert set(names) == expected_lists(_queue_of(deployment)), scaled
    for trigger in triggers:
        metadata = trigger["metadata"]
        assert int(metadata["listLength"]) > 0, scaled
        assert metadata.get("databaseIndex", "0") == _broker_db(), f"{scaled}: other database"
        assert not _CONNECTION_KEYS & set(metadata), f"{scaled}: connection in the manifest"


@pytest.mark.parametrize("deployment", sorted(_scaled_objects()))
def test_the_backlog_is_the_sum_of_the_lists(deployment: str) -> None:
    # With several triggers the HPA follows the largest single metric; the scaling modifier
    # makes it follow the total instead.
    spec = _scaled_objects()[deployment].body["spec"]
    triggers = spec["triggers"]
    modifiers = spec["advanced"]["scalingModifiers"]
    terms = [term.strip() for term in modifiers["formula"].split("+")]
    assert sorted(terms) == sorted(t["name"] for t in triggers)
    assert len(set(terms)) == len(terms)
    assert modifiers.get("metricType", "AverageValue") == "AverageValue"
    assert int(modifiers["target"]) > 0
    assert {t["metadata"]["listLength"] for t in triggers} == {modifiers["target"]}


@pytest.mark.parametrize("deployment", sorted(_scaled_objects()))
def test_replica_bounds_are_set(deployment: str) -> None:
    spec = _scaled_objects()[deployment].body["spec"]
    low, high = spec["minReplicaCount"], spec["maxReplicaCount"]
    assert isinstance(low, int) and isinstance(high, int)
    assert 0 <= low <= high and high >= 1


def test_redis_address_and_password_come_from_the_broker_secret() -> None:
    auths = {obj.name: obj for obj in of_kind("TriggerAuthentication")}
    secrets = example_secrets()
    for scaled in _scaled_objects().values():
        for trigger in scaled.body["spec"]["triggers"]:
            auth = auths[trigger["authenticationRef"]["name"]]
            refs = {r["parameter"]: r for r in auth.body["spec"]["secretTargetRef"]}
            assert {"address", "password"} <= set(refs), auth
            for ref in refs.values():
                assert ref["key"] in secrets[ref["name"]], auth
    # The example Secret's address is the broker URL's server, so copying it stays consistent.
    broker = secrets["dagcore-broker"]
    url = urlsplit(broker["broker-url"])
    assert broker["redis-address"] == f"{url.hostname}:{url.port or 6379}"
    assert broker["redis-password"] == (url.password or "")
