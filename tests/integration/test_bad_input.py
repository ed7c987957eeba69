"""Bad input, at the operator level through `dag.test()`: one clear error each, nothing created.

Every task runs through Airflow's real task supervisor (a forked task process, the supervisor's
secrets masking, a JSON task log file under AIRFLOW_HOME/logs), as a worker would run it: plain
`dag.test()` runs tasks inside the test process and writes no task log at all. The error is read
back from that log file, where the UI shows it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.models.dagrun import DagRun

from tests.conftest import DAGS_FOLDER, load_dag_module
from tests.integration.airflow_state import task_states

pytestmark = pytest.mark.usefixtures("airflow_db")

LOGS = Path(os.environ["AIRFLOW_HOME"]) / "logs"
TEMPLATES = DAGS_FOLDER / "testing" / "templates"


# --------------------------------------------------------------------------------------------------
# Running tasks through the real supervisor, and reading their logs


def _run_supervised(ti: Any, task: Any, client: Any = None) -> Any:
    """Stands in for `run_task_in_process` in `dag.test()`: the task runs in its own process under
    `supervise_task`, which writes the task log file (masked) as a worker's supervisor does."""
    from airflow.executors.workloads import BundleInfo
    from airflow.models.taskinstance import TaskInstance
    from airflow.sdk.execution_time.supervisor import InProcessTestSupervisor, supervise_task
    from airflow.utils.session import create_session

    supervise_task(
        ti=ti,
        bundle_info=BundleInfo(name="dags-folder"),
        dag_rel_path=Path(task.dag.fileloc).relative_to(DAGS_FOLDER),
        token="",
        client=client or InProcessTestSupervisor._api_client(task.dag),
        log_path=str(task_log_path(ti.dag_id, ti.run_id, ti.task_id, ti.try_number)),
    )
    with create_session() as session:
        state = session.get(TaskInstance, ti.id).state
    # what dag.test() reads of run_task_in_process's result (deferral is not supported here)
    return SimpleNamespace(ti=SimpleNamespace(state=state, task=task), state=state, msg=None, error=None)


def run_supervised(dag: Any, monkeypatch: pytest.MonkeyPatch, **test_kwargs: Any) -> Any:
    """`dag.test()`, each task run by the real task supervisor with a task log file."""
    import airflow.sdk.execution_time.supervisor as supervisor

    with monkeypatch.context() as patch:
        patch.setattr(supervisor, "run_task_in_process", _run_supervised)
        return dag.test(**test_kwargs)


def task_log_path(dag_id: str, run_id: str, task_id: str, try_number: int) -> Path:
    return LOGS / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}" / f"attempt={try_number}.log"


def task_log(dag_run: Any, task_id: str, try_number: int = 1) -> list[dict[str, Any]]:
    """The task's log, one dict per line (the supervisor writes JSON lines)."""
    path = task_log_path(dag_run.dag_id, dag_run.run_id, task_id, try_number)
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@dataclass(frozen=True)
class TaskError:
    """The exception the task failed with, as its log records it."""

    type: str
    message: str
    failures: int  # "Task failed with exception" lines: one clear error means exactly one


def task_error(dag_run: Any, task_id: str) -> TaskError:
    failures = [
        line for line in task_log(dag_run, task_id) if line.get("event") == "Task failed with exception"
    ]
    assert failures, f"task {task_id} logged no failure"
    detail = failures[-1]["error_detail"][0]  # the exception raised; its causes follow
    return TaskError(type=detail["exc_type"], message=detail["exc_value"], failures=len(failures))


# --------------------------------------------------------------------------------------------------
# The tests


def _jobs(client: Any) -> set[str]:
    summaries = client.list_hyper_parameter_tuning_jobs(MaxResults=100)["HyperParameterTuningJobSummaries"]
    return {job["HyperParameterTuningJobName"] for job in summaries}


def _unquoted_jinja_position(template: str) -> str:
    """line:column (1-based) where JSON and YAML parsers stop: the second brace of `{{ params.max_jobs }}`."""
    lines = (TEMPLATES / template).read_text().splitlines()
    line = next(i for i, text in enumerate(lines) if "{{ params.max_jobs }}" in text and '"{{' not in text)
    return f"{line + 1}:{lines[line].index('{{') + 2}"


