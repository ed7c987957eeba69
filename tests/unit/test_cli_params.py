"""`airflow-hpt validate --dag / --params-file / --logical-date`: the params and context a template renders with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_hpt.cli import main

DAGS = Path(__file__).resolve().parents[2] / "dags"
TEMPLATES = DAGS / "templates"
SHIPPED = [
    ("retrain_request.json.j2", "retrain_weekly.py", "retrain_weekly"),
    ("tune_and_deploy_request.json.j2", "tune_and_deploy.py", "tune_and_deploy"),
    ("quickstart_request.json.j2", "quickstart.py", "quickstart"),
]


@pytest.mark.parametrize(("template", "dag_file", "dag_id"), SHIPPED)
def test_every_shipped_template_validates_with_its_dags_param_defaults(
    template: str, dag_file: str, dag_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["validate", str(TEMPLATES / template), "--dag", str(DAGS / dag_file), "--allow-missing-name"]
    assert main([*argv, "--show"]) == 0
    captured = capsys.readouterr()
    json.loads(captured.out)  # stdout is the request alone, whatever the DagBag logged
    assert f"params from DAG {dag_id}" in captured.err
    assert f"dag.dag_id = {dag_id}" in captured.err
    assert "task.task_id = tune" in captured.err


def test_without_the_dag_the_shipped_template_names_its_undefined_params(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["validate", str(TEMPLATES / "retrain_request.json.j2"), "--param", "max_jobs=8"]) == 1
    assert "strategy" in capsys.readouterr().err


def test_a_param_overrides_the_dags_default_and_the_logical_date_fills_the_stand_ins(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [
        "validate",
        str(TEMPLATES / "retrain_request.json.j2"),
        "--dag",
        str(DAGS / "retrain_weekly.py"),
        "--param",
        "max_jobs=20",
        "--logical-date",
        "2026-11-08",
        "--allow-missing-name",
        "--show",
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    request = json.loads(captured.out)
    assert request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 20
    # the DAG's other defaults stay
    assert request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxParallelTrainingJobs"] == 2
    output = request["TrainingJobDefinition"]["OutputDataConfig"]["S3OutputPath"]
    assert output == "s3://airflow-hpt-demo/models/retrain_weekly/20261108/"
    assert "ds = 2026-11-08" in captured.err
    assert "run_id = manual__2026-11-08T00:00:00+00:00" in captured.err


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_a_params_file_gives_the_params(
    suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = {"max_jobs": 3, "data_uri": "s3://bucket/train/", "training_code": "s3://bucket/code.tar.gz"}
    params_file = tmp_path / f"params{suffix}"
    params_file.write_text(json.dumps(params))  # JSON is YAML too
    template = str(TEMPLATES / "quickstart_request.json.j2")
    argv = ["validate", template, "--params-file", str(params_file), "--allow-missing-name", "--show"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    request = json.loads(captured.out)
    assert request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 3
    assert request["TrainingJobDefinition"]["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == (
        "s3://bucket/train/"
    )
    assert f"params from params file {params_file}" in captured.err


def test_a_params_file_that_is_not_a_mapping_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params_file = tmp_path / "params.yaml"
    params_file.write_text("- max_jobs\n")
    argv = ["validate", str(TEMPLATES / "quickstart_request.json.j2"), "--params-file", str(params_file)]
    assert main(argv) == 2
    assert "must hold a mapping" in capsys.readouterr().err


def test_a_dag_file_whose_dags_do_not_use_the_template_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dag_file = tmp_path / "two_dags.py"
    dag_file.write_text(
        "from airflow.sdk import DAG\n"
        "from airflow.providers.standard.operators.empty import EmptyOperator\n"
        "for name in ('first', 'second'):\n"
        "    with DAG(name, schedule=None, params={'max_jobs': 1}):\n"
        "        EmptyOperator(task_id='nothing')\n"
    )
    argv = ["validate", str(TEMPLATES / "quickstart_request.json.j2"), "--dag", str(dag_file)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "none of its DAGs (first, second) has a task whose request is" in err


def test_a_dag_file_airflow_cannot_import_is_refused_with_its_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dag_file = tmp_path / "broken.py"
    dag_file.write_text("import no_such_module_here\n")
    argv = ["validate", str(TEMPLATES / "quickstart_request.json.j2"), "--dag", str(dag_file)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Airflow cannot import it" in err
    assert "no_such_module_here" in err
