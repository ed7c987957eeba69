"""Kill means stop (tests/soak/test_kill_means_stop.py): tuning jobs that would run for minutes,
waited for by deferred tasks a user then marks failed or clears, or that reach max_wait; the
sensor-only pattern (create without waiting, then a deferrable sensor), with and without
stop_on_kill; and synchronous tasks (waiting in the worker) hit by their execution_timeout or marked
success by a user. `SOAK_SCRIPTS` (environment, at parse time) is the file:// URI of tests/local/scripts."""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import DAG

from airflow_hpt import CreateTuningJobOperator, TuningJobSensor

REQUEST = "templates/local_quadratic.json.j2"
PARAMS = {
    "scripts": os.environ.get("SOAK_SCRIPTS", "file:///nonexistent"),
    "max_jobs": 1,
    "parallel": 1,
    "epochs": 1,
    "sleep": 600,  # a job runs for ten minutes unless something stops it
    "fail": "false",
}
MAX_WAIT = timedelta(seconds=15)
# long enough for the task to create its job and poll it on a loaded machine, so the timeout lands
# on a job that runs; the job itself would run for ten minutes
EXECUTION_TIMEOUT = timedelta(seconds=45)


def kill_dag(dag_id: str) -> DAG:
    return DAG(
        dag_id,
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
        params=PARAMS,
        default_args={"retries": 0},
    )


with kill_dag("soak_kill_operator"):
    CreateTuningJobOperator(task_id="mark_failed", request=REQUEST, deferrable=True, check_interval=1)
    CreateTuningJobOperator(task_id="clear", request=REQUEST, deferrable=True, check_interval=1)
    CreateTuningJobOperator(
        task_id="max_wait", request=REQUEST, deferrable=True, check_interval=1, max_wait=MAX_WAIT
    )
    CreateTuningJobOperator(
        task_id="max_wait_sync", request=REQUEST, deferrable=False, check_interval=1, max_wait=MAX_WAIT
    )

with kill_dag("soak_kill_sensor"):
    for name, stop_on_kill in (("left_running", False), ("asked_to_stop", True)):
        create = CreateTuningJobOperator(task_id=f"create_{name}", request=REQUEST, wait_for_completion=False)
        sense = TuningJobSensor(
            task_id=f"sense_{name}",
            tuning_job_name=f"{{{{ ti.xcom_pull(task_ids='create_{name}', key='tuning_job_name') }}}}",
            deferrable=True,
            poke_interval=1,
            stop_on_kill=stop_on_kill,
        )
        create >> sense

with kill_dag("soak_kill_sync"):
    CreateTuningJobOperator(
        task_id="execution_timeout",
        request=REQUEST,
        deferrable=False,
        check_interval=1,
        execution_timeout=EXECUTION_TIMEOUT,
    )
    CreateTuningJobOperator(task_id="mark_success", request=REQUEST, deferrable=False, check_interval=1)
