"""Kill means stop (issue 6, item 2; issue 9, item 6), on real Airflow processes.

Deferred, through the api-server's REST API: a deferred tuning task marked failed, a deferred one
cleared, and tasks reaching max_wait (deferred and sync) leave no tuning job InProgress on the
backend; in the sensor-only pattern, a sensor marked failed stops the job only when asked to
(stop_on_kill=True), never one it did not create otherwise.

Synchronous (waiting in the worker slot): a task hit by its execution_timeout, and one a user marks
success through the REST API, each stop the job they wait for."""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from airflow_hpt.local import LocalSageMaker
from airflow_hpt.naming import TAG_DAG_ID, TAG_TASK_ID
from tests.local.conftest import SCRIPTS, make_client
from tests.realprocs.harness import Airflow, wait_until

BUDGET_SECONDS = 420
RUNNING = ("InProgress", "Stopping")

# with the other tests that start a whole Airflow, one at a time, on one pytest-xdist worker (--dist
# loadgroup), beside the soaks' worker: more at once on a 2-core machine would starve each other
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("airflow-processes"),
    pytest.mark.timeout(BUDGET_SECONDS + 60),
]


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalSageMaker]:
    with LocalSageMaker(tmp_path / "sagemaker") as started:
        yield started


@pytest.fixture
def airflow(tmp_path: Path, backend: LocalSageMaker, migrated_airflow_db: Path) -> Iterator[Airflow]:
    instance = Airflow(
        tmp_path / "airflow",
        backend.endpoint_url,
        ["soak_kill.py"],
        {"SOAK_SCRIPTS": SCRIPTS.as_uri()},
        migrated_db=migrated_airflow_db,
    )
    try:
        yield instance
    finally:
        instance.stop_all()


def jobs_of(client: Any, dag_id: str, task_id: str) -> list[str]:
    """The names of the tuning jobs on the backend that are tagged as the task's."""

    def tags_of(arn: str) -> dict[str, str]:
        return {tag["Key"]: tag["Value"] for tag in client.list_tags(ResourceArn=arn)["Tags"]}

    return [
        summary["HyperParameterTuningJobName"]
        for summary in client.list_hyper_parameter_tuning_jobs(MaxResults=100)[
            "HyperParameterTuningJobSummaries"
        ]
        if any(
            tags.get(TAG_DAG_ID) == dag_id and tags.get(TAG_TASK_ID) == task_id
            for tags in [tags_of(summary["HyperParameterTuningJobArn"])]
        )
    ]


def job_status(client: Any, name: str) -> str:
    return str(
        client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
            "HyperParameterTuningJobStatus"
        ]
    )


def ti_state(airflow: Airflow, dag_id: str, run_id: str, task_id: str) -> str | None:
    rows = airflow.query(
        "select state from task_instance where dag_id = ? and task_id = ? and run_id = ?",
        dag_id,
        task_id,
        run_id,
    )
    return rows[0][0] if rows else None


