"""Batch transform jobs on the local backend: a model trained by a real job scores CSV objects
put over S3; real boto3 clients, a real model server."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import joblib
import numpy as np
import pytest
from botocore.exceptions import ClientError
from sklearn.datasets import load_digits

from airflow_hpt.local import LocalSageMaker
from tests.local.conftest import SCRIPTS, TERMINAL, TRAINING_DIR, s3_client
from tests.waiting import wait_until

# the container's default input handling (MultiRecord), and an input_fn that takes single records
SERVE_SKLEARN = {"SAGEMAKER_PROGRAM": "serve_sklearn.py", "SAGEMAKER_SUBMIT_DIRECTORY": SCRIPTS.as_uri()}
SERVE_RECORDS = {**SERVE_SKLEARN, "SAGEMAKER_PROGRAM": "serve_sklearn_records.py"}


@pytest.fixture
def trained(backend: LocalSageMaker, client: Any) -> str:
    """The model artifact of a real training job over dags/training/train_sklearn.py."""
    client.create_training_job(
        TrainingJobName="digits",
        HyperParameters={
            "sagemaker_program": "train_sklearn.py",
            "sagemaker_submit_directory": TRAINING_DIR.as_uri(),
            "epochs": "3",
        },
        AlgorithmSpecification={
            "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn:latest",
            "TrainingInputMode": "File",
        },
        RoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
        OutputDataConfig={"S3OutputPath": "s3://models/digits"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 300},
    )

    def ended() -> dict[str, Any] | None:
        job: dict[str, Any] = client.describe_training_job(TrainingJobName="digits")
        return job if job["TrainingJobStatus"] in TERMINAL else None

    job = wait_until("the training job to end", ended)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    return str(job["ModelArtifacts"]["S3ModelArtifacts"])


def expected_predictions(backend: LocalSageMaker, artifact: str, rows: np.ndarray) -> np.ndarray:
    assert backend.s3 is not None
    with tarfile.open(backend.s3.path_for(artifact)) as archive:
        model_file = archive.extractfile("model.joblib")
        assert model_file is not None
        model = joblib.load(io.BytesIO(model_file.read()))
    return np.asarray(model.predict(rows.astype(np.float32)))


def csv(rows: np.ndarray) -> str:
    return "".join(",".join(str(value) for value in row) + "\n" for row in rows)


def transform(client: Any, name: str, model: str, **options: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TransformJobName": name,
        "ModelName": model,
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://scoring/input/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "TransformOutput": {
            "S3OutputPath": f"s3://scoring/output/{name}",
            "Accept": "text/csv",
            "AssembleWith": "Line",
        },
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    }
    for key, value in options.items():
        request[key] = {**request[key], **value} if isinstance(value, dict) and key in request else value
    client.create_transform_job(**request)

    def ended() -> dict[str, Any] | None:
        job: dict[str, Any] = client.describe_transform_job(TransformJobName=name)
        return job if job["TransformJobStatus"] in TERMINAL else None

    return wait_until(f"{name} to end", ended)


@pytest.fixture
def scoring_data(backend: LocalSageMaker) -> dict[str, np.ndarray]:
    """Two CSV objects of held-out digits under s3://scoring/input/ (one in a sub-folder)."""
    features, _labels = load_digits(return_X_y=True)
    parts = {"input/first.csv": features[-30:-10], "input/more/second.csv": features[-10:]}
    s3 = s3_client(backend)
    s3.create_bucket(Bucket="scoring")
    for key, rows in parts.items():
        s3.put_object(Bucket="scoring", Key=key, Body=csv(rows).encode())
    return parts


@pytest.mark.parametrize(
    ("strategy", "payload_mb", "environment"),
    [("MultiRecord", 6, SERVE_SKLEARN), ("SingleRecord", 1, SERVE_RECORDS)],
)
def test_transform_writes_real_predictions_per_input_object(
    backend: LocalSageMaker,
    client: Any,
    trained: str,
    scoring_data: dict[str, np.ndarray],
    strategy: str,
    payload_mb: int,
    environment: dict[str, str],
) -> None:
    client.create_model(
        ModelName="digits",
        PrimaryContainer={
            "Image": "local/sklearn:latest",
            "ModelDataUrl": trained,
            "Environment": environment,
        },
        ExecutionRoleArn="arn:aws:iam::123456789012:role/Role",
    )
    job = transform(client, "score", "digits", BatchStrategy=strategy, MaxPayloadInMB=payload_mb)
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    assert job["TransformEndTime"] >= job["TransformStartTime"]
    s3 = s3_client(backend)
    for key, rows in scoring_data.items():
        relative = key.removeprefix("input/")
        answer = s3.get_object(Bucket="scoring", Key=f"output/score/{relative}.out")
        lines = answer["Body"].read().decode().splitlines()
        assert len(lines) == len(rows)  # one prediction per record, one per line
        np.testing.assert_array_equal(
            np.array(lines, dtype=float), expected_predictions(backend, trained, rows)
        )
    summaries = client.list_transform_jobs()["TransformJobSummaries"]
    assert [summary["TransformJobStatus"] for summary in summaries] == ["Completed"]


def test_model_error_fails_the_job_naming_the_batch(
    backend: LocalSageMaker, client: Any, scoring_data: dict[str, np.ndarray]
) -> None:
    broken = {"SAGEMAKER_PROGRAM": "serve_broken.py", "SAGEMAKER_SUBMIT_DIRECTORY": SCRIPTS.as_uri()}
    client.create_model(
        ModelName="broken",
        PrimaryContainer={"Image": "local/sklearn:latest", "Environment": broken},
        ExecutionRoleArn="arn:aws:iam::123456789012:role/Role",
    )
    job = transform(client, "fails", "broken", BatchStrategy="SingleRecord")
    assert job["TransformJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ModelError")
    assert "s3://scoring/input/first.csv, records 1-1" in job["FailureReason"]


def test_create_refuses_what_cannot_run_and_unknown_models(client: Any) -> None:
    with pytest.raises(ClientError) as raised:
        client.create_transform_job(
            TransformJobName="bad_name!",
            ModelName="nothing",
            TransformInput={
                "DataSource": {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://scoring/in"}},
                "SplitType": "RecordIO",
            },
            TransformOutput={"S3OutputPath": "s3://scoring/out"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        )
    message = raised.value.response["Error"]["Message"]
    for member in ("TransformJobName", "S3DataType", "TransformInput.SplitType"):
        assert member in message
    with pytest.raises(ClientError, match="Could not find model"):
        client.create_transform_job(
            TransformJobName="no-model",
            ModelName="nothing",
            TransformInput={
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://scoring/in"}}
            },
            TransformOutput={"S3OutputPath": "s3://scoring/out"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        )
    with pytest.raises(ClientError, match="ValidationException"):
        client.describe_transform_job(TransformJobName="no-model")
