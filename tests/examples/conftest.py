"""A local SageMaker backend with the demo's training data staged, shared by the example DAG tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from airflow_hpt.demo.data import stage_digits
from airflow_hpt.local import LocalSageMaker


@pytest.fixture(scope="module")
def local_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSageMaker]:
    with LocalSageMaker(tmp_path_factory.mktemp("sagemaker"), endpoint_delay_seconds=0.2) as backend:
        stage_digits(backend.home)
        yield backend


@pytest.fixture
def sagemaker(local_backend: LocalSageMaker, aws_conn_env: Any) -> Any:
    """A boto3 client on the backend, with the `aws_default` connection pointing there too."""
    aws_conn_env(local_backend.endpoint_url)
    return boto3.client(
        "sagemaker",
        endpoint_url=local_backend.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
