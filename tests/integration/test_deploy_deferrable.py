"""DeployModelOperator(deferrable=True) through `dag.test()` on the local backend: the endpoint is
still Creating (or Updating) when the task defers, the trigger sees it settle, the task resumes;
a failed update is rolled back by SageMaker and fails the task naming the model that still serves."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_hpt.local import LocalSageMaker
from tests.conftest import load_dag_module, sagemaker_client
from tests.integration.airflow_state import task_states, xcom
from tests.local.test_invoke import constant_model, write_model

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.slow]
# long enough that the task's own Describe, right after its Create or Update, finds the endpoint
# still settling however loaded the machine: the wait surely happens in the triggerer
SETTLE_SECONDS = 8.0
TRIGGER_LOGGER = "airflow_hpt.triggers.endpoint.EndpointTrigger"
ENDPOINT = "deferred-endpoint"  # tests/dags/hpt_deploy.py


@pytest.fixture
def backend(tmp_path: Path, aws_conn_env: Any) -> Iterator[LocalSageMaker]:
    with LocalSageMaker(tmp_path / "sagemaker", endpoint_delay_seconds=SETTLE_SECONDS) as started:
        aws_conn_env(started.endpoint_url)
        yield started


def _result(name: str, artifacts: str, objective: float) -> dict[str, Any]:
    return {
        "best_training_job_name": name,
        "model_artifacts": artifacts,
        "objective_metric": "loss",
        "objective_value": objective,
    }


def _run(result: dict[str, Any]) -> Any:
    return load_dag_module("testing/hpt_deploy.py").dag.test(run_conf={"result": result})


def _trigger_saw(output: str, status: str) -> bool:
    """Whether the trigger (run inline by `dag.test()`, logging to stdout) reported the status."""
    return any(
        TRIGGER_LOGGER in line and f"Endpoint {ENDPOINT}: {status} " in line for line in output.splitlines()
    )


def test_deferred_deploy_creates_then_a_failed_update_rolls_back(
    backend: LocalSageMaker, capfd: pytest.CaptureFixture[str]
) -> None:
    client = sagemaker_client(backend.endpoint_url)

    created = _run(_result("good-model", constant_model(backend, 1, "good-model"), 0.5))
    assert task_states(created) == {"deploy": "success"}
    output = capfd.readouterr().out
    assert _trigger_saw(output, "Creating") and _trigger_saw(output, "InService")
    deployed = xcom(created, "deploy")
    assert (deployed["action"], deployed["endpoint_status"]) == ("created", "InService")
    assert deployed["model_name"] == "good-model"
    assert client.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"] == "good-model-config"

    corrupt = write_model(backend, "s3://models/bad-model/model.tar.gz", {})
    assert backend.s3 is not None
    backend.s3.path_for(corrupt).write_bytes(b"not a tar archive")
    failed = _run(_result("bad-model", corrupt, 0.1))
    assert task_states(failed) == {"deploy": "failed"}
    output = capfd.readouterr().out
    assert _trigger_saw(output, "Updating")
    assert (
        "DeploymentFailed: Updating endpoint deferred-endpoint to bad-model-config failed and SageMaker "
        "rolled it back: Failed to deploy bad-model-config"
    ) in output
    assert "It still serves configuration good-model-config (model good-model)." in output
    served = client.describe_endpoint(EndpointName=ENDPOINT)
    assert (served["EndpointStatus"], served["EndpointConfigName"]) == ("InService", "good-model-config")
