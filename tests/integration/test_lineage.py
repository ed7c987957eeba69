"""OpenLineage events of real DAG runs, written by the OpenLineage provider's own file transport.

``dag.test()`` runs the provider's listener in each task process, as a worker does: the events below
are the ones a lineage backend would receive. Nothing leaves the machine (the file transport).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_hpt.lineage import RUN_FACET_KEY
from airflow_hpt.local import LocalSageMaker
from airflow_hpt.local.s3.paths import LocalS3
from tests.conftest import OPENLINEAGE_EVENTS, load_dag_module
from tests.integration.airflow_state import task_states, xcom
from tests.lineage_schema import facet_errors
from tests.local.conftest import SCRIPTS

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.slow]
CHANNELS = [
    {"namespace": "s3://lineage-data", "name": "quadratic/train/"},
    {"namespace": "s3://lineage-validation", "name": "quadratic/holdout/"},
]


@pytest.fixture
def events_file() -> Path:
    """The session's OpenLineage file transport (tests/conftest.py): events are told apart by job name."""
    return OPENLINEAGE_EVENTS


@pytest.fixture
def backend(tmp_path: Path, aws_conn_env: Any) -> Iterator[LocalSageMaker]:
    with LocalSageMaker(tmp_path / "sagemaker") as started:
        module = load_dag_module("testing/hpt_lineage.py")
        data = tmp_path / "rows.csv"
        data.write_text("1,2\n3,4\n")
        for uri in (module.TRAIN_URI, module.VALIDATION_URI):
            LocalS3(started.home).upload(data, uri)
        aws_conn_env(started.endpoint_url)
        yield started


def _events(path: Path, job_name: str) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [event for event in events if event["job"]["name"] == job_name]


def _datasets(datasets: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"namespace": d["namespace"], "name": d["name"]} for d in datasets]


def _model_dataset(model_artifacts: str) -> dict[str, str]:
    bucket, _, key = model_artifacts.removeprefix("s3://").partition("/")
    return {"namespace": f"s3://{bucket}", "name": key}


@pytest.mark.usefixtures("backend")
def test_tuning_tasks_emit_datasets_and_the_tuning_run_facet(events_file: Path) -> None:
    dag_run = load_dag_module("testing/hpt_lineage.py").dag.test(run_conf={"scripts": SCRIPTS.as_uri()})
    assert task_states(dag_run) == {"tune": "success", "create": "success", "wait": "success"}

    for task_id in ("tune", "wait"):
        result = xcom(dag_run, task_id)
        events = _events(events_file, f"hpt_lineage.{task_id}")
        starts = [event for event in events if event["eventType"] == "START"]
        (complete,) = [event for event in events if event["eventType"] == "COMPLETE"]
        assert starts, f"{task_id}: no START event"
        for start in starts:
            assert _datasets(start["inputs"]) == CHANNELS
            assert start["outputs"] == []
        assert _datasets(complete["inputs"]) == CHANNELS
        assert _datasets(complete["outputs"]) == [_model_dataset(result["model_artifacts"])]
        facet = complete["run"]["facets"][RUN_FACET_KEY]
        assert facet["tuningJobArn"] == result["tuning_job_arn"]
        assert facet["tuningJobName"] == result["tuning_job_name"]
        assert facet["status"] == "Completed"
        assert facet["strategy"] == "Random"
        assert facet["objectiveMetric"] == "loss"
        assert facet["objectiveType"] == "Minimize"
        assert facet["bestObjectiveValue"] == result["objective_value"]
        assert facet["bestTrainingJobName"] == result["best_training_job_name"]
        assert facet_errors(facet) == []

    # a create that does not wait: the inputs and the job, no model yet
    created = xcom(dag_run, "create")
    (complete,) = [e for e in _events(events_file, "hpt_lineage.create") if e["eventType"] == "COMPLETE"]
    assert _datasets(complete["inputs"]) == CHANNELS
    assert complete["outputs"] == []
    facet = complete["run"]["facets"][RUN_FACET_KEY]
    assert facet["tuningJobArn"] == created["tuning_job_arn"]
    assert "bestObjectiveValue" not in facet

    # every facet of every event of the run (START ones included) passes the schema it names
    for task_id in ("tune", "create", "wait"):
        for event in _events(events_file, f"hpt_lineage.{task_id}"):
            if RUN_FACET_KEY in event["run"].get("facets", {}):
                assert facet_errors(event["run"]["facets"][RUN_FACET_KEY]) == [], (
                    task_id,
                    event["eventType"],
                )
