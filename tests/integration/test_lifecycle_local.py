"""The operator's lifecycle on the local backend, synchronous and deferred side by side through dag.test():
Completed, Failed, Stopped, max_wait, a throttling and 5xx storm, on_kill."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_hpt import CreateTuningJobOperator
from airflow_hpt.exceptions import TuningJobFailed
from airflow_hpt.local import Faults
from tests.conftest import load_dag_module
from tests.integration.airflow_state import task_states, xcom
from tests.local.conftest import SCRIPTS, quadratic_request, wait_for
from tests.waiting import PATIENCE_SECONDS, wait_until

pytestmark = pytest.mark.usefixtures("airflow_db")
RUN_CONF = {"scripts": SCRIPTS.as_uri()}


@pytest.fixture
def faults() -> Faults:
    return Faults()


def _dag(name: str) -> Any:
    return getattr(load_dag_module("testing/hpt_local_wait.py"), name)


def test_sync_operator_completes(client: Any) -> None:
    dag_run = _dag("sync_dag").test(run_conf=RUN_CONF)
    assert task_states(dag_run) == {"tune": "success"}
    result = xcom(dag_run, "tune")
    described = wait_for(client, result["tuning_job_name"])
    assert result["status"] == described["HyperParameterTuningJobStatus"] == "Completed"
    assert result["best_training_job_arn"] == described["BestTrainingJob"]["TrainingJobArn"]
    assert xcom(dag_run, "tune", "model_artifacts") == result["model_artifacts"] is not None


@pytest.mark.slow  # about 15 s: a tuning job run to its failure twice
def test_failed_job_fails_both_ways(client: Any) -> None:
    dag_run = _dag("failed_dag").test(run_conf=RUN_CONF)
    assert task_states(dag_run) == {"tune_sync": "failed", "tune_deferred": "failed"}
    jobs = client.list_hyper_parameter_tuning_jobs(NameContains="hpt-local-failed")
    statuses = [job["HyperParameterTuningJobStatus"] for job in jobs["HyperParameterTuningJobSummaries"]]
    assert statuses == ["Failed", "Failed"]


@pytest.mark.slow  # about 25 s: two tuning jobs stopped while they run
def test_stopped_job_fails_unless_accepted(client: Any) -> None:
    stopper = _Stopper(client, "hpt-local-stopped")
    with stopper:
        dag_run = _dag("stopped_dag").test(run_conf=RUN_CONF)
    assert len(stopper.stopped) == 3
    assert task_states(dag_run) == {
        "tune_sync": "failed",
        "tune_deferred": "failed",
        "tune_accept_stopped": "success",
    }
    result = xcom(dag_run, "tune_accept_stopped")
    assert result["status"] == "Stopped"


@pytest.mark.slow  # about 17 s: the task waits out max_wait on a running job
def test_max_wait_stops_the_job_and_fails_the_task(client: Any) -> None:
    dag_run = _dag("max_wait_dag").test(run_conf=RUN_CONF)
    # each training job sleeps 3 minutes: only the stop at max_wait (3 s) ends them Stopped
    assert task_states(dag_run) == {"tune_sync": "failed", "tune_deferred": "failed"}
    jobs = client.list_hyper_parameter_tuning_jobs(NameContains="hpt-local-max-wait")
    names = [job["HyperParameterTuningJobName"] for job in jobs["HyperParameterTuningJobSummaries"]]
    assert len(names) == 2
    for name in names:
        assert wait_for(client, name)["HyperParameterTuningJobStatus"] == "Stopped"


@pytest.mark.slow  # about 20 s; tests/integration/test_trigger.py has a fast storm of its own
def test_throttling_and_server_errors_on_half_the_calls_fail_no_task(client: Any, faults: Faults) -> None:
    faults.rates = {"*": 0.5}
    faults.server_error_share = 0.5
    dag_run = _dag("storm_dag").test(run_conf=RUN_CONF)
    faults.rates = {}
    assert task_states(dag_run) == {
        "tune_sync": "success",
        "tune_deferred": "success",
        "create": "success",
        "wait": "success",
    }
    for task_id in ("tune_sync", "tune_deferred", "wait"):
        result = xcom(dag_run, task_id)
        assert result["status"] == "Completed", task_id
        assert result["training_job_counts"]["completed"] == 4
        assert result["model_artifacts"] is not None
    assert sum(faults.injected.values()) >= 10


def test_on_kill_stops_the_job(client: Any, tmp_path: Path) -> None:
    """A synchronous task killed mid-wait (SIGTERM, execution timeout, mark failed) stops its job."""
    operator = CreateTuningJobOperator(
        task_id="tune",
        request=quadratic_request("killed-job", max_jobs=4, static={"hold": str(tmp_path / "never")}),
        check_interval=0.2,
    )
    ti = SimpleNamespace(map_index=-1, xcom_push=lambda key, value: None)
    context: Any = {"run_id": "manual__kill", "ti": ti}
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            operator.execute(context)
        except BaseException as error:
            outcome.append(error)

    waiter = threading.Thread(target=run, daemon=True)
    waiter.start()

    def created() -> bool:
        assert not outcome, outcome
        listed = client.list_hyper_parameter_tuning_jobs(NameContains="killed-job")
        return bool(listed["HyperParameterTuningJobSummaries"])

    wait_until("the operator to create its job", created)
    operator.on_kill()
    waiter.join(PATIENCE_SECONDS)
    assert wait_for(client, "killed-job")["HyperParameterTuningJobStatus"] == "Stopped"
    assert len(outcome) == 1 and isinstance(outcome[0], TuningJobFailed)


class _Stopper:
    """Stops every tuning job whose name starts with `prefix` once it runs: a user pressing Stop."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client, self.prefix = client, prefix
        self.stopped: set[str] = set()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Stopper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(0.2):
            jobs = self.client.list_hyper_parameter_tuning_jobs(
                NameContains=self.prefix, StatusEquals="InProgress"
            )
            for job in jobs["HyperParameterTuningJobSummaries"]:
                name = job["HyperParameterTuningJobName"]
                if name not in self.stopped:
                    self.client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
                    self.stopped.add(name)
