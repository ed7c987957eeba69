"""Every file in dags/ imports cleanly in a DagBag, and the example DAGs are wired as documented."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_hpt.request import load_request_template, render_request, validate_request
from tests.conftest import DAGS_FOLDER, load_dag_module

EXAMPLES = DAGS_FOLDER / "examples"
DAG_FILES = sorted(path.name for path in EXAMPLES.glob("*.py"))


@pytest.fixture(scope="module")
def bag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    # safe_mode off: every .py file is imported, not only those that look like DAG files
    return DagBag(dag_folder=EXAMPLES, safe_mode=False)


def test_every_dag_file_imports_without_errors(bag: Any) -> None:
    assert bag.import_errors == {}
    assert {"retrain_weekly", "deploy_on_new_model"} <= set(bag.dag_ids)
    # each file of dags/ defines a DAG (the training script lives in dags/training/)
    assert {Path(dag.fileloc).name for dag in bag.dags.values()} == set(DAG_FILES)


@pytest.mark.parametrize("dag_id", ["retrain_weekly", "deploy_on_new_model"])
def test_dag_is_documented_and_does_not_catch_up(bag: Any, dag_id: str) -> None:
    dag = bag.dags[dag_id]
    assert dag.doc_md
    assert "airflow-hpt" in dag.tags
    assert dag.catchup is False


def test_retrain_weekly_shape() -> None:
    module = load_dag_module("examples/retrain_weekly.py")
    dag = module.dag
    assert dag.schedule == "@weekly"
    # runs' logical dates are the times they fire (the demo picks its weeks by this)
    assert type(dag.timetable).__name__ == "CronTriggerTimetable"
    assert dag.task_dict["tune"].downstream_task_ids == {"gate", "deploy"}
    assert dag.task_dict["gate"].downstream_task_ids == {"deploy"}
    assert dag.task_dict["tune"].outlets == [module.BEST_MODEL]
    assert dag.task_dict["tune"].deferrable is True
    assert dag.task_dict["tune"].warm_start is not None
    # the training code is found next to the DAG file wherever the dags folder is
    assert Path(dag.params["submit_directory"]) == EXAMPLES / "training"
    assert (Path(dag.params["submit_directory"]) / "train_sklearn.py").is_file()


def test_retrain_weekly_params_are_checked_against_their_schema() -> None:
    from airflow.sdk.exceptions import ParamValidationError

    dag = load_dag_module("examples/retrain_weekly.py").dag
    dag.params.validate()
    for key, bad in (
        ("max_jobs", 0),
        ("strategy", "Genetic"),
        ("output_uri", "/tmp/out"),
        ("min_accuracy", 2),
    ):
        with pytest.raises(ParamValidationError):
            dag.params.get_param(key).resolve(bad)


def test_retrain_weekly_request_renders_and_validates_with_the_defaults() -> None:
    dag = load_dag_module("examples/retrain_weekly.py").dag
    template = load_request_template("templates/retrain_request.json.j2", [str(EXAMPLES)])
    context = {"params": dict(dag.params.dump()), "ds_nodash": "20260104"}
    request = validate_request(render_request(template, context), require_name=False)
    config = request["HyperParameterTuningJobConfig"]
    assert config["ResourceLimits"] == {
        "MaxNumberOfTrainingJobs": 8,
        "MaxParallelTrainingJobs": 2,
        "MaxRuntimeInSeconds": 3600,
    }
    statics = request["TrainingJobDefinition"]["StaticHyperParameters"]
    assert statics["sagemaker_program"] == "train_sklearn.py"
    assert statics["sagemaker_submit_directory"] == str(EXAMPLES / "training")
    assert request["TrainingJobDefinition"]["OutputDataConfig"]["S3OutputPath"].endswith("/20260104/")


def test_deploy_on_new_model_is_scheduled_on_the_best_model_asset() -> None:
    producer = load_dag_module("examples/retrain_weekly.py")
    consumer = load_dag_module("examples/deploy_on_new_model.py")
    assert consumer.BEST_MODEL == producer.BEST_MODEL
    assert consumer.dag.schedule == [producer.BEST_MODEL]
    assert consumer.dag.task_dict["new_model"].inlets == [producer.BEST_MODEL]


def test_deploy_on_new_model_takes_the_triggering_event_else_the_latest() -> None:
    module = load_dag_module("examples/deploy_on_new_model.py")
    extra = {
        "tuning_job_name": "tune-1",
        "best_training_job_name": "tune-1-003-abcdef12",
        "objective_metric": "validation:accuracy",
        "objective_value": 0.97,
    }
    older = SimpleNamespace(extra={**extra, "best_training_job_name": "tune-0-001-abcdef12"})
    triggering = {module.BEST_MODEL: [SimpleNamespace(extra=extra)]}
    assert module.announced_model(triggering, [older]) == extra
    assert module.announced_model({}, [older, SimpleNamespace(extra=extra)]) == extra
    with pytest.raises(ValueError, match="run retrain_weekly first"):
        module.announced_model({}, [])
