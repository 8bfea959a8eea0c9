"""deploy/ui.yaml: `dagcore ui` behind a login, over the workers' history, probed on /healthz."""

from __future__ import annotations

from dagcore.ui.main import parse_args
from tests.unit.deploy.manifests import (
    applied_objects,
    command_of,
    containers,
    env_of,
    example_secrets,
    of_kind,
)


def test_ui_deployment_and_service() -> None:
    (deployment,) = [d for d in of_kind("Deployment") if d.name == "dagcore-ui"]
    (container,) = containers(deployment)
    command = command_of(container)
    assert command[:2] == ["dagcore", "ui"]
    args = parse_args(command[2:])
    env = env_of(container)
    secrets = example_secrets()
    for name in ("DAGCORE_HISTORY_URL", "DAGCORE_UI_BASIC_AUTH"):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["key"] in secrets[ref["name"]], name  # a Secret the example creates
    assert env["DAGCORE_HISTORY_URL"]["valueFrom"]["secretKeyRef"]["name"] == "dagcore-history"
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": args.port} and args.address == "0.0.0.0"
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
    (service,) = [s for s in applied_objects() if s.kind == "Service" and s.name == "dagcore-ui"]
    assert service.body["spec"]["selector"] == deployment.body["spec"]["selector"]["matchLabels"]
    assert service.body["spec"]["ports"][0]["targetPort"] == "http"


def test_compose_serves_the_ui_on_loopback_behind_a_login() -> None:
    import yaml

    from tests.unit.deploy.manifests import ROOT

    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text(encoding="utf-8"))
    service = compose["services"]["ui"]
    assert service["command"][:2] == ["dagcore", "ui"]
    args = parse_args(service["command"][2:])
    assert service["ports"] == [f"127.0.0.1:{args.port}:{args.port}"]
    assert service["environment"]["DAGCORE_UI_BASIC_AUTH"].startswith("${DAGCORE_UI_BASIC_AUTH:?")
    assert "/healthz" in " ".join(service["healthcheck"]["test"])
