"""TuningJobSensor against the local backend: status rule, result and XCom keys, deferral, stop on kill."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_hpt import TuningJobSensor
from airflow_hpt.exceptions import TuningJobFailed
from airflow_hpt.local import LocalSageMaker
from airflow_hpt.result import XCOM_KEYS
from airflow_hpt.triggers.tuning import TuningJobTrigger
from tests.local.conftest import held, make_client, quadratic_request, wait_for


@pytest.fixture
def client(tmp_path: Path, aws_conn_env: Any) -> Iterator[Any]:
    with LocalSageMaker(tmp_path / "sagemaker") as backend:
        aws_conn_env(backend.endpoint_url)
        yield make_client(backend.endpoint_url)


def _context() -> tuple[Any, dict[str, Any]]:
    pushed: dict[str, Any] = {}
    ti = SimpleNamespace(xcom_push=lambda key, value: pushed.__setitem__(key, value))
    return {"ti": ti}, pushed


def _start(client: Any, name: str, **options: Any) -> None:
    client.create_hyper_parameter_tuning_job(**quadratic_request(name, max_jobs=2, **options))


def test_poke_waits_then_returns_the_result_and_pushes_the_keys(client: Any, tmp_path: Path) -> None:
    release = tmp_path / "release"
    _start(client, "sensed", static=held(release))
    sensor = TuningJobSensor(task_id="wait", tuning_job_name="sensed")
    context, pushed = _context()
    assert sensor.poke(context).is_done is False
    release.touch()
    wait_for(client, "sensed")
    done = sensor.poke(context)
    assert done.is_done is True
    result = done.xcom_value
    assert result["status"] == "Completed"
    best = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="sensed")["BestTrainingJob"]
    assert result["best_training_job_arn"] == best["TrainingJobArn"]
    assert pushed == {key: result[key] for key in XCOM_KEYS}
    assert result["model_artifacts"].endswith("/output/model.tar.gz")


def test_failed_job_fails_the_sensor_naming_the_status(client: Any) -> None:
    _start(client, "sensed-failed", static={"fail": "true"})
    wait_for(client, "sensed-failed")
    with pytest.raises(TuningJobFailed, match="sensed-failed Failed"):
        TuningJobSensor(task_id="wait", tuning_job_name="sensed-failed").poke(_context()[0])


def test_stopped_job_fails_unless_accepted(client: Any, tmp_path: Path) -> None:
    _start(client, "sensed-stopped", static=held(tmp_path / "never"))
    client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="sensed-stopped")
    wait_for(client, "sensed-stopped")
    with pytest.raises(TuningJobFailed, match="sensed-stopped was Stopped"):
        TuningJobSensor(task_id="wait", tuning_job_name="sensed-stopped").poke(_context()[0])
    accepting = TuningJobSensor(task_id="accept", tuning_job_name="sensed-stopped", fail_on_stopped=False)
    assert accepting.poke(_context()[0]).xcom_value["status"] == "Stopped"


def test_deferrable_sensor_defers_to_the_trigger_without_stop_on_kill(client: Any, tmp_path: Path) -> None:
    _start(client, "sensed-deferred", static=held(tmp_path / "never"))
    sensor = TuningJobSensor(
        task_id="wait", tuning_job_name="sensed-deferred", deferrable=True, poke_interval=7
    )
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute(_context()[0])
    trigger = deferred.value.trigger
    assert isinstance(trigger, TuningJobTrigger)
    assert trigger.tuning_job_name == "sensed-deferred"
    assert trigger.check_interval == 7
    assert trigger.stop_on_kill is False and trigger.deadline is None
    assert deferred.value.method_name == "execute_complete"
    client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="sensed-deferred")


@pytest.mark.parametrize("stop_on_kill", [False, True])
def test_on_kill_stops_only_when_asked(client: Any, stop_on_kill: bool, tmp_path: Path) -> None:
    name = f"sensed-kill-{str(stop_on_kill).lower()}"
    _start(client, name, static=held(tmp_path / "never"))
    kwargs = {"stop_on_kill": True} if stop_on_kill else {}
    TuningJobSensor(task_id="wait", tuning_job_name=name, **kwargs).on_kill()
    status = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
        "HyperParameterTuningJobStatus"
    ]
    assert status in ({"Stopping", "Stopped"} if stop_on_kill else {"InProgress"})
    if not stop_on_kill:
        client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)


def test_sensor_is_exported_lazily_and_templates_the_name() -> None:
    import airflow_hpt

    assert airflow_hpt.TuningJobSensor is TuningJobSensor
    assert "tuning_job_name" in TuningJobSensor.template_fields