def test_kill_means_stop(airflow: Airflow, backend: LocalSageMaker) -> None:
    deadline = time.monotonic() + BUDGET_SECONDS
    client = make_client(backend.endpoint_url)
    dags = ("soak_kill_operator", "soak_kill_sensor")
    airflow.start_services(dags, deadline, "scheduler", "dag-processor", "triggerer")
    runs = {
        dag_id: airflow.api("POST", f"dags/{dag_id}/dagRuns", {"logical_date": None})["dag_run_id"]
        for dag_id in dags
    }

    def state(dag_id: str, task_id: str) -> str | None:
        return ti_state(airflow, dag_id, runs[dag_id], task_id)

    def ended(dag_id: str, task_id: str) -> bool:
        return state(dag_id, task_id) in ("failed", "success")

    def deferred_on_triggerer(dag_id: str, task_id: str) -> bool:
        return bool(
            airflow.query(
                "select 1 from task_instance ti join trigger t on t.id = ti.trigger_id where ti.dag_id = ? "
                "and ti.task_id = ? and ti.run_id = ? and ti.state = 'deferred' and t.triggerer_id is not null",
                dag_id,
                task_id,
                runs[dag_id],
            )
        )

    def job_of(dag_id: str, task_id: str) -> str:
        (name,) = jobs_of(client, dag_id, task_id)
        return name

    def status(name: str) -> str:
        return job_status(client, name)

    waiting = [
        ("soak_kill_operator", "mark_failed"),
        ("soak_kill_operator", "clear"),
        ("soak_kill_sensor", "sense_left_running"),
        ("soak_kill_sensor", "sense_asked_to_stop"),
    ]
    for dag_id, task_id in waiting:
        wait_until(
            f"{task_id} to be deferred",
            partial(deferred_on_triggerer, dag_id, task_id),
            deadline,
            airflow,
        )
    jobs = {
        "mark_failed": job_of("soak_kill_operator", "mark_failed"),
        "clear": job_of("soak_kill_operator", "clear"),
        "left_running": job_of("soak_kill_sensor", "create_left_running"),
        "asked_to_stop": job_of("soak_kill_sensor", "create_asked_to_stop"),
    }
    assert {name: status(job) for name, job in jobs.items()} == dict.fromkeys(jobs, "InProgress")

    # the user marks the deferred tasks failed, and clears one
    for dag_id, task_id in (waiting[0], waiting[2], waiting[3]):
        path = f"dags/{dag_id}/dagRuns/{runs[dag_id]}/taskInstances/{task_id}"
        airflow.api("PATCH", path, {"new_state": "failed"})
    airflow.api(
        "POST",
        "dags/soak_kill_operator/clearTaskInstances",
        {
            "dag_run_id": runs["soak_kill_operator"],
            "task_ids": ["clear"],
            "dry_run": False,
            "only_failed": False,
        },
    )

    def stopped(job: str) -> bool:
        return status(job) not in RUNNING

    wait_until(
        "the job of the task marked failed to stop", lambda: stopped(jobs["mark_failed"]), deadline, airflow
    )
    wait_until("the job of the cleared task to stop", lambda: stopped(jobs["clear"]), deadline, airflow)
    wait_until(
        "the job of the sensor asked to stop, to stop",
        lambda: stopped(jobs["asked_to_stop"]),
        deadline,
        airflow,
    )
    # the other sensor's trigger is gone (the task was killed) and the job it did not create runs on
    wait_until(
        "the killed sensor's trigger to go",
        lambda: not deferred_on_triggerer("soak_kill_sensor", "sense_left_running"),
        deadline,
        airflow,
    )
    assert state("soak_kill_sensor", "sense_left_running") == "failed"
    assert status(jobs["left_running"]) == "InProgress"

    # the cleared task ran again: it found its own job stopped and ended, starting nothing new
    wait_until(
        "the cleared task to end",
        lambda: state("soak_kill_operator", "clear") in ("failed", "success"),
        deadline,
        airflow,
    )
    assert status(jobs["clear"]) not in RUNNING

    # max_wait, deferred and sync: the task fails and its job is stopped
    for task_id in ("max_wait", "max_wait_sync"):
        wait_until(
            f"{task_id} to end",
            partial(ended, "soak_kill_operator", task_id),
            deadline,
            airflow,
        )
        assert state("soak_kill_operator", task_id) == "failed"
        job = job_of("soak_kill_operator", task_id)
        wait_until(f"the job of {task_id} to stop", partial(stopped, job), deadline, airflow)

    # nothing else runs on the backend but the job no task asked to stop
    summaries = client.list_hyper_parameter_tuning_jobs(MaxResults=100)["HyperParameterTuningJobSummaries"]
    running: dict[str, Any] = {
        s["HyperParameterTuningJobName"]: s["HyperParameterTuningJobStatus"]
        for s in summaries
        if s["HyperParameterTuningJobStatus"] in RUNNING
    }
    assert running == {jobs["left_running"]: "InProgress"}
    assert len(summaries) == 6  # one job per task that creates one: no duplicate from the clear


