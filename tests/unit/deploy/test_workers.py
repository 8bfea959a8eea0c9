"""Kubernetes pods: one worker Deployment per queue, sized as the queue; Flower; Secrets."""

from __future__ import annotations

import posixpath
import re
from typing import Any
from urllib.parse import urlsplit

import pytest

from celery_app.app import check_countdown
from tests.unit.deploy.manifests import (
    DOCKERFILE,
    K8sObject,
    applied_objects,
    command_of,
    containers,
    env_of,
    example_secrets,
    example_settings,
    k8s_bytes,
    kustomization,
    of_kind,
    parse_worker,
    pod_spec,
    secret_refs,
    worker_container,
    worker_deployments,
)

HEALTHCHECK = "/usr/local/bin/dagcore-healthcheck"


def _secret_env(container: dict[str, Any], name: str) -> tuple[str, str]:
    entry = env_of(container).get(name)
    assert entry is not None, f"no {name}"
    assert "value" not in entry, f"{name} is written into the manifest; read it from a Secret"
    ref = entry["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


def test_each_queue_has_exactly_one_worker_deployment_sized_as_the_queue() -> None:
    settings = example_settings()
    consumers: dict[str, list[str]] = {q.name: [] for q in settings.queues}
    for deployment in worker_deployments():
        options = parse_worker(command_of(worker_container(deployment)), settings)
        # Without --queues a worker consumes every queue and sizes itself for the largest.
        assert len(options.queues) == 1, f"{deployment} consumes {options.queues}"
        (name,) = options.queues
        consumers[name].append(deployment.name)
        queue = next(q for q in settings.queues if q.name == name)
        assert options.concurrency == queue.concurrency, deployment
        limits = worker_container(deployment).get("resources", {}).get("limits", {})
        limit = k8s_bytes(limits["memory"]) if "memory" in limits else None
        assert limit == queue.memory_bytes, f"{deployment}: memory limit vs [queues.{name}]"
    assert {name: len(found) for name, found in consumers.items()} == dict.fromkeys(consumers, 1)


def test_worker_deployments_leave_the_replica_count_to_keda() -> None:
    for deployment in worker_deployments():
        assert "replicas" not in deployment.body["spec"], deployment


def test_workers_run_celery_as_pid_1_with_a_grace_period_longer_than_any_task() -> None:
    settings = example_settings()
    timeout = settings.worker.timeout
    assert timeout > 0, "[worker] timeout = 0 leaves no bound to size grace periods on"
    check_countdown(float(timeout), settings.celery.visibility_timeout, "[worker] timeout")
    # SIGTERM lets running tasks finish for shutdown_timeout, then interrupts them.
    shutdown = settings.worker.shutdown_timeout
    assert shutdown >= timeout, "a scale-down would interrupt tasks that are within timeout"
    for deployment in worker_deployments():
        grace = pod_spec(deployment).get("terminationGracePeriodSeconds", 30)
        assert grace > shutdown, f"{deployment}: SIGKILL before a running task can finish"
        command = command_of(worker_container(deployment))
        # A shell in front would take the SIGTERM meant for Celery (warm shutdown).
        assert command[0] == "dagcore", deployment


# `dagcore worker --healthcheck` reads a file and talks to nothing; the probe's time goes to
# Python's start-up (imports of dagcore and Celery), seconds on a busy node.
_PROBE_STARTUP = 10


def test_worker_probes_run_the_swappable_healthcheck_script() -> None:
    for deployment in worker_deployments():
        container = worker_container(deployment)
        for kind in ("livenessProbe", "readinessProbe"):
            probe = container.get(kind)
            assert probe, f"{deployment}: no {kind}"
            assert probe["exec"]["command"] == [HEALTHCHECK], deployment
            # Kubernetes kills an exec probe at timeoutSeconds (default 1 s): it must outlast
            # Python's start-up.
            assert probe.get("timeoutSeconds", 1) >= _PROBE_STARTUP, f"{deployment} {kind}"
        liveness = container["livenessProbe"]
        patience = liveness.get("periodSeconds", 10) * liveness.get("failureThreshold", 3)
        assert patience >= 120, f"{deployment}: a short broker blip would restart every worker"


def test_every_dagcore_container_runs_one_image_as_the_images_user() -> None:
    uid = re.search(r"^USER (\d+)", DOCKERFILE.read_text(encoding="utf-8"), re.MULTILINE)
    assert uid and int(uid.group(1)) != 0
    assert [image["name"] for image in kustomization()["images"]] == ["dagcore"]
    for deployment in of_kind("Deployment"):
        security = pod_spec(deployment)["securityContext"]
        assert security["runAsNonRoot"] is True, deployment
        assert security["runAsUser"] == int(uid.group(1)), deployment
        for container in containers(deployment):
            assert container["image"] == "dagcore", deployment
            assert container["securityContext"]["allowPrivilegeEscalation"] is False


def _config_path_is_mounted(deployment: K8sObject, container: dict[str, Any]) -> None:
    path = env_of(container)["DAGCORE_CONFIG_PATH"]["value"]
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    mounts = [
        m
        for m in container["volumeMounts"]
        if volumes[m["name"]].get("configMap", {}).get("name") == "dagcore-config"
    ]
    # A directory mount (no subPath), so an edited ConfigMap reaches running pods.
    assert [(m["mountPath"], m.get("subPath")) for m in mounts] == [
        (posixpath.dirname(path), None)
    ], deployment
    assert posixpath.basename(path) == "dagcore.toml"


def test_workers_read_config_and_urls_from_configmap_and_secrets() -> None:
    for deployment in worker_deployments():
        container = worker_container(deployment)
        _config_path_is_mounted(deployment, container)
        assert _secret_env(container, "DAGCORE_BROKER_URL") == ("dagcore-broker", "broker-url")
        assert _secret_env(container, "DAGCORE_HISTORY_URL") == ("dagcore-history", "url")


def test_flower_is_one_pod_behind_basic_auth_and_a_matching_service() -> None:
    (deployment,) = [d for d in of_kind("Deployment") if d.name == "dagcore-flower"]
    assert deployment.body["spec"].get("replicas", 1) == 1
    spec = pod_spec(deployment)
    # Flower exits on FLOWER_* variables it does not know, which service links can add.
    assert spec["enableServiceLinks"] is False
    (container,) = containers(deployment)
    assert command_of(container)[0] == "/usr/local/bin/dagcore-flower"
    _config_path_is_mounted(deployment, container)
    assert _secret_env(container, "DAGCORE_BROKER_URL") == ("dagcore-broker", "broker-url")
    assert _secret_env(container, "DAGCORE_FLOWER_BASIC_AUTH")[0] == "dagcore-flower"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for kind in ("livenessProbe", "readinessProbe"):
        assert container[kind]["httpGet"]["path"] == "/healthcheck"  # the page with no login
    labels = deployment.body["spec"]["template"]["metadata"]["labels"]
    services = [
        s for s in of_kind("Service") if s.body["spec"]["selector"].items() <= labels.items()
    ]
    assert len(services) == 1
    for port in services[0].body["spec"]["ports"]:
        assert port["targetPort"] in ports or port["targetPort"] in ports.values()


def test_every_secret_reference_is_documented_in_the_example() -> None:
    secrets = example_secrets()
    refs = {ref for obj in applied_objects() for ref in secret_refs(obj)}
    assert refs
    missing = sorted(ref for ref in refs if ref[1] not in secrets.get(ref[0], {}))
    assert missing == [], "referenced Secret keys missing from secrets.example.yaml"


@pytest.mark.parametrize("obj", applied_objects(), ids=str)
def test_no_credentials_are_written_into_a_manifest(obj: K8sObject) -> None:
    assert obj.kind != "Secret", f"{obj}: Secrets are created outside kustomize"
    if obj.kind != "Deployment":
        return
    for container in containers(obj):
        for entry in container.get("env", []):
            value = str(entry.get("value", ""))
            assert not (urlsplit(value).password if "://" in value else None), obj
            assert not re.search(r"PASSWORD|SECRET|TOKEN|AUTH", entry["name"]) or (
                "value" not in entry
            ), f"{obj}: {entry['name']} must come from a Secret"
