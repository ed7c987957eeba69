"""Tuning tasks that give up at max_wait and stop their job: sync and deferrable.

The jobs' training jobs hold until `params.hold` exists (tests/local/scripts/quadratic.py), so they are
still running at the deadline; `params.scripts` is the file:// URI of tests/local/scripts.
"""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_hpt import CreateTuningJobOperator
from tests.dags.template_requests import START, held_quadratic_request, quadratic_params

HELD_REQUEST = held_quadratic_request()

with DAG("hpt_max_wait", schedule=None, start_date=START, params=quadratic_params(epochs=2, hold="")) as dag:
    CreateTuningJobOperator(task_id="sync", request=HELD_REQUEST, max_wait=2, check_interval=0.3)
    CreateTuningJobOperator(
        task_id="deferred",
        request=HELD_REQUEST,
        max_wait=2,
        check_interval=0.3,
        deferrable=True,
        min_deferral=0,
    )
