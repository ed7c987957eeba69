"""The tuning view's real-process test (tests/realprocs/test_tuning_view.py): a deferred tuning task
whose training jobs are held (`params.hold`, quadratic.py --hold) so that the view is seen while the
job runs, a sensor on the same job, and a task that has no tuning job."""

from __future__ import annotations

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

from airflow_hpt import CreateTuningJobOperator, TuningJobSensor
from tests.dags.template_requests import START, held_quadratic_request, quadratic_params

with DAG("hpt_local_view", schedule=None, start_date=START, params=quadratic_params(hold="")) as dag:
    tune = CreateTuningJobOperator(
        task_id="tune",
        request=held_quadratic_request(),
        deferrable=True,
        check_interval=1,
        # the view prices what the job consumed
        instance_prices={"ml.m5.large": 0.115},
    )
    watch = TuningJobSensor(
        task_id="watch",
        tuning_job_name="{{ ti.xcom_pull(task_ids='tune', key='tuning_job_name') }}",
        poke_interval=1,
    )
    tune >> [watch, EmptyOperator(task_id="other")]
