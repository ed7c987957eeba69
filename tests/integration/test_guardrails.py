"""The budget cap and the wait for capacity, through `dag.test()` against the local backend."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_hpt.local import LocalSageMaker
from tests.conftest import load_dag_module
from tests.integration.airflow_state import task_states, xcom
from tests.integration.test_bad_input import run_supervised, task_error
from tests.local.conftest import SCRIPTS, CountingFaults, make_client, quadratic_request, wait_for
from tests.waiting import wait_until

pytestmark = pytest.mark.usefixtures("airflow_db")
RUN_CONF = {"scripts": SCRIPTS.as_uri()}
CREATE = "CreateHyperParameterTuningJob"
BLOCKER = "Blocker"


def _dags() -> Any:
    return load_dag_module("testing/hpt_guardrails.py")


def _jobs(client: Any) -> list[str]:
    summaries = client.list_hyper_parameter_tuning_jobs(MaxResults=100)["HyperParameterTuningJobSummaries"]
    return sorted(job["HyperParameterTuningJobName"] for job in summaries)


def test_a_budget_over_the_cap_creates_nothing(tmp_path: Path, aws_conn_env: Any) -> None:
    faults = CountingFaults()
    with LocalSageMaker(tmp_path / "sagemaker", faults=faults) as backend:
        aws_conn_env(backend.endpoint_url)
        dag_run = _dags().budget_dag.test(run_conf=RUN_CONF)
        assert task_states(dag_run) == {"instance_hours": "failed", "cost": "failed"}
        assert _jobs(make_client(backend.endpoint_url)) == []
        assert faults.calls[CREATE] == 0


def test_the_cap_names_each_factor(
    tmp_path: Path, aws_conn_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LocalSageMaker(tmp_path / "sagemaker") as backend:
        aws_conn_env(backend.endpoint_url)
        dag = _dags().budget_dag.partial_subset(task_ids=["instance_hours"])
        dag_run = run_supervised(dag, monkeypatch, run_conf=RUN_CONF)
        error = task_error(dag_run, "instance_hours")
        assert error.type == "BudgetExceeded"
        assert error.message.startswith(
            "The tuning request's worst case is 0.666667 instance-hours, over max_instance_hours=0.5; "
            "no tuning job was created."
        )
        for factor in (
            "MaxNumberOfTrainingJobs 4",
            "1 instance(s) (TrainingJobDefinition.ResourceConfig.InstanceCount)",
            "600 s (TrainingJobDefinition.StoppingCondition.MaxRuntimeInSeconds)",
        ):
            assert factor in error.message
        assert _jobs(make_client(backend.endpoint_url)) == []


def test_a_budget_within_the_cap_runs(tmp_path: Path, aws_conn_env: Any) -> None:
    with LocalSageMaker(tmp_path / "sagemaker") as backend:
        aws_conn_env(backend.endpoint_url)
        dag_run = _dags().within_dag.test(run_conf=RUN_CONF)
        assert task_states(dag_run) == {"tune": "success"}
        result = xcom(dag_run, "tune")
        assert result["status"] == "Completed"
        # what the run consumed, against what the backend bills each training job
        client = make_client(backend.endpoint_url)
        jobs = client.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=result["tuning_job_name"]
        )["TrainingJobSummaries"]
        billed = [
            client.describe_training_job(TrainingJobName=job["TrainingJobName"])["BillableTimeInSeconds"]
            for job in jobs
        ]
        assert len(billed) == 2
        spent = result["consumption"]
        assert spent["training_seconds"] == sum(billed)
        assert spent["instance_hours"] == pytest.approx(sum(billed) / 3600, abs=1e-4)
        assert spent["cost"] == pytest.approx(sum(billed) / 3600 * 0.115, abs=1e-4)
        assert spent["jobs_by_basis"] == {"billable": 2, "wall_clock": 0, "running": 0}


def _capacity_timers() -> int:
    """How many timers tasks have deferred to (the triggers of the metadata database)."""
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session

    with create_session() as session:
        return sum(1 for trigger in session.query(Trigger) if trigger.classpath.endswith(".CapacityTimer"))


@pytest.fixture
def full_backend(tmp_path: Path, aws_conn_env: Any) -> Iterator[tuple[LocalSageMaker, CountingFaults, Path]]:
    """A backend that runs one tuning job at most, already running one held until `release` exists."""
    faults = CountingFaults()
    release = tmp_path / "release"
    with LocalSageMaker(tmp_path / "sagemaker", max_concurrent_tuning_jobs=1, faults=faults) as backend:
        aws_conn_env(backend.endpoint_url)
        make_client(backend.endpoint_url).create_hyper_parameter_tuning_job(
            # held for as long as a test needs: its MaxRuntimeInSeconds must not end it first
            **quadratic_request(
                BLOCKER, max_jobs=1, parallel=1, static={"hold": str(release)}, max_runtime=86400
            )
        )
        try:
            yield backend, faults, release
        finally:
            release.touch()  # let the held training job end before the backend stops


@pytest.mark.parametrize("dag_name", ["capacity_sync_dag", "capacity_deferred_dag"])
def test_a_second_job_waits_for_the_quota_then_runs(
    full_backend: tuple[LocalSageMaker, CountingFaults, Path], dag_name: str
) -> None:
    backend, faults, release = full_backend
    client = make_client(backend.endpoint_url)

    def release_once_refused() -> None:
        # the blocker's Create, then the task's, refused while the blocker is held
        wait_until("the task's Create to be refused", lambda: faults.calls[CREATE] >= 2)
        release.touch()

    releaser = threading.Thread(target=release_once_refused, daemon=True)
    releaser.start()
    timers_before = _capacity_timers()
    dag_run = getattr(_dags(), dag_name).test(run_conf=RUN_CONF)
    releaser.join()
    # the deferrable task waited in the triggerer, the other in its worker
    assert (_capacity_timers() > timers_before) == (dag_name == "capacity_deferred_dag")

    assert task_states(dag_run) == {"tune": "success"}
    result = xcom(dag_run, "tune")
    assert result["status"] == "Completed"
    assert _jobs(client) == sorted([BLOCKER, result["tuning_job_name"]])
    assert wait_for(client, BLOCKER)["HyperParameterTuningJobStatus"] == "Completed"
    assert faults.calls[CREATE] >= 3  # refused at least once, then created


@pytest.mark.parametrize("dag_name", ["expires_sync_dag", "expires_deferred_dag"])
def test_a_capacity_wait_that_ends_creates_nothing(
    full_backend: tuple[LocalSageMaker, CountingFaults, Path], dag_name: str
) -> None:
    backend, faults, _release = full_backend
    dag_run = getattr(_dags(), dag_name).test(run_conf=RUN_CONF)
    assert task_states(dag_run) == {"tune": "failed"}
    assert _jobs(make_client(backend.endpoint_url)) == [BLOCKER]
    assert faults.calls[CREATE] >= 3  # the blocker's, then the task's first and at least one more


def test_the_expired_wait_fails_with_the_quota_message(
    full_backend: tuple[LocalSageMaker, CountingFaults, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, _faults, _release = full_backend
    dag_run = run_supervised(_dags().expires_sync_dag, monkeypatch, run_conf=RUN_CONF)
    error = task_error(dag_run, "tune")
    assert error.type == "CapacityUnavailable"
    assert (
        "The account-level service limit 'Number of concurrent hyperparameter tuning jobs' is 1 jobs, "
        "with current utilization of 1 jobs"
    ) in error.message
    assert "Waited capacity_wait=2s for it; no tuning job was created." in error.message
    assert _jobs(make_client(backend.endpoint_url)) == [BLOCKER]