CASES: dict[str, tuple[str, list[str]]] = {
    "missing_file": (
        "TemplateError",
        [
            "request template 'templates/bad_missing.json.j2' not found",
            f"(searched: {DAGS_FOLDER / 'testing'})",
        ],
    ),
    "invalid_json": (
        "TemplateError",
        [
            f"{TEMPLATES / 'bad_json.json.j2'}:{_unquoted_jinja_position('bad_json.json.j2')}: invalid JSON: "
            "Expecting property name enclosed in double quotes",
            "Jinja expressions must sit inside quoted strings",
        ],
    ),
    "invalid_yaml": (
        "TemplateError",
        [
            f"{TEMPLATES / 'bad_yaml.yaml.j2'}:{_unquoted_jinja_position('bad_yaml.yaml.j2')}: invalid YAML: "
            "found unhashable key",
            "Jinja expressions must sit inside quoted strings",
        ],
    ),
    "jinja_syntax": (
        "TemplateError",
        [
            "TrainingJobDefinition.StaticHyperParameters.note: Jinja syntax error: unexpected '}'",
            "(template line 2: 'for {{ params.note | upper }')",
        ],
    ),
    "undefined_variable": (
        "TemplateError",
        [
            "TrainingJobDefinition.InputDataConfig[0].DataSource.S3DataSource.S3Uri: undefined variable: "
            "'dict object' has no attribute 'data_versoin'",
        ],
    ),
    "invalid_request": (
        "InvalidTuningRequest",
        [
            "Invalid tuning request (2 problem(s)):",
            "  - HyperParameterTuningJobConfig.Strategy: must be one of: Bayesian, Random, Hyperband, Grid "
            "(got 'Sideways')",
            "  - TrainingJobDefinition.ResourceConfig.InstanceTyp: is not a known member of ResourceConfig "
            "(did you mean InstanceType?)",
        ],
    ),
    "unknown_connection": (
        "UnknownConnection",
        [
            "The AWS connection 'hpt_no_such_connection' (aws_conn_id) is not defined; no tuning job was created"
        ],
    ),
}


@dataclass(frozen=True)
class BadRun:
    dag_run: Any
    jobs_before: set[str]
    jobs_after: set[str]


@pytest.fixture(scope="module")
def bad_input_run(moto_endpoint: str, airflow_db: Path) -> Iterator[BadRun]:
    """The `hpt_bad_input` DAG, run once against moto: every task is a bad input case."""
    import boto3

    client = boto3.client(
        "sagemaker",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    connection = {
        "conn_type": "aws",
        "login": "testing",
        "password": "testing",
        "extra": {"endpoint_url": moto_endpoint, "region_name": "us-east-1"},
    }
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
        monkeypatch.delenv("AIRFLOW_CONN_HPT_NO_SUCH_CONNECTION", raising=False)
        before = _jobs(client)
        dag = load_dag_module("testing/hpt_bad_input.py").bad_input_dag
        assert set(dag.task_ids) == set(CASES), "every task of the DAG has its case here"
        dag_run = run_supervised(dag, monkeypatch)
        yield BadRun(dag_run, before, _jobs(client))


@pytest.mark.parametrize("task_id", list(CASES))
def test_bad_input_fails_with_one_clear_error_and_creates_nothing(
    bad_input_run: BadRun, task_id: str
) -> None:
    expected_type, fragments = CASES[task_id]
    assert task_states(bad_input_run.dag_run)[task_id] == "failed"
    error = task_error(bad_input_run.dag_run, task_id)
    assert error.failures == 1
    assert error.type == expected_type, error
    for fragment in fragments:
        assert fragment in error.message, f"{fragment!r} not in:\n{error.message}"
    events = [str(line.get("event")) for line in task_log(bad_input_run.dag_run, task_id)]
    # it stopped before any SageMaker call: no retries of a doomed call, no job
    assert not [event for event in events if "SageMaker" in event or "tuning job" in event.lower()]
    assert bad_input_run.jobs_after == bad_input_run.jobs_before


def test_rules_without_evidence_are_warnings_in_the_task_log(bad_input_run: BadRun) -> None:
    """The same bad request also breaks two rules no source shows SageMaker refusing: they are
    warnings in the task log, not part of the refusal (docs/request.md, "Evidence")."""
    error = task_error(bad_input_run.dag_run, "invalid_request")
    events = [str(line.get("event")) for line in task_log(bad_input_run.dag_run, "invalid_request")]
    for warning in (
        "Request warning: HyperParameterTuningJobConfig.ResourceLimits.MaxParallelTrainingJobs: must be at "
        "most MaxNumberOfTrainingJobs (6)",
        "Request warning: HyperParameterTuningJobConfig.ParameterRanges.ContinuousParameterRanges[0].MinValue: "
        "must be greater than 0 with Logarithmic scaling",
    ):
        assert warning in events, events
        assert warning.removeprefix("Request warning: ") not in error.message


def test_param_failing_its_schema_is_refused_before_the_run(
    moto_sagemaker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Airflow validates run conf against the `Param` schema when it creates the run: no task runs."""
    from airflow.sdk.exceptions import ParamValidationError

    before = _jobs(moto_sagemaker)
    dag = load_dag_module("testing/hpt_bad_input.py").bad_param_dag
    with pytest.raises(ParamValidationError) as raised:
        run_supervised(dag, monkeypatch, run_conf={"max_jobs": 500})
    assert str(raised.value).startswith(
        "Invalid input for param max_jobs: 500 is greater than the maximum of 50"
    )
    assert "Failed validating 'maximum' in schema" in str(raised.value)
    # refused when the run is created: no run, so no task and no job
    assert not DagRun.find(dag_id=dag.dag_id)
    assert _jobs(moto_sagemaker) == before
