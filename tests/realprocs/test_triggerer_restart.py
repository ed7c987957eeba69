"""Real Airflow processes (api-server, scheduler, dag-processor, triggerer; LocalExecutor, SQLite):
the triggerer is SIGKILLed while a tuning task is deferred, a new one takes over, the task succeeds."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from airflow_hpt.local import LocalSageMaker
from tests.local.conftest import SCRIPTS, CountingFaults, make_client
from tests.realprocs.conftest import DAG_ID, deferred_on_a_triggerer
from tests.realprocs.harness import Airflow, wait_until

TEST_BUDGET_SECONDS = 230

# one at a time, on one pytest-xdist worker (--dist loadgroup), beside the soaks' worker: each starts
# a whole Airflow, and more at once on a 2-core machine would starve each other's processes
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("airflow-processes"),
    pytest.mark.timeout(TEST_BUDGET_SECONDS + 30),
]


def test_task_survives_a_triggerer_killed_mid_wait(
    airflow: Airflow, backend: LocalSageMaker, faults: CountingFaults, tmp_path: Path
) -> None:
    deadline = time.monotonic() + TEST_BUDGET_SECONDS
    release = tmp_path / "release"
    airflow.start_services((DAG_ID,), deadline, "scheduler", "dag-processor")
    first = airflow.start("triggerer-1", "triggerer")
    conf = {"scripts": SCRIPTS.as_uri(), "hold": str(release)}
    airflow.run("dags", "trigger", DAG_ID, "--conf", json.dumps(conf))

    wait_until(
        "the task to defer to the first triggerer",
        lambda: deferred_on_a_triggerer(airflow),
        deadline,
        airflow,
    )
    # only the trigger calls the backend now (one job: it describes it each interval)
    faults.calls.clear()
    wait_until(
        "the first triggerer to poll twice",
        lambda: (
            faults.calls["DescribeHyperParameterTuningJob"] + faults.calls["ListHyperParameterTuningJobs"]
            >= 2
        ),
        deadline,
        airflow,
    )
    assert first.poll() is None
    airflow.kill("triggerer-1")

    client = make_client(backend.endpoint_url)
    jobs = client.list_hyper_parameter_tuning_jobs(NameContains="hpt-local-realprocs")
    (summary,) = jobs["HyperParameterTuningJobSummaries"]
    name = summary["HyperParameterTuningJobName"]
    # killed mid-wait: the job runs on, and nothing stopped it
    assert summary["HyperParameterTuningJobStatus"] == "InProgress"
    assert airflow.query("select state from task_instance where dag_id = ?", DAG_ID) == [("deferred",)]

    airflow.start("triggerer-2", "triggerer")
    release.touch()  # the job may end now: the second triggerer must see it end

    def task_state() -> str | None:
        (state,) = airflow.query("select state from task_instance where dag_id = ?", DAG_ID)[0]
        return state if state in {"success", "failed", "up_for_retry"} else None

    assert wait_until("the task to end", task_state, deadline, airflow) == "success", airflow.log_tail()

    described = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    xcoms = dict(airflow.query("select key, value from xcom where dag_id = ? and task_id = 'tune'", DAG_ID))
    assert json.loads(xcoms["tuning_job_name"]) == name
    assert json.loads(xcoms["best_training_job_arn"]) == described["BestTrainingJob"]["TrainingJobArn"]
    result = json.loads(xcoms["return_value"])
    assert result["status"] == "Completed"
    artifacts = client.describe_training_job(TrainingJobName=described["BestTrainingJob"]["TrainingJobName"])
    assert result["model_artifacts"] == artifacts["ModelArtifacts"]["S3ModelArtifacts"]
