"""Test DAGs run against the local SageMaker backend: real status transitions, deferrable waiting.

`params.scripts` must be the file:// URI of tests/local/scripts (the tests pass it as run conf);
`params.hold`, where a DAG uses HELD_REQUEST, a file that keeps its training jobs running until it
exists (quadratic.py --hold).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from airflow_hpt import CreateTuningJobOperator, TuningJobSensor
from tests.dags.template_requests import (
    LOCAL_QUADRATIC,
    START,
    held_quadratic_request,
    quadratic_params,
)

PARAMS = quadratic_params(max_jobs=4, epochs=3, hold="")
REQUEST = LOCAL_QUADRATIC
HELD_REQUEST = held_quadratic_request()


@task
def deploy(tuning_task: str, ti: Any = None) -> dict[str, Any]:
    """Stands for a deployment: what it needs must come through XCom."""
    return {
        "best_training_job_arn": ti.xcom_pull(task_ids=tuning_task, key="best_training_job_arn"),
        "model_artifacts": ti.xcom_pull(task_ids=tuning_task, key="model_artifacts"),
    }


with DAG("hpt_local_deferrable", schedule=None, start_date=START, params=PARAMS) as deferrable_dag:
    CreateTuningJobOperator(task_id="tune", request=REQUEST, deferrable=True, check_interval=0.5) >> deploy(
        "tune"
    )

with DAG("hpt_local_sync", schedule=None, start_date=START, params=PARAMS) as sync_dag:
    CreateTuningJobOperator(task_id="tune", request=REQUEST, deferrable=False, check_interval=0.3)


@task
def release(params: Any = None) -> None:
    """Lets the held training jobs go on, once the create task has returned."""
    Path(params["hold"]).touch()


with DAG("hpt_local_sensor_deferrable", schedule=None, start_date=START, params=PARAMS) as sensor_dag:
    (
        CreateTuningJobOperator(task_id="create", request=HELD_REQUEST, wait_for_completion=False)
        >> release()
        >> TuningJobSensor(
            task_id="wait",
            tuning_job_name="{{ ti.xcom_pull(task_ids='create', key='tuning_job_name') }}",
            deferrable=True,
            poke_interval=0.5,
        )
        >> deploy("wait")
    )

with DAG("hpt_local_sensor_reschedule", schedule=None, start_date=START, params=PARAMS) as reschedule_dag:
    (
        CreateTuningJobOperator(task_id="create", request=REQUEST, wait_for_completion=False)
        >> TuningJobSensor(
            task_id="wait",
            tuning_job_name="{{ ti.xcom_pull(task_ids='create', key='tuning_job_name') }}",
            mode="reschedule",
            poke_interval=0.5,
        )
        >> deploy("wait")
    )


def both_modes(**operator_kwargs: Any) -> None:
    """The same wait, synchronous and deferred, as two independent tasks of the current DAG."""
    CreateTuningJobOperator(
        task_id="tune_sync", request=REQUEST, deferrable=False, check_interval=0.3, **operator_kwargs
    )
    CreateTuningJobOperator(
        task_id="tune_deferred", request=REQUEST, deferrable=True, check_interval=0.3, **operator_kwargs
    )


with DAG(
    "hpt_local_failed", schedule=None, start_date=START, params={**PARAMS, "fail": "true", "max_jobs": 2}
) as failed_dag:
    both_modes()

# the jobs run for minutes unless stopped: a slow machine cannot let them end before the stop
with DAG("hpt_local_stopped", schedule=None, start_date=START, params={**PARAMS, "sleep": 60}) as stopped_dag:
    both_modes()
    CreateTuningJobOperator(
        task_id="tune_accept_stopped",
        request=REQUEST,
        deferrable=True,
        check_interval=0.3,
        fail_on_stopped=False,
    )

with DAG("hpt_local_storm", schedule=None, start_date=START, params={**PARAMS, "sleep": 0.3}) as storm_dag:
    both_modes()
    CreateTuningJobOperator(task_id="create", request=REQUEST, wait_for_completion=False) >> TuningJobSensor(
        task_id="wait",
        tuning_job_name="{{ ti.xcom_pull(task_ids='create', key='tuning_job_name') }}",
        deferrable=True,
        poke_interval=0.3,
    )

with DAG(
    "hpt_local_max_wait", schedule=None, start_date=START, params={**PARAMS, "sleep": 60, "max_jobs": 2}
) as max_wait_dag:
    both_modes(max_wait=3)
