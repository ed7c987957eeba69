"""The amazon provider's `SageMakerTuningOperator` (sync and deferrable) and
`SageMakerTrainingSensor(print_log=True)` in real DAGs against the local backend, pointed at it by
the `aws_default` connection's `endpoint_url` alone. The training data goes up over S3; the
operator checks it over S3 (HeadBucket, HeadObject, ListObjectsV2) before creating the job; the
training script reads it from its channel."""

from __future__ import annotations

import re
from typing import Any

import pytest

from airflow_hpt.local import LocalSageMaker
from tests.conftest import load_dag_module
from tests.integration.airflow_state import task_states, xcom
from tests.local.conftest import SCRIPTS, make_client, s3_client, training_jobs

pytestmark = pytest.mark.usefixtures("airflow_db")
BUCKET = "training-data"
RUN_CONF = {"scripts": SCRIPTS.as_uri(), "bucket": BUCKET}
# two files, so the script must read the whole channel: mean 0.42
TRAINING_DATA = {"train/part-0.csv": "0.1\n0.2\n0.3\n", "train/part-1.csv": "0.6\n0.9\n"}
MEAN = 0.42


@pytest.fixture
def uploaded(backend: LocalSageMaker) -> None:
    """The training data, put over S3 with a real boto3 client."""
    s3 = s3_client(backend)
    s3.create_bucket(Bucket=BUCKET)
    for key, text in TRAINING_DATA.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=text.encode())


def assert_trained_on_the_uploaded_data(backend: LocalSageMaker, tuning_job_name: str) -> dict[str, Any]:
    """Every training job read both files and reported (x - 0.42)**2; returns the tuning job."""
    client = make_client(backend.endpoint_url)
    described: dict[str, Any] = client.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuning_job_name
    )
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    summaries = training_jobs(client, tuning_job_name)
    assert len(summaries) == 3
    for summary in summaries:
        job = client.describe_training_job(TrainingJobName=summary["TrainingJobName"])
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        x = float(job["HyperParameters"]["x"])
        final = {metric["MetricName"]: metric["Value"] for metric in job["FinalMetricDataList"]}
        assert final["loss"] == pytest.approx((x - MEAN) ** 2, abs=1e-5)
        log = (backend.home / "training" / job["TrainingJobName"] / "training.log").read_text()
        assert "read 5 values from 2 files in the train channel" in log
    return described


def test_tuning_operator_waits_synchronously(backend: LocalSageMaker, uploaded: None) -> None:
    dag_run = load_dag_module("testing/amazon_provider_tuning.py").sync_dag.test(run_conf=RUN_CONF)
    assert task_states(dag_run) == {"tune": "success"}
    described = assert_trained_on_the_uploaded_data(backend, "amazon-sync")
    result = xcom(dag_run, "tune")["Tuning"]
    assert result["HyperParameterTuningJobStatus"] == "Completed"
    assert result["BestTrainingJob"]["TrainingJobName"] == described["BestTrainingJob"]["TrainingJobName"]
    channel = result["TrainingJobDefinition"]["InputDataConfig"][0]["DataSource"]["S3DataSource"]
    assert channel["S3Uri"] == f"s3://{BUCKET}/train/"


@pytest.mark.slow  # about 15 s: a tuning job run to its end, deferred
def test_tuning_operator_deferred(backend: LocalSageMaker, uploaded: None) -> None:
    dag_run = load_dag_module("testing/amazon_provider_tuning.py").deferrable_dag.test(run_conf=RUN_CONF)
    assert task_states(dag_run) == {"tune": "success"}
    described = assert_trained_on_the_uploaded_data(backend, "amazon-deferred")
    result = xcom(dag_run, "tune")["Tuning"]
    assert result["HyperParameterTuningJobStatus"] == "Completed"
    assert result["BestTrainingJob"]["TrainingJobName"] == described["BestTrainingJob"]["TrainingJobName"]


def test_tuning_operator_refuses_a_missing_input_before_the_call(backend: LocalSageMaker) -> None:
    """No bucket: the operator's own S3 check fails the task, and no job is created."""
    dag_run = load_dag_module("testing/amazon_provider_tuning.py").sync_dag.test(run_conf=RUN_CONF)
    assert task_states(dag_run) == {"tune": "failed"}
    client = make_client(backend.endpoint_url)
    assert client.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"] == []


def test_training_sensor_prints_the_training_jobs_log(
    backend: LocalSageMaker, uploaded: None, capfd: pytest.CaptureFixture[str]
) -> None:
    dag_run = load_dag_module("testing/amazon_provider_tuning.py").training_sensor_dag.test(run_conf=RUN_CONF)
    assert task_states(dag_run) == {"tune": "success", "first_training_job": "success", "watch": "success"}
    name = xcom(dag_run, "first_training_job")
    assert name.startswith("amazon-sensed-")
    console = "".join(capfd.readouterr())
    lines = [
        line for line in (backend.home / "training" / name / "training.log").read_text().splitlines() if line
    ]
    # the script's own lines (the toolkit's are there too): what it read, and its 20 epochs
    assert sum("loss=" in line for line in lines) == 20
    assert any("read 5 values from 2 files in the train channel" in line for line in lines)
    # the sensor printed the job's CloudWatch events, each line once
    printed = [line for line in lines if re.search(rf"\] {re.escape(line)}\s", console)]
    assert printed == lines
