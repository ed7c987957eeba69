"""The AWS CLI against the local backend with `AWS_ENDPOINT_URL` alone: a tuning job created,
listed and described with `aws sagemaker`, its training job's log read with `aws logs`, and an
endpoint's log read with `aws logs`.
(`aws s3` is in test_s3_api.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_hpt.local import LocalSageMaker
from tests.local.conftest import REGION, backend_client, quadratic_request, training_jobs, wait_for
from tests.local.test_invoke import constant_model, deploy, eventually, runtime_client

GROUP = "/aws/sagemaker/TrainingJobs"


def aws_cli(backend: LocalSageMaker, tmp_path: Path) -> Any:
    """Run `aws <args>` as a user would, configured by the environment alone; returns its JSON."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_ENDPOINT_URL") and name != "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
    }
    env.update(
        AWS_ENDPOINT_URL=backend.endpoint_url,
        AWS_ACCESS_KEY_ID=backend.access_key_id,
        AWS_SECRET_ACCESS_KEY=backend.secret_access_key,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
    )

    def run(*args: str) -> Any:
        done = subprocess.run(
            [sys.executable, "-m", "awscli", *args, "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    return run


@pytest.mark.slow  # about 10 s: AWS CLI processes on a running job
def test_aws_cli_sagemaker_and_logs(backend: LocalSageMaker, client: Any, tmp_path: Path) -> None:
    aws = aws_cli(backend, tmp_path)
    request = tmp_path / "request.json"
    request.write_text(json.dumps(quadratic_request("ByTheCli", max_jobs=2, parallel=2)))

    created = aws("sagemaker", "create-hyper-parameter-tuning-job", "--cli-input-json", request.as_uri())
    assert created["HyperParameterTuningJobArn"].endswith(":hyper-parameter-tuning-job/bythecli")
    wait_for(client, "ByTheCli")

    listed = aws("sagemaker", "list-hyper-parameter-tuning-jobs")["HyperParameterTuningJobSummaries"]
    assert [(job["HyperParameterTuningJobName"], job["HyperParameterTuningJobStatus"]) for job in listed] == [
        ("ByTheCli", "Completed")
    ]
    described = aws(
        "sagemaker", "describe-hyper-parameter-tuning-job", "--hyper-parameter-tuning-job-name", "ByTheCli"
    )
    expected = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="ByTheCli")
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"]["Completed"] == 2
    assert described["BestTrainingJob"]["TrainingJobName"] == expected["BestTrainingJob"]["TrainingJobName"]

    names = sorted(summary["TrainingJobName"] for summary in training_jobs(client, "ByTheCli"))
    streams = aws("logs", "describe-log-streams", "--log-group-name", GROUP)["logStreams"]
    assert [stream["logStreamName"].split("/")[0] for stream in streams] == names
    stream = streams[0]["logStreamName"]
    events = aws(
        "logs", "get-log-events", "--log-group-name", GROUP, "--log-stream-name", stream, "--start-from-head"
    )["events"]
    text = (backend.home / "training" / names[0] / "training.log").read_text()
    assert [event["message"] for event in events] == [line for line in text.splitlines() if line]
    assert sum("loss=" in event["message"] for event in events) == 3


def test_aws_cli_reads_an_endpoints_log(backend: LocalSageMaker, client: Any, tmp_path: Path) -> None:
    deploy(client, "ByTheCli", constant_model(backend, 1, "cli"))
    runtime_client(backend).invoke_endpoint(EndpointName="ByTheCli", Body="1\n2", ContentType="text/csv")
    group = "/aws/sagemaker/Endpoints/ByTheCli"
    logs = backend_client(backend, "logs")

    def logged() -> bool:
        answer = logs.filter_log_events(logGroupName=group, filterPattern='"answering 2 rows"')
        return bool(answer["events"])

    eventually(logged, "the invocation logged")  # the server's output reaches its log a moment later
    aws = aws_cli(backend, tmp_path)
    (stream,) = aws("logs", "describe-log-streams", "--log-group-name", group)["logStreams"]
    assert stream["logStreamName"].startswith("AllTraffic/i-")
    events = aws(
        "logs", "filter-log-events", "--log-group-name", group, "--filter-pattern", '"answering 2 rows"'
    )["events"]
    assert [(event["logStreamName"], event["message"]) for event in events] == [
        (stream["logStreamName"], "serve_constant: answering 2 rows")
    ]
