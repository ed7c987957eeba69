"""The escape hatch: the same request, refused in strict mode, run with warnings in warn mode.

Strategy Hyperband without MaxResource, and no epochs static hyperparameter to infer it from: the
API reference says SageMaker answers a validation error, so strict mode refuses it before Create.
moto's server accepts it, standing in for the day SageMaker accepts what a rule refuses.
"""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_hpt import CreateTuningJobOperator
from tests.dags.template_requests import MOTO_PARAMS, MOTO_REQUEST, START

HYPERBAND_WITHOUT_MAX_RESOURCE = {**MOTO_PARAMS, "strategy": "Hyperband"}

with DAG(
    "hpt_validation_strict", schedule=None, start_date=START, params=HYPERBAND_WITHOUT_MAX_RESOURCE
) as strict_dag:
    CreateTuningJobOperator(task_id="tune", request=MOTO_REQUEST, check_interval=0.1)

with DAG(
    "hpt_validation_warn", schedule=None, start_date=START, params=HYPERBAND_WITHOUT_MAX_RESOURCE
) as warn_dag:
    CreateTuningJobOperator(task_id="tune", request=MOTO_REQUEST, check_interval=0.1, validation="warn")
