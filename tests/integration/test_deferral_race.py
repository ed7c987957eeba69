"""Airflow's deferral races (docs/waiting.md), against the local backend over HTTP: a task resumed
without the trigger's event reads its job, a job that already ended is not deferred on, the trigger
holds its event until `not_before`, and sync waits end only at max_wait."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred
from botocore.exceptions import ClientError

from airflow_hpt import CreateTuningJobOperator, TuningJobSensor
from airflow_hpt.aws_task import DEFAULT_MIN_DEFERRAL
from airflow_hpt.exceptions import TuningJobFailed
from airflow_hpt.hooks.tuning import TuningJobHook
from airflow_hpt.local import Faults, LocalSageMaker
from airflow_hpt.result import XCOM_KEYS
from airflow_hpt.triggers.tuning import TuningJobTrigger
from tests.integration.test_trigger import first_event, make_trigger, start
from tests.local.conftest import quadratic_request, wait_for

pytestmark = pytest.mark.usefixtures("airflow_db")


class CountingFaults(Faults):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.calls: Counter[str] = Counter()

    def draw(self, operation: str) -> Any:
        self.calls[operation] += 1
        return super().draw(operation)


@pytest.fixture
def faults() -> CountingFaults:
    return CountingFaults()


def _context(run_id: str = "manual__race") -> tuple[Any, dict[str, Any]]:
    pushed: dict[str, Any] = {}
    ti = SimpleNamespace(
        map_index=-1, try_number=1, xcom_push=lambda key, value: pushed.__setitem__(key, value)
    )
    return {"run_id": run_id, "ti": ti, "outlet_events": {}}, pushed


def _operator(name: str, hold: Path | None = None, **options: Any) -> CreateTuningJobOperator:
    """``hold``: its training jobs stay running until that file exists (quadratic.py --hold)."""
    return CreateTuningJobOperator(
        task_id="tune",
        request=quadratic_request(name, max_jobs=2, static={"hold": str(hold)} if hold else None),
        deferrable=True,
        check_interval=0.3,
        **options,
    )


def test_resumed_without_event_finishes_as_the_event_would_have(client: Any, tmp_path: Path) -> None:
    release = tmp_path / "release"
    operator = _operator("race-ended", hold=release)
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(_context()[0])
    assert deferred.value.kwargs == {"tuning_job_name": "race-ended", "deadline": None}
    trigger = deferred.value.trigger
    assert isinstance(trigger, TuningJobTrigger) and trigger.not_before is not None
    assert trigger.not_before >= before + DEFAULT_MIN_DEFERRAL, "holds the default 10 s after the deferral"
    release.touch()
    wait_for(client, "race-ended")

    with_event, pushed_with_event = _context()
    expected = operator.execute_complete(
        with_event, event={"status": "ended", "tuning_job_name": "race-ended", "job_status": "Completed"}
    )
    # the result is built in the worker from the job itself (what it consumed added on hand-off)
    assert {key: value for key, value in expected.items() if key != "consumption"} == operator.hook.result_of(
        client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="race-ended")
    )
    assert expected["consumption"]["training_seconds"] > 0
    # an event of a trigger from before 0.2, which carried the result: the job is read again
    old_style = {"status": "terminal", "result": {"tuning_job_name": "race-ended"}}
    assert _operator("race-ended").execute_complete(_context()[0], event=old_style) == expected
    # a fresh operator, as in the resumed try's process; neither the event nor next_kwargs came
    resumed, pushed = _context()
    result = _operator("race-ended").execute_complete(resumed)
    assert result == expected and result["status"] == "Completed"
    assert pushed == pushed_with_event == {key: result[key] for key in XCOM_KEYS}
    # next_kwargs without the event
    assert _operator("race-ended").execute_complete(_context()[0], tuning_job_name="race-ended") == expected


def test_resumed_without_event_defers_again_while_the_job_runs(client: Any, tmp_path: Path) -> None:
    hold = tmp_path / "never"
    operator = _operator("race-running", hold=hold, max_wait=3600)
    with pytest.raises(TaskDeferred) as first:
        operator.execute(_context()[0])
    deadline = first.value.kwargs["deadline"]
    assert deadline is not None
    with pytest.raises(TaskDeferred) as again:
        _operator("race-running", hold=hold, max_wait=3600).execute_complete(
            _context()[0], **first.value.kwargs
        )
    assert again.value.trigger.tuning_job_name == "race-running"
    assert again.value.kwargs == {"tuning_job_name": "race-running", "deadline": deadline}, "max_wait kept"
    assert again.value.trigger.deadline == deadline
    client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="race-running")
    wait_for(client, "race-running")


def test_resumed_without_event_after_max_wait_stops_the_job(client: Any, tmp_path: Path) -> None:
    hold = tmp_path / "never"
    operator = _operator("race-late", hold=hold)
    with pytest.raises(TaskDeferred):
        operator.execute(_context()[0])
    with pytest.raises(TimeoutError, match="stopped it"):
        _operator("race-late", hold=hold).execute_complete(
            _context()[0], tuning_job_name="race-late", deadline=time.time() - 1
        )
    assert wait_for(client, "race-late")["HyperParameterTuningJobStatus"] == "Stopped"


def test_a_job_that_already_ended_is_not_deferred_on(client: Any, tmp_path: Path) -> None:
    release = tmp_path / "release"
    first_try = _operator("race-reattach", hold=release)
    with pytest.raises(TaskDeferred):
        first_try.execute(_context()[0])
    release.touch()
    wait_for(client, "race-reattach")
    # the retry after the first try's process died: reattaches, sees the job ended, finishes
    context, pushed = _context()
    result = _operator("race-reattach", hold=release).execute(context)
    assert result["status"] == "Completed" and result["tuning_job_name"] == "race-reattach"
    assert pushed["best_training_job_arn"] == result["best_training_job_arn"]


def test_a_failed_job_fails_a_resumed_task_without_event(client: Any) -> None:
    client.create_hyper_parameter_tuning_job(
        **quadratic_request("race-failed", max_jobs=2, static={"fail": "true"})
    )
    wait_for(client, "race-failed")
    with pytest.raises(TuningJobFailed, match="race-failed Failed"):
        _operator("race-failed").execute_complete(_context()[0], tuning_job_name="race-failed")


def test_sensor_resumed_without_event_reads_the_job(client: Any, tmp_path: Path) -> None:
    release = tmp_path / "release"
    start(client, "race-sensed", hold=release)
    sensor = TuningJobSensor(task_id="wait", tuning_job_name="race-sensed", deferrable=True, poke_interval=1)
    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute_complete(_context()[0])
    assert deferred.value.trigger.not_before >= before + DEFAULT_MIN_DEFERRAL
    release.touch()
    wait_for(client, "race-sensed")
    context, pushed = _context()
    result = sensor.execute_complete(context, event={})
    assert result["status"] == "Completed" and pushed["tuning_job_name"] == "race-sensed"


def test_sensor_resumed_without_event_keeps_what_is_left_of_its_timeout(client: Any, tmp_path: Path) -> None:
    start(client, "race-sensor-timeout", hold=tmp_path / "never")
    sensor = TuningJobSensor(
        task_id="wait", tuning_job_name="race-sensor-timeout", deferrable=True, poke_interval=1, timeout=600
    )
    with pytest.raises(TaskDeferred) as first:
        sensor.execute(_context()[0])
    timeout_at = first.value.kwargs["timeout_at"]
    assert first.value.timeout is not None and first.value.timeout.total_seconds() <= 600
    # resumed without the event 400 s later: defers again for the 200 s left, not a fresh 600
    with pytest.raises(TaskDeferred) as again:
        sensor.execute_complete(_context()[0], timeout_at=timeout_at - 400)
    assert again.value.kwargs == {"timeout_at": timeout_at - 400}
    assert again.value.timeout is not None and again.value.timeout.total_seconds() <= 200
    # resumed without the event after the timeout: fails as a sensor timeout, the job keeps running
    with pytest.raises(AirflowSensorTimeout, match="race-sensor-timeout has not ended"):
        sensor.execute_complete(_context()[0], timeout_at=time.time() - 1)
    describe = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="race-sensor-timeout")
    assert describe["HyperParameterTuningJobStatus"] == "InProgress"
    client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="race-sensor-timeout")
    wait_for(client, "race-sensor-timeout")


def test_trigger_holds_its_event_until_not_before(client: Any) -> None:
    start(client, "race-hold")
    wait_for(client, "race-hold")
    not_before = time.time() + 3
    trigger = make_trigger("race-hold", not_before=not_before)
    assert trigger.serialize()[1]["not_before"] == not_before, "survives a triggerer restart"
    event = asyncio.run(first_event(trigger))
    assert time.time() >= not_before, "no event before not_before"
    assert event.payload == {"status": "ended", "tuning_job_name": "race-hold", "job_status": "Completed"}


def test_sync_call_with_retry_for_zero_makes_one_attempt(
    backend: LocalSageMaker, faults: CountingFaults
) -> None:
    faults.rates = {"DescribeHyperParameterTuningJob": 1.0}
    hook = TuningJobHook(aws_conn_id="aws_default", config={"retries": {"total_max_attempts": 1}})
    with pytest.raises(ClientError):
        hook.call("describe_hyper_parameter_tuning_job", retry_for=0, HyperParameterTuningJobName="x")
    assert faults.calls["DescribeHyperParameterTuningJob"] == 1


def test_sync_wait_ends_at_max_wait_even_while_faults_last(
    backend: LocalSageMaker, client: Any, faults: CountingFaults, tmp_path: Path
) -> None:
    start(client, "race-faulty", hold=tmp_path / "never")
    faults.rates = {"DescribeHyperParameterTuningJob": 1.0}
    hook = TuningJobHook(aws_conn_id="aws_default", config={"retries": {"total_max_attempts": 1}})
    polls: list[Any] = []
    assert hook.wait_for_terminal("race-faulty", 0.2, time.monotonic() + 2, polls.append) is None
    assert polls == [] and faults.calls["DescribeHyperParameterTuningJob"] >= 1
    faults.rates = {}
    client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="race-faulty")
    wait_for(client, "race-faulty")
