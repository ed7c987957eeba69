"""Test DAGs of the production guardrails against the local backend (tests/integration/test_guardrails.py).

`params.scripts` must be the file:// URI of tests/local/scripts (the tests pass it as run conf).
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG

from airflow_hpt import CreateTuningJobOperator
from tests.dags.template_requests import LOCAL_QUADRATIC, START, quadratic_params

# 4 jobs x 1 ml.m5.large x 600 s: 0.67 instance-hours, 0.077 at 0.115 per hour
PARAMS = quadratic_params(max_jobs=4)
REQUEST = LOCAL_QUADRATIC

with DAG("hpt_budget_over_cap", schedule=None, start_date=START, params=PARAMS) as budget_dag:
    CreateTuningJobOperator(
        task_id="instance_hours", request=REQUEST, max_instance_hours=0.5, check_interval=0.3
    )
    CreateTuningJobOperator(
        task_id="cost",
        request=REQUEST,
        instance_prices={"ml.m5.large": 0.115},
        max_cost=0.05,
        deferrable=True,
        check_interval=0.3,
    )

with DAG(
    "hpt_budget_within_cap", schedule=None, start_date=START, params={**PARAMS, "max_jobs": 2}
) as within_dag:
    CreateTuningJobOperator(
        task_id="tune",
        request=REQUEST,
        max_instance_hours=0.34,
        instance_prices={"ml.m5.large": 0.115},
        max_cost=0.04,
        check_interval=0.3,
    )

# one job at a time, so that a full quota frees once the job holding it ends
CAPACITY_PARAMS = {**PARAMS, "max_jobs": 1, "parallel": 1}

with DAG("hpt_capacity_sync", schedule=None, start_date=START, params=CAPACITY_PARAMS) as capacity_sync_dag:
    CreateTuningJobOperator(
        task_id="tune", request=REQUEST, capacity_wait=timedelta(minutes=10), check_interval=0.3
    )

with DAG(
    "hpt_capacity_deferred", schedule=None, start_date=START, params=CAPACITY_PARAMS
) as capacity_deferred_dag:
    CreateTuningJobOperator(
        task_id="tune",
        request=REQUEST,
        capacity_wait=timedelta(minutes=10),
        deferrable=True,
        check_interval=0.3,
        min_deferral=0.5,
    )

with DAG(
    "hpt_capacity_expires_sync", schedule=None, start_date=START, params=CAPACITY_PARAMS
) as expires_sync_dag:
    CreateTuningJobOperator(task_id="tune", request=REQUEST, capacity_wait=2, check_interval=0.3)

with DAG(
    "hpt_capacity_expires_deferred", schedule=None, start_date=START, params=CAPACITY_PARAMS
) as expires_deferred_dag:
    CreateTuningJobOperator(
        task_id="tune",
        request=REQUEST,
        capacity_wait=2,
        deferrable=True,
        check_interval=0.3,
        min_deferral=0.5,
    )

# a Create that the backend keeps failing (tests/integration/test_create_retries.py) gives up after 2 s
with DAG(
    "hpt_create_retries", schedule=None, start_date=START, params=quadratic_params(max_jobs=1)
) as create_dag:
    CreateTuningJobOperator(task_id="tune", request=REQUEST, create_retry_timeout=2, check_interval=0.3)
