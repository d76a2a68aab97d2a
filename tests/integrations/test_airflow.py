"""Airflow: `dag.test()` of DAGs using `ActivateSyncOperator` and the `@task` helper, in a real Airflow install.

Airflow's pins conflict with the dev environment, so it lives in its own virtualenv (`.ci/side-venv airflow`) and
this test drives `airflow_dags.py` there in a subprocess, against the webhook simulator, then reads its results.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from side_venvs import side_venv, venv_env

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent


def airflow_env(venv: Path, home: Path) -> dict[str, str]:
    env = venv_env(venv)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
    )
    return env


def migrated_database(venv: Path) -> Path:
    """An empty, migrated Airflow metadata database, made once per venv (`airflow db migrate` takes most of a
    minute) and copied for each test run."""
    template = venv / "activate-test-airflow.db"
    if not template.exists():
        home = venv / "activate-test-airflow-home"
        shutil.rmtree(home, ignore_errors=True)
        (home / "dags").mkdir(parents=True)
        migrate = [str(venv / "bin" / "airflow"), "db", "migrate"]
        env = airflow_env(venv, home)
        done = subprocess.run(migrate, env=env, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        shutil.move(str(home / "airflow.db"), str(template))
        shutil.rmtree(home, ignore_errors=True)
    return template


def test_dag_test_with_the_operator_and_the_task_helper(tmp_path: Path) -> None:
    airflow_venv = side_venv("airflow")
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    shutil.copy(migrated_database(airflow_venv), home / "airflow.db")
    shutil.copy(HERE / "airflow_dags.py", home / "dags" / "airflow_dags.py")
    (tmp_path / "xcom").mkdir()
    env = airflow_env(airflow_venv, home)
    env.update(ACTIVATE_TEST_PROJECT=str(tmp_path / "project"), ACTIVATE_TEST_XCOM_DIR=str(tmp_path / "xcom"))
    out = tmp_path / "results.json"
    command = [str(airflow_venv / "bin" / "python"), str(home / "dags" / "airflow_dags.py"), str(out)]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    results: dict[str, Any] = json.loads(out.read_text())
    errors = "\n".join(line for line in (done.stdout + done.stderr).splitlines() if "Error" in line)[-3000:]

    def sync_state(name: str) -> tuple[str | None, str | None, int | None]:
        summary = results[name]["summary"]
        return results[name]["sync"], summary and summary["status"], summary and summary["rows_rejected"]

    assert sync_state("succeeded") == ("success", "succeeded", 0), errors
    assert results["succeeded"]["summary"]["rows_succeeded"] == 4
    assert sync_state("partial_default") == ("failed", "partial", 1)  # the default: partial fails the task
    assert sync_state("partial_skip") == ("skipped", "partial", 1)
    assert sync_state("partial_succeed") == ("success", "partial", 1)
    assert sync_state("task_helper") == ("success", "succeeded", 0)
    assert results["task_helper"]["summary"]["rows_succeeded"] == 1  # only the fixed row was re-sent
    assert results["delivered"] == 4
