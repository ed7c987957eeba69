"""Real Airflow processes (api-server, scheduler, dag-processor, two triggerers; LocalExecutor,
SQLite): a deferred tuning task's trigger is taken over by the other triggerer, as Airflow does when
its triggerer missed its health check. Airflow 3.3 cancels it in the first triggerer as if a user had
acted on the task, and calls its on_kill; the job (stop_on_kill is on) must run on, and the task
succeed through the second triggerer (issue 22)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from airflow_hpt.local.server import LocalSageMaker
from tests.local.conftest import SCRIPTS, CountingFaults, make_client
from tests.realprocs.conftest import DAG_ID, deferred_on_a_triggerer
from tests.realprocs.harness import Airflow, free_port, wait_until

TEST_BUDGET_SECONDS = 240

pytestmark = [pytest.mark.slow, pytest.mark.timeout(TEST_BUDGET_SECONDS + 30)]


def test_a_trigger_taken_over_by_another_triggerer_does_not_stop_the_job(
    airflow: Airflow, backend: LocalSageMaker, faults: CountingFaults, tmp_path: Path
) -> None:
    deadline = time.monotonic() + TEST_BUDGET_SECONDS
    release = tmp_path / "release"
    airflow.start_services((DAG_ID,), deadline, "scheduler", "dag-processor")
    for name in ("triggerer-1", "triggerer-2"):
        # two triggerers on one host: each serves its logs on a port of its own
        airflow.start(name, "triggerer", env={"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())})

    def triggerers() -> list[int]:
        rows = airflow.query("select id from job where job_type = 'TriggererJob' and state = 'running'")
        return sorted(row[0] for row in rows)

    wait_until("both triggerers to run", lambda: len(triggerers()) == 2, deadline, airflow)
    conf = {"scripts": SCRIPTS.as_uri(), "hold": str(release)}
    airflow.run("dags", "trigger", DAG_ID, "--conf", json.dumps(conf))
    wait_until(
        "the task to defer to a triggerer", lambda: deferred_on_a_triggerer(airflow), deadline, airflow
    )
    ((trigger_id, holder),) = airflow.query(
        "select t.id, t.triggerer_id from trigger t join task_instance ti on ti.trigger_id = t.id "
        "where ti.dag_id = ?",
        DAG_ID,
    )
    (other,) = [job for job in triggerers() if job != holder]

    client = make_client(backend.endpoint_url)
    (summary,) = client.list_hyper_parameter_tuning_jobs(NameContains="hpt-local-realprocs")[
        "HyperParameterTuningJobSummaries"
    ]
    name = summary["HyperParameterTuningJobName"]
    assert summary["HyperParameterTuningJobStatus"] == "InProgress"

    # What Airflow does to the trigger of a triggerer that missed its health check: the row goes to
    # another triggerer. The holder, still alive, then cancels its copy as a user action.
    airflow.query("update trigger set triggerer_id = ? where id = ?", other, trigger_id)

    def holder_log() -> str:
        # the trigger's log in the holder: <task log>.trigger.<triggerer job id>.log
        return "".join(
            path.read_text(errors="replace")
            for path in (airflow.home / "logs").rglob(f"attempt=1.log.trigger.{holder}.log")
        )

    wait_until(
        "the first triggerer to end its copy of the trigger",
        lambda: "trigger completed" in holder_log(),
        deadline,
        airflow,
    )
    assert faults.calls["StopHyperParameterTuningJob"] == 0, holder_log()
    assert "Not stopping tuning job" in holder_log()
    assert (
        client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
            "HyperParameterTuningJobStatus"
        ]
        == "InProgress"
    )
    assert airflow.query("select state, try_number from task_instance where dag_id = ?", DAG_ID) == [
        ("deferred", 1)
    ]

    release.touch()  # the job may end now: the second triggerer must see it end

    def task_state() -> str | None:
        (state,) = airflow.query("select state from task_instance where dag_id = ?", DAG_ID)[0]
        return state if state in {"success", "failed", "up_for_retry"} else None

    assert wait_until("the task to end", task_state, deadline, airflow) == "success", airflow.log_tail()
    described = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert faults.calls["StopHyperParameterTuningJob"] == 0
