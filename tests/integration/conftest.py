from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer


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
