"""A deferred tuning task for the real-process test (tests/realprocs): slow enough to kill the triggerer
while it waits. `params.scripts` is the file:// URI of tests/local/scripts."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_hpt import CreateTuningJobOperator

with DAG(
    "hpt_local_realprocs",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    params={
        "scripts": "file:///nonexistent",
        "max_jobs": 2,
        "parallel": 2,
        "epochs": 3,
        "sleep": 4,
        "fail": "false",
    },
) as dag:
    CreateTuningJobOperator(
        task_id="tune", request="templates/local_quadratic.json.j2", deferrable=True, check_interval=1
    )
