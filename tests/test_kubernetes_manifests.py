"""deploy/kubernetes/: every manifest validates against the Kubernetes JSON schemas (kubernetes-validate ships them,
so this runs offline), and the project volume the pods mount, rendered from the ConfigMaps the way the kubelet
projects them, is a loadable project with `syncs/` as a directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import typer
from ruamel.yaml import YAML

from activate.cli.app import app
from activate.config import load_project

ROOT = Path(__file__).resolve().parents[1]
MANIFESTS = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.37.0"


def documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in YAML(typ="safe").load_all((MANIFESTS / name).read_text()) if doc]


ALL = {name: documents(name) for name in ("project.yaml", "scheduler.yaml", "cronjob.yaml")}
CONFIGMAPS = {doc["metadata"]["name"]: doc for doc in ALL["project.yaml"] if doc["kind"] == "ConfigMap"}


def pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    if manifest["kind"] == "CronJob":
        return manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]  # type: ignore[no-any-return]
    return manifest["spec"]["template"]["spec"]  # type: ignore[no-any-return]


WORKLOADS = [doc for name in ("scheduler.yaml", "cronjob.yaml") for doc in ALL[name] if doc["kind"] != "Service"]


@pytest.mark.parametrize(
    "document", [doc for docs in ALL.values() for doc in docs], ids=lambda d: f"{d['kind']}-{d['metadata']['name']}"
)
def test_manifest_validates_against_the_schema(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_the_validator_catches_a_misspelt_field() -> None:
    broken = {**WORKLOADS[0], "spec": {**WORKLOADS[0]["spec"], "replicaz": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def render_project(manifest: dict[str, Any], into: Path) -> list[str]:
    """Write the files the pod's /project mount holds, as the kubelet projects them; returns their paths."""
    [mount] = [m for c in pod_spec(manifest)["containers"] for m in c["volumeMounts"] if m["mountPath"] == "/project"]
    [volume] = [v for v in pod_spec(manifest)["volumes"] if v["name"] == mount["name"]]
    paths = []
    for source in volume["projected"]["sources"]:
        configmap = CONFIGMAPS[source["configMap"]["name"]]
        items = source["configMap"].get("items") or [{"key": k, "path": k} for k in configmap["data"]]
        assert {item["key"] for item in items} == set(configmap["data"]), "every key of the ConfigMap is mounted"
        for item in items:
            target = into / item["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(configmap["data"][item["key"]])
            paths.append(item["path"])
    return paths


@pytest.mark.parametrize("manifest", WORKLOADS, ids=lambda d: d["kind"])
def test_project_volume_has_syncs_as_a_directory_and_loads(manifest: dict[str, Any], tmp_path: Path) -> None:
    paths = render_project(manifest, tmp_path)
    assert "activate.yml" in paths
    syncs = [p for p in paths if p != "activate.yml"]
    assert syncs
    assert all(p.startswith("syncs/") and p.count("/") == 1 for p in syncs)
    assert (tmp_path / "syncs").is_dir()
    env = {
        "ACTIVATE_STATE_URL": "postgresql+psycopg://activate@postgres:5432/activate",
        "WAREHOUSE_URL": "postgresql+psycopg://reader@warehouse:5432/analytics",
        "ACTIVATE_REDIS_URL": "redis://redis:6379/0",
        "WEBHOOK_TOKEN": "t0ken",
    }
    project = load_project(tmp_path, env=env)
    assert list(project.syncs) == ["people_hook"]
    [container] = pod_spec(manifest)["containers"]
    given = {item["name"] for item in container["env"]}
    assert set(env) <= given, "every variable activate.yml reads is set in the pod"
    assert {"name": "ACTIVATE_PROJECT_DIR", "value": "/project"} in container["env"]
    assert pod_spec(manifest)["securityContext"]["runAsUser"] == 10001


@pytest.mark.parametrize("manifest", WORKLOADS, ids=lambda d: d["kind"])
def test_container_arguments_parse_as_activate_commands(manifest: dict[str, Any]) -> None:
    [container] = pod_spec(manifest)["containers"]
    assert container["command"] == ["activate-etl"]
    group: Any = typer.main.get_command(app)
    name, *arguments = container["args"]
    parent = group.make_context("activate-etl", list(container["args"]))
    command = group.get_command(parent, name)
    assert command is not None
    context = command.make_context(name, list(arguments), parent=parent)  # raises on an unknown option or bad value
    if name == "schedule":
        assert (context.params["metrics_host"], context.params["metrics_port"]) == ("0.0.0.0", 9464)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["metrics"] == 9464
        assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
