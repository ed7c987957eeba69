"""A deferred tuning task for the real-process test (tests/realprocs), which kills the triggerer while
it waits. `params.scripts` is the file:// URI of tests/local/scripts; `params.hold` a file that keeps
the training jobs running until it exists (quadratic.py --hold), so that the job is surely still
running when the triggerer is killed, however slow the machine."""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_hpt import CreateTuningJobOperator
from tests.dags.template_requests import START, held_quadratic_request, quadratic_params

with DAG(
    "hpt_local_realprocs", schedule=None, start_date=START, params=quadratic_params(epochs=3, hold="")
) as dag:
    CreateTuningJobOperator(
        task_id="tune", request=held_quadratic_request(), deferrable=True, check_interval=1
    )
