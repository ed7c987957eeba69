"""Standalone training jobs on the local backend (CreateTrainingJob), with real boto3 clients."""

from __future__ import annotations

import tarfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from airflow_hpt.local import LocalSageMaker
from tests.local.conftest import REGION, SCRIPTS, TERMINAL, TRAINING_DIR, make_client, quadratic_container
from tests.waiting import wait_until


def training_request(name: str, **hyperparameters: str) -> dict[str, Any]:
    """A CreateTrainingJob request over tests/local/scripts/quadratic.py (loss 1/(epoch+1) at x=0.3, y=7, kind=b)."""
    return {
        "TrainingJobName": name,
        "HyperParameters": {
            "sagemaker_program": "quadratic.py",
            "sagemaker_submit_directory": SCRIPTS.as_uri(),
            "x": "0.3",
            "y": "7",
            "kind": "b",
            "epochs": "3",
            **hyperparameters,
        },
        **quadratic_container("s3://models/standalone", max_runtime=300),
    }


def wait_training(client: Any, name: str, statuses: tuple[str, ...] = TERMINAL) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        job: dict[str, Any] = client.describe_training_job(TrainingJobName=name)
        return job if job["TrainingJobStatus"] in statuses else None

    return wait_until(f"{name} to be {' or '.join(statuses)}", reached)


def log_of(backend: LocalSageMaker, name: str) -> str:
    return (backend.home / "training" / name / "training.log").read_text()


def test_job_completes_with_metrics_artifacts_and_logs(backend: LocalSageMaker, client: Any) -> None:
    arn = client.create_training_job(**training_request("solo"))["TrainingJobArn"]
    assert arn == "arn:aws:sagemaker:us-east-1:123456789012:training-job/solo"
    job = wait_training(client, "solo")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["SecondaryStatus"] == "Completed"
    assert [item["Status"] for item in job["SecondaryStatusTransitions"]] == [
        "Starting",
        "Training",
        "Completed",
    ]
    final = {metric["MetricName"]: metric["Value"] for metric in job["FinalMetricDataList"]}
    assert final["loss"] == pytest.approx(1 / 3, abs=1e-4)  # the last of the three epochs
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == "s3://models/standalone/solo/output/model.tar.gz"
    assert backend.s3 is not None
    with tarfile.open(backend.s3.path_for(artifact)) as archive:
        assert archive.getnames()
    assert job["TrainingEndTime"] >= job["TrainingStartTime"]
    assert job["HyperParameters"]["x"] == "0.3"
    assert "TuningJobArn" not in job
    summaries = client.list_training_jobs(NameContains="solo")["TrainingJobSummaries"]
    assert [summary["TrainingJobStatus"] for summary in summaries] == ["Completed"]
    # CloudWatch Logs serves the job's log stream, as for a tuning job's training jobs
    logs = boto3.client(
        "logs",
        endpoint_url=backend.endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    streams = logs.describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix="solo/"
    )
    stream = streams["logStreams"][0]["logStreamName"]
    events = logs.get_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream, startFromHead=True
    )["events"]
    # one event per line of output (CloudWatch has no empty events)
    assert [event["message"] for event in events] == [
        line for line in log_of(backend, "solo").splitlines() if line
    ]


def test_failed_script_gives_its_failure_reason(client: Any) -> None:
    client.create_training_job(**training_request("broken", fail="file"))
    job = wait_training(client, "broken")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["SecondaryStatus"] == "Failed"
    assert job["FailureReason"] == "quadratic: asked to fail (failure file)"
    assert "ModelArtifacts" not in job


def test_stop_ends_the_job_stopped(backend: LocalSageMaker, client: Any, tmp_path: Path) -> None:
    hold = tmp_path / "release"
    client.create_training_job(**training_request("held", hold=str(hold), epochs="50"))
    wait_until("the first epoch", lambda: "loss=" in log_of(backend, "held"))
    client.stop_training_job(TrainingJobName="held")
    job = wait_training(client, "held")
    assert job["TrainingJobStatus"] == "Stopped"
    assert "Stopping" in [item["Status"] for item in job["SecondaryStatusTransitions"]]
    with pytest.raises(ClientError, match=r"ValidationException.*status Stopped"):
        client.stop_training_job(TrainingJobName="held")


def test_create_refuses_invalid_and_unsupported_requests_naming_each_member(client: Any) -> None:
    request = training_request("bad_name!")
    request["AlgorithmSpecification"]["TrainingInputMode"] = "Pipe"
    del request["HyperParameters"]["sagemaker_program"]
    request["ResourceConfig"]["InstanceType"] = "ml.nope"  # an enum: botocore does not check it
    with pytest.raises(ClientError) as raised:
        client.create_training_job(**request)
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationException"
    for member in (
        "TrainingJobName",
        "AlgorithmSpecification.TrainingInputMode",
        "HyperParameters.sagemaker_program",
        "ResourceConfig.InstanceType",
    ):
        assert member in error["Message"]
    assert client.list_training_jobs()["TrainingJobSummaries"] == []


def test_name_taken_is_resource_in_use(client: Any) -> None:
    client.create_training_job(**training_request("twice"))
    with pytest.raises(client.exceptions.ResourceInUse):
        client.create_training_job(**training_request("TWICE"))
    wait_training(client, "twice")


def test_unknown_job_is_a_validation_exception(client: Any) -> None:
    with pytest.raises(ClientError, match="ValidationException"):
        client.describe_training_job(TrainingJobName="nobody")


def test_job_in_progress_at_a_restart_runs_again_to_its_end(home: Path, tmp_path: Path) -> None:
    hold = tmp_path / "release"
    with LocalSageMaker(home) as backend:
        client = make_client(backend.endpoint_url)
        client.create_training_job(**training_request("restarted", hold=str(hold)))
        wait_until("the first epoch", lambda: "loss=" in log_of(backend, "restarted"))
    with LocalSageMaker(home) as backend:
        client = make_client(backend.endpoint_url)
        job = client.describe_training_job(TrainingJobName="restarted")
        assert job["TrainingJobStatus"] == "InProgress"
        assert "Restarted" in job["SecondaryStatusTransitions"][-2]["StatusMessage"]
        hold.touch()
        job = wait_training(client, "restarted")
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        assert job["ModelArtifacts"]["S3ModelArtifacts"].endswith("/restarted/output/model.tar.gz")


def test_the_example_script_stopped_mid_training_keeps_the_model_it_reported(
    backend: LocalSageMaker, client: Any
) -> None:
    """A tuning job's best training job may be one stopped early (the demo deploys it): the example
    script saves its model before each metric line, so a stop leaves a model to deploy."""
    request = training_request("stopped-sklearn")
    request["HyperParameters"] = {
        "sagemaker_program": "train_sklearn.py",
        "sagemaker_submit_directory": TRAINING_DIR.as_uri(),
        # far more epochs than it will live: the stop lands while it trains
        "epochs": "1000000",
    }
    client.create_training_job(**request)
    wait_until("the first metric line", lambda: "validation:accuracy=" in log_of(backend, "stopped-sklearn"))
    client.stop_training_job(TrainingJobName="stopped-sklearn")
    job = wait_training(client, "stopped-sklearn")
    assert job["TrainingJobStatus"] == "Stopped", job.get("FailureReason")
    assert backend.s3 is not None
    with tarfile.open(backend.s3.path_for(job["ModelArtifacts"]["S3ModelArtifacts"])) as archive:
        assert "model.joblib" in archive.getnames()
