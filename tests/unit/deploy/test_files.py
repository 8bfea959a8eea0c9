"""Every deployment file parses, and kustomize applies what it should and nothing more."""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path

import pytest

from tests.unit.deploy.manifests import (
    DEPLOY,
    EXAMPLE_CONFIG,
    KUSTOMIZATION,
    ROOT,
    SECRETS_EXAMPLE,
    applied_objects,
    documents,
    example_settings,
    kustomization,
    of_kind,
    pod_spec,
    yaml_files,
)


def test_the_deployment_has_yaml_files() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in yaml_files()}
    assert {"deploy/kustomization.yaml", "docker/compose.yaml"} <= names


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_yaml_file_parses(path: Path) -> None:
    docs = documents(path)
    assert docs, f"{path}: no YAML document"
    if path.parent == DEPLOY and path != KUSTOMIZATION:
        for doc in docs:
            assert {"apiVersion", "kind", "metadata"} <= set(doc), f"{path}: not a K8s object"
            assert doc["metadata"].get("name"), f"{path}: {doc['kind']} without a name"


def test_kustomization_applies_every_manifest_but_the_secret_placeholders() -> None:
    # A manifest left out is silently not deployed; the placeholder Secrets put in would
    # overwrite the real ones on every apply.
    listed = set(kustomization()["resources"])
    manifests = {p.name for p in DEPLOY.glob("*.yaml")} - {KUSTOMIZATION.name}
    assert listed == manifests - {SECRETS_EXAMPLE.name}
    assert not [doc for doc in documents(SECRETS_EXAMPLE) if doc["kind"] != "Secret"]


def test_object_names_are_unique() -> None:
    counts = Counter((obj.kind, obj.name) for obj in applied_objects())
    assert [key for key, count in counts.items() if count > 1] == []


def test_configmap_holds_the_example_dagcore_toml() -> None:
    (generator,) = kustomization()["configMapGenerator"]
    assert generator["name"] == "dagcore-config"
    assert generator["files"] == [EXAMPLE_CONFIG.name]
    deployments = of_kind("Deployment")
    assert deployments
    for deployment in deployments:
        volumes = {v["name"]: v for v in pod_spec(deployment).get("volumes", [])}
        mounted = [v for v in volumes.values() if v.get("configMap", {}).get("name")]
        assert [v["configMap"]["name"] for v in mounted] == ["dagcore-config"], deployment


def test_example_config_is_valid_and_leaves_urls_to_secrets() -> None:
    settings = example_settings()  # raises ConfigError on any bad value
    assert [q.name for q in settings.queues] == ["default", "io", "gpu"]
    with EXAMPLE_CONFIG.open("rb") as stream:
        raw = tomllib.load(stream)
    # Broker and history URLs carry credentials: they come from DAGCORE_BROKER_URL and
    # DAGCORE_HISTORY_URL (Secrets), never from the ConfigMap.
    assert "broker_url" not in raw.get("celery", {})
    assert "result_backend" not in raw.get("celery", {})
    assert "url" not in raw.get("history", {})
