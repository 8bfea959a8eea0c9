"""The image (docker/Dockerfile), the compose fleet and the two scripts the image ships."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.unit.deploy.manifests import (
    COMPOSE,
    DOCKER,
    DOCKERFILE,
    ROOT,
    compose_bytes,
    compose_seconds,
    containers,
    documents,
    env_of,
    example_settings,
    is_worker_command,
    of_kind,
    parse_worker,
)

SCRIPTS = {"dagcore-healthcheck", "dagcore-flower"}


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile's final stage, continuation lines joined."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    found = [tuple(line.strip().split(None, 1)) for line in joined.splitlines() if line.strip()]
    pairs = [(str(i[0]).upper(), str(i[1]) if len(i) > 1 else "") for i in found]
    last_from = max(n for n, (op, _) in enumerate(pairs) if op == "FROM")
    return pairs[last_from:]


def _extras(spec: str) -> set[str]:
    match = re.search(r"dagcore\[([^\]]*)\]", spec)
    assert match, spec
    return {extra.strip() for extra in match.group(1).split(",")}


def test_image_installs_dagcore_with_the_celery_extra() -> None:
    installs = [args for op, args in _instructions() if op == "RUN" and "pip install" in args]
    assert len(installs) == 1
    extras = _extras(installs[0])
    with (ROOT / "pyproject.toml").open("rb") as stream:
        known = set(tomllib.load(stream)["project"]["optional-dependencies"])
    assert "celery" in extras
    # pip only warns about an unknown extra and installs without it.
    assert extras <= known


def test_image_runs_as_a_non_root_user_with_nothing_secret_baked_in() -> None:
    steps = _instructions()
    users = [args.split(":")[0] for op, args in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0")
    for op, args in steps:
        if op in ("ENV", "ARG"):
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=", args) or [args.split()[0]]
            for name in names:
                assert not re.search(r"PASSWORD|SECRET|TOKEN|AUTH|BROKER_URL|HISTORY_URL", name)
    for op, args in steps:
        if op in ("CMD", "ENTRYPOINT"):
            assert args.startswith("["), f"{op} in shell form: SIGTERM would go to the shell"


def test_image_ships_the_scripts_the_manifests_call_executable() -> None:
    copies = " ".join(args for op, args in _instructions() if op == "COPY")
    for script in sorted(SCRIPTS):
        assert f"docker/{script}" in copies
        mode = (DOCKER / script).stat().st_mode
        # COPY keeps the mode: a non-executable probe fails as "permission denied".
        assert mode & stat.S_IXUSR and mode & stat.S_IXOTH, script
    assert re.search(r"docker/dagcore-\S+ docker/dagcore-\S+ /usr/local/bin/", copies)


def _compose() -> dict[str, Any]:
    (doc,) = documents(COMPOSE)
    assert isinstance(doc, dict)
    return doc


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    assert isinstance(command, list), "command in exec (list) form"
    return [str(part) for part in command]


def _dagcore_services() -> dict[str, dict[str, Any]]:
    services = _compose()["services"]
    return {name: s for name, s in services.items() if s.get("image") == "dagcore:local"}


def test_compose_runs_one_worker_per_queue_sized_as_the_queue() -> None:
    settings = example_settings()
    consumers: dict[str, list[str]] = {q.name: [] for q in settings.queues}
    for name, service in _compose()["services"].items():
        if not is_worker_command(_command(service)):
            continue
        options = parse_worker(_command(service), settings)
        assert len(options.queues) == 1, name
        queue = next(q for q in settings.queues if q.name == options.queues[0])
        consumers[queue.name].append(name)
        assert options.concurrency == queue.concurrency, name
        limit = compose_bytes(service["mem_limit"]) if "mem_limit" in service else None
        assert limit == queue.memory_bytes, name
        grace = compose_seconds(service["stop_grace_period"])
        assert grace > settings.worker.timeout, name
        assert grace > settings.worker.shutdown_timeout, name
        assert service["healthcheck"]["test"] == ["CMD", "/usr/local/bin/dagcore-healthcheck"]
    assert {name: len(found) for name, found in consumers.items()} == dict.fromkeys(consumers, 1)


def test_compose_services_share_the_image_and_the_kubernetes_variable_names() -> None:
    services = _dagcore_services()
    assert {"flower"} < set(services)
    assert len({repr(s.get("build")) for s in services.values()}) == 1
    k8s_names = {name for d in of_kind("Deployment") for c in containers(d) for name in env_of(c)}
    for name, service in services.items():
        env = service["environment"]
        assert set(env) <= k8s_names, f"{name}: variables Kubernetes does not set"
        required = {"DAGCORE_CONFIG_PATH", "DAGCORE_BROKER_URL"}
        required |= {"DAGCORE_FLOWER_BASIC_AUTH"} if name == "flower" else set()
        required |= {"DAGCORE_HISTORY_URL"} if is_worker_command(_command(service)) else set()
        assert required <= set(env), name
        mounts = [str(volume).split(":") for volume in service["volumes"]]
        sources = {target: source for source, target, *_ in mounts}
        config = sources[env["DAGCORE_CONFIG_PATH"]]
        assert (DOCKER / config).resolve() == (ROOT / "deploy" / "dagcore.toml").resolve()


def test_compose_takes_passwords_from_the_environment() -> None:
    for name, service in _compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            text = str(value)
            for secret in re.findall(r"://[^/:@\s]*:([^@\s]+)@", text):
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", secret), f"{name}: {key}"
            if re.search(r"PASSWORD|AUTH", key):
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", text), f"{name}: {key}"


def test_compose_redis_keeps_messages() -> None:
    # dagcore worker warns about both; a local fleet should not start with the warnings.
    command = " ".join(_compose()["services"]["redis"]["command"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command


def _run(script: str, record: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    path = f"{record.parent}{os.pathsep}/usr/bin{os.pathsep}/bin"
    return subprocess.run(
        ["sh", str(DOCKER / script), *args],
        env={"PATH": path, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def fake_dagcore(tmp_path: Path) -> Path:
    """A ``dagcore`` first on PATH that records its arguments and exits with $FAKE_EXIT."""
    record = tmp_path / "record"
    script = tmp_path / "dagcore"
    script.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\nexit "${{FAKE_EXIT:-0}}"\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    return record


def test_healthcheck_checks_this_containers_heartbeat(fake_dagcore: Path) -> None:
    done = _run("dagcore-healthcheck", fake_dagcore)
    assert done.returncode == 0, done.stderr
    assert fake_dagcore.read_text(encoding="utf-8").splitlines() == ["worker", "--healthcheck"]
    # The check's verdict is the probe's: exit 1 (unhealthy) goes straight through.
    done = _run("dagcore-healthcheck", fake_dagcore, "--max-age", "9", FAKE_EXIT="1")
    assert done.returncode == 1
    args = fake_dagcore.read_text(encoding="utf-8").splitlines()
    assert args == ["worker", "--healthcheck", "--max-age", "9"]
    _run("dagcore-healthcheck", fake_dagcore, DAGCORE_HEALTHCHECK_MAX_AGE="120")
    args = fake_dagcore.read_text(encoding="utf-8").splitlines()
    assert args == ["worker", "--healthcheck", "--max-age", "120"]


def test_flower_runs_dagcore_flower_on_the_containers_address(fake_dagcore: Path) -> None:
    done = _run("dagcore-flower", fake_dagcore, DAGCORE_FLOWER_BASIC_AUTH="ops:s3cr3t")
    assert done.returncode == 0, done.stderr
    args = fake_dagcore.read_text(encoding="utf-8").splitlines()
    # Every interface of the container (the port mapping or the Service reaches it there),
    # and the login stays in the environment, off the command line `ps` shows.
    assert args == ["flower", "--address", "0.0.0.0", "--port", "5555"]
    done = _run(
        "dagcore-flower",
        fake_dagcore,
        "--url-prefix=flower",
        DAGCORE_FLOWER_ADDRESS="127.0.0.1",
        DAGCORE_FLOWER_PORT="8080",
    )
    assert done.returncode == 0, done.stderr
    args = fake_dagcore.read_text(encoding="utf-8").splitlines()
    assert args == ["flower", "--address", "127.0.0.1", "--port", "8080", "--url-prefix=flower"]


@pytest.mark.parametrize("auth", ["", "admin:"])
def test_flower_refuses_to_start_without_a_login(tmp_path: Path, auth: str) -> None:
    # The real `dagcore flower` (it refuses before it connects to anything).
    shim = tmp_path / "dagcore"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m dagcore "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    done = subprocess.run(
        ["sh", str(DOCKER / "dagcore-flower")],
        env={
            "PATH": f"{tmp_path}{os.pathsep}/usr/bin{os.pathsep}/bin",
            "PYTHONPATH": str(ROOT),
            "DAGCORE_FLOWER_BASIC_AUTH": auth,
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    error, hint = done.stderr.strip().splitlines()
    assert error.startswith("dagcore flower: error: ") and "DAGCORE_FLOWER_BASIC_AUTH" in error
    assert hint.startswith("hint: ")
