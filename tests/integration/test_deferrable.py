"""Deferrable waiting through `dag.test()` against the local backend (real jobs, real aiobotocore)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_digits

from airflow_hpt.local import LocalSageMaker
from tests.conftest import load_dag_module
from tests.integration.airflow_state import task_states, xcom
from tests.local.conftest import SCRIPTS, backend_client, make_client

pytestmark = pytest.mark.usefixtures("airflow_db")
RUN_CONF = {"scripts": SCRIPTS.as_uri()}


@pytest.fixture
def backend(tmp_path: Path, aws_conn_env: Any) -> Iterator[LocalSageMaker]:
    with LocalSageMaker(tmp_path / "sagemaker", endpoint_delay_seconds=0.2) as started:
        aws_conn_env(started.endpoint_url)
        yield started


@pytest.mark.slow  # about 12 s: a tuning job run to its end, then a deployment
def test_deferrable_operator_hands_the_best_job_to_deploy(backend: LocalSageMaker) -> None:
    dag = load_dag_module("testing/hpt_local_wait.py").deferrable_dag
    dag_run = dag.test(run_conf=RUN_CONF)
    assert task_states(dag_run) == {"tune": "success", "deploy": "success"}

    result = xcom(dag_run, "tune")
    client = make_client(backend.endpoint_url)
    described = client.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=result["tuning_job_name"]
    )
    best = described["BestTrainingJob"]
    assert result["status"] == described["HyperParameterTuningJobStatus"] == "Completed"
    assert result["training_job_counts"]["completed"] == 4
    assert result["best_training_job_name"] == best["TrainingJobName"]
    assert result["objective_value"] == pytest.approx(
        best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    )
    training = client.describe_training_job(TrainingJobName=best["TrainingJobName"])
    assert result["model_artifacts"] == training["ModelArtifacts"]["S3ModelArtifacts"]
    assert backend.s3 is not None and backend.s3.path_for(result["model_artifacts"]).is_file()

    assert xcom(dag_run, "deploy") == {
        "best_training_job_arn": best["TrainingJobArn"],
        "model_artifacts": result["model_artifacts"],
    }


def test_create_without_waiting_then_deferrable_sensor(backend: LocalSageMaker, tmp_path: Path) -> None:
    dag = load_dag_module("testing/hpt_local_wait.py").sensor_dag
    # the jobs are held until the task after create releases them: create surely sees them running
    dag_run = dag.test(run_conf={**RUN_CONF, "hold": str(tmp_path / "release")})
    assert task_states(dag_run) == {
        "create": "success",
        "release": "success",
        "wait": "success",
        "deploy": "success",
    }
    created, result = xcom(dag_run, "create"), xcom(dag_run, "wait")
    assert created["status"] == "InProgress"
    assert result["tuning_job_name"] == created["tuning_job_name"]
    assert result["status"] == "Completed"
    assert xcom(dag_run, "wait", "model_artifacts") == result["model_artifacts"] is not None
    assert xcom(dag_run, "deploy")["best_training_job_arn"] == result["best_training_job_arn"]


def test_reschedule_sensor(backend: LocalSageMaker) -> None:
    dag = load_dag_module("testing/hpt_local_wait.py").reschedule_dag
    dag_run = dag.test(run_conf=RUN_CONF)
    assert task_states(dag_run) == {"create": "success", "wait": "success", "deploy": "success"}
    result = xcom(dag_run, "wait")
    assert result["status"] == "Completed"
    assert xcom(dag_run, "deploy")["model_artifacts"] == result["model_artifacts"] is not None


@pytest.mark.slow  # about 20 s: scikit-learn training jobs and an endpoint
def test_tune_and_deploy_example_deploys_the_best_model(backend: LocalSageMaker) -> None:
    dag = load_dag_module("examples/tune_and_deploy.py").dag
    dag.get_task("tune").check_interval = 0.5
    dag.get_task("deploy_endpoint").check_interval = 1
    dag_run = dag.test(run_conf={"max_jobs": 2, "parallel": 2, "epochs": 2})
    assert task_states(dag_run) == {
        "tune": "success",
        "upload_inference_code": "success",
        "create_model": "success",
        "create_endpoint_config": "success",
        "deploy_endpoint": "success",
    }
    result = xcom(dag_run, "tune")
    client = make_client(backend.endpoint_url)
    model = client.describe_model(ModelName=result["best_training_job_name"])
    assert model["PrimaryContainer"]["ModelDataUrl"] == result["model_artifacts"]
    endpoint = client.describe_endpoint(EndpointName="tune-and-deploy")
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] == result["best_training_job_name"]
    # the endpoint answers: model_fn comes from the uploaded code the model's environment names
    environment = model["PrimaryContainer"]["Environment"]
    assert environment["SAGEMAKER_PROGRAM"] == "serve_sklearn.py"
    assert environment["SAGEMAKER_SUBMIT_DIRECTORY"] == xcom(dag_run, "upload_inference_code")
    digits = load_digits()
    rows = "\n".join(",".join(str(int(v)) for v in row) for row in digits.data[:50])
    runtime = backend_client(backend, "sagemaker-runtime")
    answer = runtime.invoke_endpoint(
        EndpointName="tune-and-deploy", ContentType="text/csv", Accept="application/json", Body=rows
    )
    predictions = json.loads(answer["Body"].read())
    assert len(predictions) == 50
    right = sum(int(p) == int(t) for p, t in zip(predictions, digits.target[:50], strict=True))
    assert right >= 25, predictions
