"""Tune, gate on the champion, deploy: the quality gate on the local backend."""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from airflow_hpt import CreateTuningJobOperator, DeployModelOperator, QualityGateOperator

ENDPOINT = "quadratic-endpoint"

with DAG(
    "hpt_gate",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    params={
        "seed": 1,
        "max_jobs": 3,
        "parallel": 2,
        "target": "0",
        "kind": "a",
        "max_loss": "2.0",
        "submit_dir": "file:///nowhere",
    },
) as dag:
    tune = CreateTuningJobOperator(
        task_id="tune", request="templates/gate_request.json.j2", check_interval=0.2
    )
    gate = QualityGateOperator(
        task_id="gate",
        result=tune.output,
        min_objective="{{ params.max_loss }}",
        champion_endpoint_name=ENDPOINT,
    )
    deploy = DeployModelOperator(
        task_id="deploy",
        result=tune.output,
        endpoint_name=ENDPOINT,
        image="123456789012.dkr.ecr.us-east-1.amazonaws.com/quadratic-serve:latest",
        execution_role_arn="arn:aws:iam::123456789012:role/SageMakerRole",
        check_interval=0.2,
    )
    gate >> deploy