def test_sync_task_killed_stops_its_job(airflow: Airflow, backend: LocalSageMaker) -> None:
    """Two tasks waiting in their worker slots for ten-minute jobs: one reaches its execution_timeout,
    a user marks the other success. Both jobs end Stopped; the first task fails, the second stays
    a success."""
    deadline = time.monotonic() + BUDGET_SECONDS
    client = make_client(backend.endpoint_url)
    dag_id = "soak_kill_sync"
    airflow.start_services((dag_id,), deadline, "scheduler", "dag-processor")
    run_id = airflow.api("POST", f"dags/{dag_id}/dagRuns", {"logical_date": None})["dag_run_id"]

    def the_job(task_id: str) -> str | None:
        names = jobs_of(client, dag_id, task_id)
        assert len(names) <= 1, f"{task_id} created more than one job: {names}"
        return names[0] if names else None

    def waiting_on(task_id: str, job: str) -> bool:
        """The task runs and has logged a poll of its job that found it running: it is in its wait."""
        log = airflow.task_log(dag_id, run_id, task_id)
        return ti_state(airflow, dag_id, run_id, task_id) == "running" and f"{job}: InProgress" in log

    def status_is_stopped(job: str) -> bool:
        return job_status(client, job) == "Stopped"

    jobs = {
        task_id: wait_until(f"{task_id} to create its job", partial(the_job, task_id), deadline, airflow)
        for task_id in ("execution_timeout", "mark_success")
    }

    # marked success while it waits: Airflow's supervisor SIGTERMs the task, whose on_kill stops the job
    wait_until(
        "mark_success to wait on its job",
        partial(waiting_on, "mark_success", jobs["mark_success"]),
        deadline,
        airflow,
    )
    airflow.api(
        "PATCH",
        f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/mark_success",
        {"new_state": "success"},
    )
    wait_until(
        "the job of the task marked success to be stopped",
        partial(status_is_stopped, jobs["mark_success"]),
        deadline,
        airflow,
    )
    wait_until(
        "the task marked success to log its stop",
        lambda: (
            f"Asked SageMaker to stop tuning job {jobs['mark_success']}"
            in airflow.task_log(dag_id, run_id, "mark_success")
        ),
        deadline,
        airflow,
    )

    # the execution_timeout fires while the task waits on its ten-minute job: the task fails
    wait_until(
        "execution_timeout to end",
        lambda: (
            ti_state(airflow, dag_id, run_id, "execution_timeout") in ("failed", "up_for_retry", "success")
        ),
        deadline,
        airflow,
    )
    assert ti_state(airflow, dag_id, run_id, "execution_timeout") == "failed"

    # the log comes through the supervisor on its own channel: wait for the try's failure to be in it
    def failure_logged() -> str | None:
        text = airflow.task_log(dag_id, run_id, "execution_timeout")
        return text if "Task failed with exception" in text else None

    log = wait_until("the timed-out task to log its failure", failure_logged, deadline, airflow)
    assert "AirflowTaskTimeout" in log
    # stopped once: by the on_kill Airflow's task runner calls on the timeout, not a second time
    assert log.count(f"Asked SageMaker to stop tuning job {jobs['execution_timeout']}") == 1
    assert "was not stopped" not in log
    wait_until(
        "the job of the timed-out task to be stopped",
        partial(status_is_stopped, jobs["execution_timeout"]),
        deadline,
        airflow,
    )
    # no other job was created, and none runs
    assert {name: job_status(client, name) for name in jobs.values()} == dict.fromkeys(
        jobs.values(), "Stopped"
    )
    assert (
        len(client.list_hyper_parameter_tuning_jobs(MaxResults=100)["HyperParameterTuningJobSummaries"]) == 2
    )
    # killing the task did not undo the user's verdict
    assert ti_state(airflow, dag_id, run_id, "mark_success") == "success"
