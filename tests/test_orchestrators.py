"""The recipes of docs/orchestrators.md, taken from the document itself and run: the shell commands in a subprocess,
the Airflow recipes checked against the integration they call (tests/integrations/test_airflow.py runs them in a
real Airflow), the CronJob of deploy/kubernetes/ read and its command run.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from activate.http.caller import forget_callers
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookSimulator

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "orchestrators.md"


def blocks(language: str) -> list[str]:
    """The document's fenced code blocks in `language`, in order."""
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


AIRFLOW_COMMAND, KUBECTL, CRONJOB_COMMAND = (block.strip() for block in blocks("bash"))
OPERATOR, TASK, BASH_OPERATOR = blocks("python")
CRONJOB = (ROOT / "deploy" / "kubernetes" / "cronjob.yaml").read_text()
AIRFLOW_MODULE = ROOT / "activate" / "integrations" / "airflow.py"


@pytest.fixture
def hooks() -> Iterator[WebhookSimulator]:
    forget_callers()
    with WebhookSimulator() as simulator:
        yield simulator
    forget_callers()


@pytest.fixture
def project(tmp_path: Path, hooks: WebhookSimulator) -> ScratchProject:
    scratch = ScratchProject(tmp_path / "analytics")
    scratch.people(6)
    scratch.add_connection("hooks", {"type": "webhook", "url": hooks.url})
    scratch.add_sync(
        "people_hook",
        {"connection": "hooks", "object": "people", "mode": "mirror", "mapping": {"email": "{{ row.email }}"}},
    )
    return scratch


def shell(command: str, project: ScratchProject) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACTIVATE_")}
    env["ACTIVATE_PROJECT_DIR"] = str(project.root)
    return subprocess.run(command, shell=True, env=env, capture_output=True, text=True, timeout=120, check=False)


def keyword(source: str, name: str) -> Any:
    """The literal value of keyword argument `name` in a code block (the first call passing it)."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.keyword) and node.arg == name:
            return ast.literal_eval(node.value)
    raise AssertionError(f"no {name}= in {source}")


def test_bash_operator_runs_the_documented_command(project: ScratchProject) -> None:
    assert keyword(BASH_OPERATOR, "bash_command") == AIRFLOW_COMMAND
    assert "skip_on_exit_code=" not in BASH_OPERATOR  # partial (3) fails the task, as on_partial="fail" does
    assert keyword(BASH_OPERATOR, "env")["ACTIVATE_PROJECT_DIR"] == "/srv/analytics"


def test_documented_command_exit_codes(project: ScratchProject, hooks: WebhookSimulator) -> None:
    hooks.reject_keys = {"2"}
    partial = shell(AIRFLOW_COMMAND, project)
    assert partial.returncode == 3, partial.stderr
    assert len(hooks.rows("people")) == 5

    hooks.reject_keys = set()
    project.execute("update people set email = 'new@example.com' where id = 2")
    succeeded = shell(AIRFLOW_COMMAND, project)
    assert succeeded.returncode == 0, succeeded.stderr
    assert len(hooks.rows("people")) == 6

    project.execute("delete from people")  # every synced row would be deleted: allow_empty_source trips
    failed = shell(AIRFLOW_COMMAND, project)
    assert failed.returncode == 1, failed.stderr
    assert len(hooks.rows("people")) == 6

    (project.root / "syncs" / "people_hook.yml").write_text("name: people_hook\nsource: [not, a, mapping]\n")
    invalid = shell(AIRFLOW_COMMAND, project)
    assert invalid.returncode == 2, invalid.stderr


def test_airflow_recipes_name_what_the_integration_defines() -> None:
    """The recipes' imports and keywords exist in activate.integrations.airflow (Airflow itself is not installed
    here; the DAG test in tests/integrations runs the same forms)."""
    module = ast.parse(AIRFLOW_MODULE.read_text())
    defined = {node.name: node for node in module.body if isinstance(node, ast.ClassDef | ast.FunctionDef)}
    init = next(
        n for n in defined["ActivateSyncOperator"].body if isinstance(n, ast.FunctionDef) and n.name == "__init__"
    )
    parameters = {a.arg for a in init.args.kwonlyargs}
    assert {"sync", "project_dir", "on_partial"} <= parameters
    assert keyword(OPERATOR, "on_partial") == "fail"
    assert keyword(OPERATOR, "sync") == "people_hook"
    assert "from activate.integrations.airflow import ActivateSyncOperator" in OPERATOR
    assert "from activate.integrations.airflow import run_activate_sync" in TASK
    assert '(run_activate_sync)("people_hook", "/srv/analytics")' in TASK
    helper = defined["run_activate_sync"]
    assert [a.arg for a in helper.args.args] == ["sync", "project_dir"]
    assert helper.args.vararg is None
    assert helper.args.kwarg is None  # Airflow would pass the whole task context into a **kwargs


def test_kubectl_recipe_creates_what_the_manifests_mount() -> None:
    assert "kubectl create configmap activate-project --from-file=activate.yml" in KUBECTL
    assert "kubectl create configmap activate-syncs --from-file=syncs/" in KUBECTL
    assert "secret generic activate " in KUBECTL


def test_cronjob_parses_and_runs_the_documented_invocation(project: ScratchProject) -> None:
    [manifest] = YAML(typ="safe").load_all(CRONJOB)
    assert (manifest["apiVersion"], manifest["kind"]) == ("batch/v1", "CronJob")
    spec = manifest["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    [container] = pod["containers"]
    assert container["command"] + container["args"] == shlex.split(CRONJOB_COMMAND)
    env = {item["name"]: item for item in container["env"]}
    assert env["ACTIVATE_STATE_URL"]["valueFrom"]["secretKeyRef"]["key"] == "state-url"
    assert env["ACTIVATE_PROJECT_DIR"]["value"] == "/project"
    # the image's entrypoint is the command the manifest names, and it runs the sync as the Airflow command does
    assert 'ENTRYPOINT ["activate-etl"]' in (ROOT / "docker" / "Dockerfile").read_text()
    assert shlex.split(CRONJOB_COMMAND)[1:] == shlex.split(AIRFLOW_COMMAND)[3:]
    done = shell(CRONJOB_COMMAND, project)
    assert done.returncode == 0, done.stderr
