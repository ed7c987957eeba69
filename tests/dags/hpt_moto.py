"""Test DAGs run against moto's server: API shape, naming, tags, reattach after a crash."""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Context

from airflow_hpt import CreateTuningJobOperator
from tests.dags.template_requests import MOTO_PARAMS, MOTO_REQUEST, START


class CrashAfterCreateOperator(CreateTuningJobOperator):
    """The first try dies right after SageMaker accepted the create, as a worker crash would."""

    def execute(self, context: Context) -> dict[str, Any]:
        if context["ti"].try_number == 1:
            request, request_fingerprint = self.prepare_request(context)
            self.hook.create_or_reattach(request, request_fingerprint)
            raise RuntimeError("simulated worker crash right after the create call")
        return super().execute(context)


def moto_dag(dag_id: str, **dag_options: Any) -> DAG:
    return DAG(dag_id, schedule=None, start_date=START, params=MOTO_PARAMS, **dag_options)


with moto_dag("hpt_moto_template") as template_dag:
    CreateTuningJobOperator(task_id="tune", request=MOTO_REQUEST, check_interval=0.1)

with moto_dag("hpt_moto_crash") as crash_dag:
    CrashAfterCreateOperator(
        task_id="tune",
        request=MOTO_REQUEST,
        check_interval=0.1,
        retries=1,
        retry_delay=pendulum.duration(seconds=0),
    )

with moto_dag("hpt_moto_native", render_template_as_native_obj=True) as native_dag:
    CreateTuningJobOperator(task_id="tune", request=MOTO_REQUEST, check_interval=0.1)

with moto_dag("hpt_moto_mapped") as mapped_dag:
    CreateTuningJobOperator.partial(task_id="tune", request=MOTO_REQUEST).expand(check_interval=[0.1, 0.2])
