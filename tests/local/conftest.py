"""Fixtures for the local backend's tests: a started backend in a temporary home, real boto3 clients."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from airflow_hpt.local import Fault, Faults, LocalSageMaker
from tests.waiting import PATIENCE_SECONDS, wait_until

SCRIPTS = Path(__file__).resolve().parent / "scripts"
# the example DAGs' training scripts (train_sklearn.py)
TRAINING_DIR = Path(__file__).resolve().parents[2] / "dags" / "training"
REGION = "us-east-1"
TERMINAL = ("Completed", "Failed", "Stopped")


class CountingFaults(Faults):
    """Counts every call the backend receives, per operation (and injects faults as configured):
    what a test waits on to know that a client has polled."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.calls: Counter[str] = Counter()

    def draw(self, operation: str) -> Fault | None:
        self.calls[operation] += 1
        return super().draw(operation)


def make_client(endpoint_url: str, retries: int = 0, **config: Any) -> Any:
    """A real boto3 SageMaker client on the backend; ``retries=0``: errors surface at once."""
    return boto3.client(
        "sagemaker",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": retries + 1}, **config),
    )


def backend_client(backend: LocalSageMaker, service: str, config: Config | None = None) -> Any:
    """A real boto3 client of ``service`` on the backend, signing with its credentials."""
    return boto3.client(
        service,
        endpoint_url=backend.endpoint_url,
        region_name=REGION,
        aws_access_key_id=backend.access_key_id,
        aws_secret_access_key=backend.secret_access_key,
        config=config,
    )


def s3_client(backend: LocalSageMaker) -> Any:
    return backend_client(backend, "s3")


def signed_headers(
    url: str,
    body: bytes,
    headers: dict[str, str],
    access_key_id: str = "testing",
    secret_access_key: str = "testing",
) -> dict[str, str]:
    """``headers`` plus the SigV4 ones botocore would add to a POST of ``body`` to ``url``."""
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(Credentials(access_key_id, secret_access_key), "sagemaker", REGION).add_auth(request)
    return dict(request.headers.items())


def quadratic_container(output_path: str, max_runtime: int) -> dict[str, Any]:
    """How a training job over ``tests/local/scripts/quadratic.py`` runs: its image and loss metric,
    role, output, one small instance, a runtime cap."""
    return {
        "AlgorithmSpecification": {
            "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/quadratic:latest",
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "loss", "Regex": "loss=([0-9.eE+-]+)"}],
        },
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "OutputDataConfig": {"S3OutputPath": output_path},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
    }


def held(release: Path) -> dict[str, str]:
    """Static hyperparameters that keep each training job running after its first epoch (model
    saved) until ``release`` exists: whatever the machine's speed, it is still running when looked at."""
    return {"hold": str(release), "epochs": "3"}


def quadratic_request(
    name: str,
    *,
    strategy: str = "Random",
    max_jobs: int | None = 4,
    parallel: int = 2,
    static: dict[str, str] | None = None,
    early_stopping: str = "Off",
    seed: int | None = 7,
    ranges: dict[str, Any] | None = None,
    max_runtime: int = 60,
    **config: Any,
) -> dict[str, Any]:
    """A tuning request over ``tests/local/scripts/quadratic.py`` (optimum x=0.3, y=7, kind=b)."""
    limits: dict[str, Any] = {"MaxParallelTrainingJobs": parallel}
    if max_jobs is not None:
        limits["MaxNumberOfTrainingJobs"] = max_jobs
    tuning_config: dict[str, Any] = {
        "Strategy": strategy,
        "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
        "ResourceLimits": limits,
        "ParameterRanges": ranges
        or {
            "ContinuousParameterRanges": [
                {"Name": "x", "MinValue": "-1", "MaxValue": "1", "ScalingType": "Auto"}
            ],
            "IntegerParameterRanges": [
                {"Name": "y", "MinValue": "0", "MaxValue": "10", "ScalingType": "Auto"}
            ],
            "CategoricalParameterRanges": [{"Name": "kind", "Values": ["a", "b", "c"]}],
        },
        "TrainingJobEarlyStoppingType": early_stopping,
        **config,
    }
    if seed is not None:
        tuning_config["RandomSeed"] = seed
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": tuning_config,
        "TrainingJobDefinition": {
            "StaticHyperParameters": {
                "sagemaker_program": "quadratic.py",
                "sagemaker_submit_directory": SCRIPTS.as_uri(),
                "epochs": "3",
                **(static or {}),
            },
            **quadratic_container("s3://models/quadratic", max_runtime),
        },
    }


def wait_for(
    client: Any, name: str, statuses: tuple[str, ...] = TERMINAL, timeout: float = PATIENCE_SECONDS
) -> dict[str, Any]:
    """Poll DescribeHyperParameterTuningJob until its status is one of ``statuses``."""

    def reached() -> dict[str, Any] | None:
        job: dict[str, Any] = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        return job if job["HyperParameterTuningJobStatus"] in statuses else None

    def last_seen() -> str:
        return str(client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name))

    return wait_until(f"{name} to be {' or '.join(statuses)}", reached, timeout, 0.1, last_seen)


def training_jobs(client: Any, name: str) -> list[dict[str, Any]]:
    paginator = client.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job")
    return [
        summary
        for page in paginator.paginate(HyperParameterTuningJobName=name)
        for summary in page["TrainingJobSummaries"]
    ]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def backend(home: Path) -> Iterator[LocalSageMaker]:
    with LocalSageMaker(home, endpoint_delay_seconds=0.2) as started:
        yield started


@pytest.fixture
def client(backend: LocalSageMaker) -> Any:
    return make_client(backend.endpoint_url)


@pytest.fixture
def create(client: Any) -> Callable[..., dict[str, Any]]:
    """Create a tuning job over the quadratic script; returns the request sent."""

    def create_job(name: str, **options: Any) -> dict[str, Any]:
        request = quadratic_request(name, **options)
        client.create_hyper_parameter_tuning_job(**request)
        return request

    return create_job
