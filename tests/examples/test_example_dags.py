"""The example DAGs end to end through ``dag.test()`` against the local backend (real training)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from airflow_hpt.result import asset_extra
from tests.conftest import load_dag_module
from tests.integration.airflow_state import task_states, xcom

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.slow]

# A smaller budget than the weekly default keeps the test short; the DAG is the same. Its models
# score about 0.95 on held-out digits; the bar is lowered so a weak draw of the search cannot fail
# the run (what the bar catches is shown with a constant model below).
SMALL = {"max_jobs": 4, "max_parallel": 2, "epochs": 5, "smoke_min_accuracy": 0.5}
WEEK_1 = datetime(2026, 1, 4, tzinfo=UTC)
ENDPOINT = "digits-classifier"
CANDIDATE = "digits-classifier-candidate"
ALL_TASKS_SUCCEED = {"tune": "success", "gate": "success", "deploy": "success", "smoke_test": "success"}
CONSTANT_MODEL_CODE = Path(__file__).resolve().parent / "constant_model"


def serving(client: Any, endpoint_name: str) -> str:
    endpoint = client.describe_endpoint(EndpointName=endpoint_name)
    assert endpoint["EndpointStatus"] == "InService"
    config = client.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    return str(config["ProductionVariants"][0]["ModelName"])


def asset_events(uri: str) -> list[dict[str, Any]]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.uri == uri)
            .order_by(AssetEvent.id)
        )
        return [dict(event.extra) for event in rows]


def test_weekly_chain_gate_deploy_and_the_asset_driven_deployment(sagemaker: Any) -> None:
    producer = load_dag_module("examples/retrain_weekly.py")
    dag = producer.dag

    # week 1: cold start; a low bar so the first model surely ships
    first = dag.test(logical_date=WEEK_1, run_conf={**SMALL, "min_accuracy": 0.5})
    assert task_states(first) == ALL_TASKS_SUCCEED
    tune_1 = xcom(first, "tune")
    assert tune_1["status"] == "Completed"
    assert tune_1["warm_start_parents"] == []
    assert sum(tune_1["training_job_counts"].values()) == SMALL["max_jobs"]
    assert tune_1["model_artifacts"].startswith("s3://airflow-hpt-demo/models/retrain_weekly/20260104/")
    deploy_1 = xcom(first, "deploy")
    assert deploy_1["action"] == "created"
    assert serving(sagemaker, ENDPOINT) == deploy_1["model_name"] == tune_1["best_training_job_name"]
    assert asset_events(producer.BEST_MODEL.uri) == [asset_extra(tune_1)]
    smoke_1 = xcom(first, "smoke_test")
    assert smoke_1["rows"] == 100
    assert 0.5 <= smoke_1["accuracy"] <= 1
    assert len(smoke_1["examples"]) == 5
    model = sagemaker.describe_model(ModelName=deploy_1["model_name"])["PrimaryContainer"]
    assert model["Environment"]["SAGEMAKER_PROGRAM"] == "serve_sklearn.py"

    # week 2: warm start from week 1; deployed only if it beats the champion week 1 deployed
    second = dag.test(logical_date=WEEK_1 + timedelta(weeks=1), run_conf=SMALL)
    tune_2 = xcom(second, "tune")
    assert tune_2["warm_start_parents"] == [tune_1["tuning_job_name"]]
    assert tune_2["objective_value"] >= tune_1["objective_value"]
    if tune_2["objective_value"] > tune_1["objective_value"]:
        assert task_states(second) == ALL_TASKS_SUCCEED
        assert xcom(second, "deploy")["action"] == "updated"
        assert serving(sagemaker, ENDPOINT) == tune_2["best_training_job_name"]
    else:
        assert task_states(second) == {
            "tune": "success",
            "gate": "skipped",
            "deploy": "skipped",
            "smoke_test": "skipped",
        }
        assert serving(sagemaker, ENDPOINT) == tune_1["best_training_job_name"]
    assert asset_events(producer.BEST_MODEL.uri)[-1] == asset_extra(tune_2)

    # the deployment DAG on the asset: deploys the latest announced model to its own endpoint
    consumer = load_dag_module("examples/deploy_on_new_model.py").dag
    run = consumer.test()
    assert task_states(run) == {"new_model": "success", "deploy": "success"}
    assert xcom(run, "new_model") == asset_extra(tune_2)
    assert serving(sagemaker, CANDIDATE) == tune_2["best_training_job_name"]


def test_the_smoke_test_fails_the_run_when_the_endpoint_answers_wrong(sagemaker: Any) -> None:
    dag = load_dag_module("examples/retrain_weekly.py").dag
    # a good model served by inference code that answers 0 for every digit
    run = dag.test(
        logical_date=WEEK_1 + timedelta(weeks=10),
        run_conf={
            "max_jobs": 2,
            "max_parallel": 2,
            "epochs": 3,
            "min_accuracy": 0.3,
            "endpoint_name": "digits-constant",
            "inference_source_dir": str(CONSTANT_MODEL_CODE),
            "inference_entry_point": "serve_constant.py",
        },
    )
    assert task_states(run) == {
        "tune": "success",
        "gate": "success",
        "deploy": "success",
        "smoke_test": "failed",
    }
    assert run.state == "failed"
    assert xcom(run, "smoke_test") is None
    deployed = xcom(run, "deploy")
    # the run fails on the answer, not on the deployment: the endpoint serves, wrongly
    runtime = boto3.client(
        "sagemaker-runtime",
        endpoint_url=sagemaker.meta.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    two_digits = "\n".join(["0," * 63 + "16", "16," * 63 + "0"])
    answer = runtime.invoke_endpoint(
        EndpointName=deployed["endpoint_name"],
        ContentType="text/csv",
        Accept="application/json",
        Body=two_digits,
    )
    assert json.loads(answer["Body"].read()) == [0.0, 0.0]
