"""Fixtures for the SageMaker SDK tests: the SDKs' own venvs, a backend, and running SDK scripts.

An SDK script runs as a subprocess of its venv's Python with an environment holding only
``AWS_ENDPOINT_URL``, credentials and a region (and a private ``HOME``, so no user configuration
of AWS or of the SDK is read): what a user of the backend sets, nothing more.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from airflow_hpt.local import LocalSageMaker
from tests.local.conftest import REGION
from tests.sdk.venvs import client_venv

HERE = Path(__file__).resolve().parent
CODE = HERE / "code"
CLASSIFIER_CODE = HERE / "classifier"
# the last SageMaker Python SDK v2; what a team still on v2 runs
SDK_V2_REQUIREMENTS = ("sagemaker==2.257.7",)
# SageMaker's typed resources, `sagemaker.core.resources` (SDK v3's core)
SAGEMAKER_CORE_REQUIREMENTS = ("sagemaker-core==2.27.0",)
CLIENT_TIMEOUT_SECONDS = 300


@pytest.fixture(scope="session")
def sdk_v2_python() -> Path:
    return client_venv("sdk-v2-venv", SDK_V2_REQUIREMENTS)


@pytest.fixture(scope="session")
def sagemaker_core_python() -> Path:
    return client_venv("sagemaker-core-venv", SAGEMAKER_CORE_REQUIREMENTS)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalSageMaker]:
    with LocalSageMaker(tmp_path / "home") as started:
        yield started


@pytest.fixture
def client_env(backend: LocalSageMaker, tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "client-home"
    home.mkdir()
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "AWS_ENDPOINT_URL": backend.endpoint_url,
        "AWS_ACCESS_KEY_ID": backend.access_key_id,
        "AWS_SECRET_ACCESS_KEY": backend.secret_access_key,
        "AWS_DEFAULT_REGION": REGION,
    }


def run_client(python: Path, script: str, args: Sequence[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``tests/sdk/<script>`` with ``python``; its last output line is a JSON object."""
    result = subprocess.run(
        [str(python), str(HERE / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_SECONDS,
    )
    assert result.returncode == 0, f"{script} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    lines = result.stdout.strip().splitlines()
    assert lines, f"{script} printed nothing:\n{result.stderr}"
    answer: dict[str, Any] = json.loads(lines[-1])
    return answer
