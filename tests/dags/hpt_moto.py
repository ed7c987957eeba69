"""Test DAGs run against moto's server: API shape, naming, tags, reattach after a crash."""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Context

from airflow_hpt import CreateTuningJobOperator

PARAMS = {
    "strategy": "Bayesian",
    "max_jobs": "6",
    "max_parallel": 2,
    "eta_min": 0.01,
    "rounds": 50,
    "note": "weekly",
    "team": "ml",
}


class CrashAfterCreateOperator(CreateTuningJobOperator):
    """The first try dies right after SageMaker accepted the create, as a worker crash would."""

    def execute(self, context: Context) -> dict[str, Any]:
        if context["ti"].try_number == 1:
            request, request_fingerprint = self.prepare_request(context)
            self.hook.create_or_reattach(request, request_fingerprint)
            raise RuntimeError("simulated worker crash right after the create call")
        return super().execute(context)


with DAG(
    "hpt_moto_template",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    params=PARAMS,
) as template_dag:
    CreateTuningJobOperator(task_id="tune", request="templates/moto_request.json.j2", check_interval=0.1)

with DAG(
    "hpt_moto_crash",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    params=PARAMS,
) as crash_dag:
    CrashAfterCreateOperator(
        task_id="tune",
        request="templates/moto_request.json.j2",
        check_interval=0.1,
        retries=1,
        retry_delay=pendulum.duration(seconds=0),
    )

with DAG(
    "hpt_moto_native",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    params=PARAMS,
    render_template_as_native_obj=True,
) as native_dag:
    CreateTuningJobOperator(task_id="tune", request="templates/moto_request.json.j2", check_interval=0.1)

with DAG(
    "hpt_moto_mapped",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    params=PARAMS,
) as mapped_dag:
    CreateTuningJobOperator.partial(task_id="tune", request="templates/moto_request.json.j2").expand(
        check_interval=[0.1, 0.2]
    )
