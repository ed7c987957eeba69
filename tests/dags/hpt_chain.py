"""Warm-start chains over the quadratic test script, on the local backend."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_hpt import CreateTuningJobOperator, WarmStart

PARAMS = {
    "seed": 1,
    "max_jobs": 3,
    "parallel": 2,
    "target": "0",
    "fail": "false",
    "submit_dir": "file:///nowhere",
}
POLICIES = {
    "hpt_chain_latest": WarmStart(select="latest"),
    "hpt_chain_best": WarmStart(select="best", max_parents=1),
    "hpt_chain_limit": WarmStart(select="latest", type="TransferLearning"),
}

dags = {}
for dag_id, policy in POLICIES.items():
    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), params=PARAMS) as dag:
        CreateTuningJobOperator(
            task_id="tune",
            request="templates/chain_request.json.j2",
            warm_start=policy,
            check_interval=0.2,
        )
    dags[dag_id] = dag
