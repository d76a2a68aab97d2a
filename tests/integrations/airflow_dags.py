"""DAGs that tests/integrations/test_airflow.py runs with `dag.test()` inside the Airflow side virtualenv.

Run as `python airflow_dags.py RESULT.json` from Airflow's DAGs folder (Airflow 3's `dag.test()` syncs the DAG
bundle, so the DAGs must live in a file there). At parse time it only defines DAGs; as `__main__` it starts the
webhook simulator, writes the activate project the DAGs name (ACTIVATE_TEST_PROJECT), runs each scenario and writes
`{scenario: {dag, sync, summary}}`: the DAG run's state, the sync task's state, and the summary a downstream task
read back from XCom.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from activate.integrations.airflow import SUMMARY_KEY, ActivateSyncOperator, run_activate_sync

PROJECT = os.environ.get("ACTIVATE_TEST_PROJECT", "/nonexistent")
RESULTS = Path(os.environ.get("ACTIVATE_TEST_XCOM_DIR", "/tmp"))
START = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


@task(task_id="read_summary", trigger_rule="all_done")
def read_summary(ti: Any = None) -> None:
    """Downstream of the sync whatever its state: what it pushed to XCom, kept for the test to read."""
    summary = ti.xcom_pull(task_ids="sync", key=SUMMARY_KEY)
    (RESULTS / f"{ti.dag_id}.json").write_text(json.dumps(summary))


def sync_dag(dag_id: str, **operator: Any) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START, catchup=False) as dag:
        ActivateSyncOperator(task_id="sync", sync="people_hook", project_dir=PROJECT, **operator) >> read_summary()
    return dag


default_dag = sync_dag("activate_default")
skip_dag = sync_dag("activate_skip", on_partial="skip")
succeed_dag = sync_dag("activate_succeed", on_partial="succeed")

with DAG("activate_task", schedule=None, start_date=START, catchup=False) as task_dag:
    task(task_id="sync")(run_activate_sync)("people_hook", PROJECT) >> read_summary()


def outcome(dag: DAG) -> dict[str, Any]:
    from airflow.utils.session import create_session

    run = dag.test()
    with create_session() as session:
        states = {ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)}
    written = RESULTS / f"{dag.dag_id}.json"
    summary = json.loads(written.read_text()) if written.exists() else None
    return {"dag": str(run.state), "sync": states.get("sync"), "summary": summary}


def main(out: Path) -> None:
    from activate.testing.project import ScratchProject
    from activate.testing.webhook_sim import WebhookSimulator

    results: dict[str, Any] = {}
    with WebhookSimulator() as hooks:
        project = ScratchProject(Path(PROJECT))
        project.people(4)
        project.add_connection("hooks", {"type": "webhook", "url": hooks.url})
        project.add_sync("people_hook", {"connection": "hooks", "object": "people", "mapping": {"email": "email"}})
        results["succeeded"] = outcome(default_dag)
        partials = {"partial_default": default_dag, "partial_skip": skip_dag, "partial_succeed": succeed_dag}
        for name, dag in partials.items():
            hooks.reject_keys = {"2"}
            project.execute(f"update people set email = '{name}@example.com' where id = 2")  # changed: re-sent
            results[name] = outcome(dag)
        hooks.reject_keys = set()
        project.execute("update people set email = 'fixed@example.com' where id = 2")
        results["task_helper"] = outcome(task_dag)
        results["delivered"] = len(hooks.rows("people"))
    out.write_text(json.dumps(results))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
