"""Real Airflow processes: a deferred tuning task that Airflow resumes with `next_method` set but no
event and no `next_kwargs` (as its deferral races do, docs/waiting.md) reads its job, defers again,
and succeeds in its first try. The resume is forced in Airflow's database."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest

from airflow_hpt.local import LocalSageMaker
from tests.local.conftest import SCRIPTS, make_client
from tests.realprocs.conftest import DAG_ID, deferred_on_a_triggerer
from tests.realprocs.harness import Airflow, wait_until

TEST_BUDGET_SECONDS = 300

# one at a time, on one pytest-xdist worker (--dist loadgroup), beside the soaks' worker: each starts
# a whole Airflow, and more at once on a 2-core machine would starve each other's processes
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("airflow-processes"),
    pytest.mark.timeout(TEST_BUDGET_SECONDS + 30),
]


def test_resumed_without_event_defers_again_and_succeeds_first_try(
    airflow: Airflow, backend: LocalSageMaker
) -> None:
    deadline = time.monotonic() + TEST_BUDGET_SECONDS
    airflow.start_services((DAG_ID,), deadline, "scheduler", "dag-processor", "triggerer")
    # the training jobs are held until the task has been resumed and has deferred again
    release = airflow.home / "release"
    conf = {"scripts": SCRIPTS.as_uri(), "hold": str(release)}
    airflow.run("dags", "trigger", DAG_ID, "--conf", json.dumps(conf))

    wait_until(
        "the task to defer to the triggerer", lambda: deferred_on_a_triggerer(airflow), deadline, airflow
    )
    # the scheduler has processed the executor's event of the process that deferred
    scheduler_log = airflow.logs / "scheduler.log"
    finished = re.compile(rf"TaskInstance Finished: dag_id={DAG_ID}, task_id=tune.*state=deferred")
    wait_until(
        "the scheduler to see the deferring process end",
        lambda: finished.search(scheduler_log.read_text(errors="replace")),
        deadline,
        airflow,
    )
    client = make_client(backend.endpoint_url)
    (summary,) = client.list_hyper_parameter_tuning_jobs(NameContains="hpt-local-realprocs")[
        "HyperParameterTuningJobSummaries"
    ]
    assert summary["HyperParameterTuningJobStatus"] == "InProgress"

    # What Airflow does in its race: the task is scheduled to resume, with no event to resume with.
    # The trigger must not be running then (a triggerer cancels a trigger whose task left it as a
    # user's action, and on_kill stops the job): the triggerer is down meanwhile.
    airflow.kill("triggerer")
    airflow.query(
        "update task_instance set state = 'scheduled', trigger_id = null, next_kwargs = null "
        "where dag_id = ? and task_id = 'tune' and next_method = 'execute_complete'",
        DAG_ID,
    )

    airflow.start("triggerer-2", "triggerer")
    wait_until("the resumed task to defer again", lambda: deferred_on_a_triggerer(airflow), deadline, airflow)
    release.touch()

    def ended() -> str | None:
        (state,) = airflow.query("select state from task_instance where dag_id = ?", DAG_ID)[0]
        return state if state in {"success", "failed", "up_for_retry"} else None

    assert wait_until("the task to end", ended, deadline, airflow) == "success"
    assert airflow.query("select try_number from task_instance where dag_id = ?", DAG_ID) == [(1,)]

    task_log = "\n".join(
        path.read_text(errors="replace") for path in (airflow.home / "logs").rglob("attempt=1.log")
    )
    assert "Resumed without the trigger's event: reading tuning job" in task_log
    jobs = client.list_hyper_parameter_tuning_jobs(NameContains="hpt-local-realprocs")
    (summary,) = jobs["HyperParameterTuningJobSummaries"]
    name = summary["HyperParameterTuningJobName"]
    described: dict[str, Any] = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    result = json.loads(
        airflow.query(
            "select value from xcom where dag_id = ? and task_id = 'tune' and key = 'return_value'", DAG_ID
        )[0][0]
    )
    assert result["tuning_job_name"] == name
    assert result["best_training_job_arn"] == described["BestTrainingJob"]["TrainingJobArn"]
