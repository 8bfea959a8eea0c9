"""Reading the deployment files of ``deploy/`` and ``docker/`` for the tests beside this module.

Everything here parses; nothing talks to a cluster or a Docker daemon. Kubernetes objects are
plain dicts as PyYAML returns them, so the helpers take and return ``Any`` at the edges and
check shapes with assertions that name the file and object.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from celery_app.worker import WorkerOptions
from dagcore.configuration.core import DagcoreConfig
from dagcore.configuration.loader import ConfigFile, read_file
from dagcore.configuration.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
DOCKER = ROOT / "docker"
EXAMPLE_CONFIG = DEPLOY / "dagcore.toml"
SECRETS_EXAMPLE = DEPLOY / "secrets.example.yaml"
KUSTOMIZATION = DEPLOY / "kustomization.yaml"
COMPOSE = DOCKER / "compose.yaml"
DOCKERFILE = DOCKER / "Dockerfile"


def yaml_files() -> list[Path]:
    """Every YAML file of the deployment, sorted."""
    return sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml"), *DOCKER.rglob("*.y*ml")])


def documents(path: Path) -> list[Any]:
    """The non-empty YAML documents of ``path``."""
    with path.open(encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc is not None]


def kustomization() -> dict[str, Any]:
    (doc,) = documents(KUSTOMIZATION)
    assert isinstance(doc, dict)
    return doc


@dataclass(frozen=True)
class K8sObject:
    """One Kubernetes object and the file it came from."""

    path: Path
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    def __str__(self) -> str:
        return f"{self.kind}/{self.name} ({self.path.relative_to(ROOT)})"


def applied_objects() -> list[K8sObject]:
    """The objects ``kubectl apply -k deploy/`` creates from files (not the generated ones)."""
    found: list[K8sObject] = []
    for name in kustomization()["resources"]:
        path = DEPLOY / name
        found += [K8sObject(path, doc) for doc in documents(path)]
    return found


def of_kind(kind: str, objects: list[K8sObject] | None = None) -> list[K8sObject]:
    return [obj for obj in (applied_objects() if objects is None else objects) if obj.kind == kind]


def example_secrets() -> dict[str, dict[str, str]]:
    """Secret name -> its keys and (placeholder) values, from ``secrets.example.yaml``."""
    secrets: dict[str, dict[str, str]] = {}
    for doc in documents(SECRETS_EXAMPLE):
        assert doc["kind"] == "Secret", SECRETS_EXAMPLE
        secrets[doc["metadata"]["name"]] = {
            **dict(doc.get("data") or {}),
            **dict(doc.get("stringData") or {}),
        }
    return secrets


def example_settings() -> Settings:
    """Settings read from ``deploy/dagcore.toml`` alone (no environment, no other file)."""
    layer = read_file(ConfigFile(str(EXAMPLE_CONFIG), luigi=False, toml=True))
    return Settings.from_config(DagcoreConfig(lambda: [layer]))


def pod_spec(deployment: K8sObject) -> dict[str, Any]:
    spec = deployment.body["spec"]["template"]["spec"]
    assert isinstance(spec, dict), deployment
    return spec


def containers(deployment: K8sObject) -> list[dict[str, Any]]:
    found = pod_spec(deployment)["containers"]
    assert isinstance(found, list), deployment
    return found


def command_of(container: dict[str, Any]) -> list[str]:
    """What the container runs: ``command`` followed by ``args``."""
    return [str(part) for part in [*container.get("command", []), *container.get("args", [])]]


def is_worker_command(command: list[str]) -> bool:
    return command[:2] == ["dagcore", "worker"]


def worker_deployments() -> list[K8sObject]:
    """Deployments whose (single) container runs ``dagcore worker``."""
    return [
        obj
        for obj in of_kind("Deployment")
        if any(is_worker_command(command_of(c)) for c in containers(obj))
    ]


def worker_container(deployment: K8sObject) -> dict[str, Any]:
    (container,) = [c for c in containers(deployment) if is_worker_command(command_of(c))]
    return container


def parse_worker(command: list[str], settings: Settings) -> WorkerOptions:
    """Parse a ``dagcore worker`` command line exactly as the worker itself does."""
    assert is_worker_command(command), shlex.join(command)
    return WorkerOptions.parse(command[2:], settings)


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Environment variable name -> its entry (``value`` or ``valueFrom``)."""
    return {entry["name"]: entry for entry in container.get("env", [])}


def secret_refs(obj: K8sObject) -> Iterator[tuple[str, str]]:
    """Every (Secret name, key) an object reads: container env and KEDA secretTargetRef."""
    if obj.kind == "Deployment":
        for container in containers(obj):
            for entry in container.get("env", []):
                ref = (entry.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    yield ref["name"], ref["key"]
            assert "envFrom" not in container, f"{obj}: name each variable, no envFrom"
    if obj.kind == "TriggerAuthentication":
        for ref in obj.body["spec"].get("secretTargetRef", []):
            yield ref["name"], ref["key"]


_K8S_UNITS = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def k8s_bytes(quantity: object) -> int:
    """A Kubernetes memory quantity (``2Gi``, ``512Mi``, ``1G``, ``1048576``) in bytes."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?", str(quantity))
    assert match, f"unsupported memory quantity {quantity!r}"
    number, unit = match.groups()
    return int(float(number) * _K8S_UNITS[unit or ""])


def compose_bytes(size: object) -> int:
    """A compose/Docker byte size (``2g``, ``512m``, ``1024k``, ``100b``; binary units)."""
    match = re.fullmatch(r"(\d+)([bkmg]?)", str(size).lower())
    assert match, f"unsupported compose size {size!r}"
    number, unit = match.groups()
    return int(number) * {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30}[unit]


def compose_seconds(duration: object) -> float:
    """A compose duration (``1920s``, ``32m``, ``1h30m``) in seconds."""
    text = str(duration)
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|m|s|ms|us)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"bad duration {duration!r}"
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}
    return sum(float(number) * scale[unit] for number, unit in parts)
