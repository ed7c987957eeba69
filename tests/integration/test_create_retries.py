"""A Create that SageMaker keeps answering with 5xx is retried for a bounded time, then fails the task
with a clear error; faults shorter than the bound still make exactly one job. Against the local
backend's fault injection, over HTTP, with real boto3 clients."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_hpt.exceptions import CreateNotConfirmed
from airflow_hpt.hooks.tuning import TuningJobHook
from airflow_hpt.local.server import LocalSageMaker
from airflow_hpt.naming import TAG_FINGERPRINT
from tests.conftest import load_dag_module
from tests.integration.airflow_state import task_states
from tests.integration.test_bad_input import run_supervised, task_error
from tests.local.conftest import SCRIPTS, CountingFaults, make_client, quadratic_request, wait_for

pytestmark = pytest.mark.usefixtures("airflow_db")
CREATE = "CreateHyperParameterTuningJob"


def _jobs(client: Any) -> list[str]:
    summaries = client.list_hyper_parameter_tuning_jobs(MaxResults=100)["HyperParameterTuningJobSummaries"]
    return sorted(job["HyperParameterTuningJobName"] for job in summaries)


def test_a_create_answered_500_for_ever_gives_up_after_the_bound(tmp_path: Path, aws_conn_env: Any) -> None:
    faults = CountingFaults({CREATE: 1.0}, server_error_share=1.0)
    with LocalSageMaker(tmp_path / "sagemaker", faults=faults) as backend:
        aws_conn_env(backend.endpoint_url)
        request = quadratic_request("always-500", max_jobs=1, parallel=1)
        request["Tags"] = [{"Key": TAG_FINGERPRINT, "Value": "f1"}]
        with pytest.raises(CreateNotConfirmed) as failed:
            TuningJobHook(aws_conn_id="aws_default").create_or_reattach(request, "f1", retry_for=2)
        assert str(failed.value).startswith(
            "CreateHyperParameterTuningJob failed with transient errors (throttling, 5xx or dropped "
            "connections) for 2s; gave up (last error: An error occurred ("
        )
        assert "a retry of the task reattaches to it if it did" in str(failed.value)
        assert faults.calls[CREATE] >= 2, "retried before giving up"
        assert _jobs(make_client(backend.endpoint_url)) == []


def test_faults_shorter_than_the_bound_make_one_job(tmp_path: Path, aws_conn_env: Any) -> None:
    # half of the Creates fail (seeded): the retries go through within the bound, one job results
    faults = CountingFaults({CREATE: 0.5}, server_error_share=1.0, seed=3)
    with LocalSageMaker(tmp_path / "sagemaker", faults=faults) as backend:
        aws_conn_env(backend.endpoint_url)
        client = make_client(backend.endpoint_url)
        request = quadratic_request("half-500", max_jobs=1, parallel=1)
        request["Tags"] = [{"Key": TAG_FINGERPRINT, "Value": "f1"}]
        created = TuningJobHook(aws_conn_id="aws_default").create_or_reattach(request, "f1", retry_for=120)
        assert created.name == "half-500"
        assert faults.injected.get(CREATE, 0) >= 1, "the seed draws at least one fault"
        assert _jobs(client) == ["half-500"]
        wait_for(client, "half-500")


def test_the_operator_fails_with_the_clear_error(
    tmp_path: Path, aws_conn_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = CountingFaults({CREATE: 1.0}, server_error_share=1.0)
    with LocalSageMaker(tmp_path / "sagemaker", faults=faults) as backend:
        aws_conn_env(backend.endpoint_url)
        dag = load_dag_module("testing/hpt_guardrails.py").create_dag
        dag_run = run_supervised(dag, monkeypatch, run_conf={"scripts": SCRIPTS.as_uri()})
        assert task_states(dag_run) == {"tune": "failed"}
        error = task_error(dag_run, "tune")
        assert error.type == "CreateNotConfirmed"
        assert error.message.startswith("CreateHyperParameterTuningJob failed with transient errors")
        assert error.failures == 1
        assert _jobs(make_client(backend.endpoint_url)) == []
