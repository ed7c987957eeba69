"""`airflow-hpt local-sagemaker` serves the API until SIGTERM and says where."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import boto3
import pytest


def test_local_sagemaker_command_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    command = [str(Path(sys.executable).with_name("airflow-hpt")), "local-sagemaker", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--home", str(tmp_path / "home")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "AIRFLOW_HPT_LOCAL_SECRET_ACCESS_KEY": "testing"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        assert match, line
        client = boto3.client(
            "sagemaker",
            endpoint_url=match.group(1),
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        assert client.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"] == []
        with pytest.raises(client.exceptions.ResourceNotFound):
            client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="missing")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()
