"""The recipes of docs/orchestrators.md, taken from the document itself and run: the shell commands in a subprocess,
the Airflow callable executed, the CronJob parsed. Airflow and Kubernetes are not installed; what they would call is.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

import activate
from activate.http.caller import forget_callers
from activate.testing.project import ScratchProject
from activate.testing.webhook_sim import WebhookSimulator

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "orchestrators.md"


def blocks(language: str) -> list[str]:
    """The document's fenced code blocks in `language`, in order."""
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


AIRFLOW_COMMAND, CRONJOB_COMMAND = (block.strip() for block in blocks("bash"))
BASH_OPERATOR, CALLABLE, TASK = blocks("python")
[CRONJOB] = blocks("yaml")


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
    assert keyword(BASH_OPERATOR, "skip_on_exit_code") == 3
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


def test_task_callable_returns_the_summary_and_raises_on_failure(
    project: ScratchProject, hooks: WebhookSimulator
) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(CALLABLE, str(DOC), "exec"), namespace)  # noqa: S102 - the document's own recipe, as written
    run_activate: Callable[[str, str], dict[str, Any]] = namespace["run_activate"]
    assert "task(" in TASK
    assert "(run_activate)" in TASK

    hooks.reject_keys = {"4"}
    partial = run_activate("people_hook", str(project.root))
    assert (partial["status"], partial["exit_code"], partial["rows_rejected"]) == ("partial", 3, 1)
    hooks.reject_keys = set()

    summary = activate.run_sync("people_hook", project_dir=project.root, retry_rejected=True)
    assert (summary.status, summary.exit_code, summary.rows_succeeded) == ("succeeded", 0, 1)

    project.execute("delete from people")
    with pytest.raises(RuntimeError, match=r"activate sync people_hook failed: allow_empty_source"):
        run_activate("people_hook", str(project.root))


def test_cronjob_parses_and_runs_the_documented_invocation(project: ScratchProject) -> None:
    manifest = YAML(typ="safe").load(CRONJOB)
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
