from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from airflow_hpt.local import Faults, LocalSageMaker
from tests.local.conftest import make_client


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's real HTTP server on loopback (API shape only: its tuning jobs complete at once)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_sagemaker(moto_endpoint: str, aws_conn_env: Any) -> Any:
    """A boto3 SageMaker client on moto, with the `aws_default` connection pointing there too."""
    aws_conn_env(moto_endpoint)
    return boto3.client(
        "sagemaker",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def faults() -> Faults:
    """No faults; a test module overrides this fixture to inject (or count) them."""
    return Faults()


@pytest.fixture
def backend(tmp_path: Path, aws_conn_env: Any, faults: Faults) -> Iterator[LocalSageMaker]:
    """The local backend with `faults`, the `aws_default` connection pointing at it."""
    with LocalSageMaker(tmp_path / "sagemaker", faults=faults) as started:
        aws_conn_env(started.endpoint_url)
        yield started


@pytest.fixture
def client(backend: LocalSageMaker) -> Any:
    return make_client(backend.endpoint_url, retries=5)
