"""The quality gate skips the deploy for a worse model and deploys a better one (local backend)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import REPO, load_dag_module
from tests.integration.airflow_state import task_states, xcom

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.slow]
SUBMIT_DIR = (REPO / "tests" / "local" / "scripts").as_uri()


def _serving_model(client: Any) -> str:
    endpoint = client.describe_endpoint(EndpointName="quadratic-endpoint")
    assert endpoint["EndpointStatus"] == "InService"
    config = client.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    return str(config["ProductionVariants"][0]["ModelName"])


def _run(**conf: Any) -> Any:
    # a fresh DAG object each run: dag.test() keeps the run_conf in the DAG's params
    return load_dag_module("testing/hpt_gate.py").dag.test(run_conf={"submit_dir": SUBMIT_DIR, **conf})


def test_gate_deploys_better_models_only(local_sagemaker: Any) -> None:
    # kind a costs 0.5, c 1.0, b nothing: each run's best loss is fixed by its kind.
    first = _run(kind="a")
    assert task_states(first) == {"tune": "success", "gate": "success", "deploy": "success"}
    deployed = xcom(first, "deploy")
    assert deployed["action"] == "created"
    assert _serving_model(local_sagemaker) == xcom(first, "tune")["best_training_job_name"]

    worse = _run(kind="c")
    assert task_states(worse) == {"tune": "success", "gate": "skipped", "deploy": "skipped"}
    assert _serving_model(local_sagemaker) == deployed["model_name"]

    too_poor = _run(kind="b", max_loss="0.1")
    assert task_states(too_poor) == {"tune": "success", "gate": "skipped", "deploy": "skipped"}

    better = _run(kind="b")
    assert task_states(better) == {"tune": "success", "gate": "success", "deploy": "success"}
    assert xcom(better, "deploy")["action"] == "updated"
    best = xcom(better, "tune")
    assert _serving_model(local_sagemaker) == best["best_training_job_name"]
    assert best["objective_value"] < deployed["objective_value"]
