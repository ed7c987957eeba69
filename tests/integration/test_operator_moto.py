"""The operator against moto's HTTP server: rendering, validation, tags, idempotent create."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from airflow_hpt.exceptions import TuningJobConflict
from airflow_hpt.naming import TAG_DAG_ID, TAG_FINGERPRINT, TAG_MAP_INDEX, TAG_RUN_ID, TAG_TASK_ID
from tests.conftest import load_dag_module
from tests.integration.airflow_state import task_states, xcom

pytestmark = pytest.mark.usefixtures("airflow_db")


def _jobs(client: Any) -> list[dict[str, Any]]:
    return client.list_hyper_parameter_tuning_jobs(MaxResults=100)["HyperParameterTuningJobSummaries"]


def _tags(client: Any, arn: str) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in client.list_tags(ResourceArn=arn)["Tags"]}


def test_template_dag_renders_coerces_tags_and_returns_result(moto_sagemaker: Any) -> None:
    dag = load_dag_module("testing/hpt_moto.py").template_dag
    note = '"}, "Injected": {"x": 1}, "y": "{{ 7 * 7 }}'
    dag_run = dag.test(run_conf={"max_jobs": "8", "note": note})
    assert task_states(dag_run) == {"tune": "success"}

    result = xcom(dag_run, "tune")
    name = result["tuning_job_name"]
    assert name.startswith("hpt-moto-template-")
    described = moto_sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    config = described["HyperParameterTuningJobConfig"]
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 8, "MaxParallelTrainingJobs": 2}
    assert config["ParameterRanges"]["ContinuousParameterRanges"][0]["MinValue"] == "0.01"
    statics = described["TrainingJobDefinition"]["StaticHyperParameters"]
    assert statics == {"objective": "binary:logistic", "num_round": "50", "note": note}
    assert "Injected" not in described["TrainingJobDefinition"]

    tags = _tags(moto_sagemaker, result["tuning_job_arn"])
    assert tags["team"] == "ml"
    assert tags[TAG_DAG_ID] == "hpt_moto_template"
    assert tags[TAG_TASK_ID] == "tune"
    assert tags[TAG_RUN_ID] == dag_run.run_id
    assert len(tags[TAG_FINGERPRINT]) == 16

    assert result["status"] == "Completed"
    assert result["best_training_job_name"] == "FakeTrainingJobName"
    # moto has no ListTrainingJobsForHyperParameterTuningJob: no figures, and no failure for it
    assert result["consumption"] is None
    assert xcom(dag_run, "tune", "tuning_job_arn") == result["tuning_job_arn"]
    assert xcom(dag_run, "tune", "best_training_job_arn") == result["best_training_job_arn"]
    link = xcom(dag_run, "tune", "airflow_hpt_tuning_job")
    assert link["job_name"] == name and link["region_name"] == "us-east-1"
    # on an endpoint_url the console has nothing to show: the link opens the "Tuning job" view
    assert (
        link["view_url"]
        == f"/hpt/tuning/hpt_moto_template/{quote(dag_run.run_id, safe='')}/tune?map_index=-1"
    )


def test_native_rendering_is_coerced_to_the_service_model_types(moto_sagemaker: Any) -> None:
    dag = load_dag_module("testing/hpt_moto.py").native_dag
    dag_run = dag.test(run_conf={"max_jobs": 5, "eta_min": 0.02, "rounds": 7, "note": "{'a': [1, 2]}"})
    assert task_states(dag_run) == {"tune": "success"}
    name = xcom(dag_run, "tune")["tuning_job_name"]
    described = moto_sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert described["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 5
    assert (
        described["HyperParameterTuningJobConfig"]["ParameterRanges"]["ContinuousParameterRanges"][0][
            "MinValue"
        ]
        == "0.02"
    )
    statics = described["TrainingJobDefinition"]["StaticHyperParameters"]
    assert statics["num_round"] == "7"
    assert statics["note"] == "{'a': [1, 2]}", "a Python literal in a param stays a string leaf"


def test_mapped_tasks_render_their_request_and_get_one_job_each(moto_sagemaker: Any) -> None:
    dag = load_dag_module("testing/hpt_moto.py").mapped_dag
    dag_run = dag.test(run_conf={"max_jobs": "7"})
    mine = [
        job
        for job in _jobs(moto_sagemaker)
        if _tags(moto_sagemaker, job["HyperParameterTuningJobArn"]).get(TAG_RUN_ID) == dag_run.run_id
    ]
    assert len(mine) == 2
    indexes = {_tags(moto_sagemaker, job["HyperParameterTuningJobArn"])[TAG_MAP_INDEX] for job in mine}
    assert indexes == {"0", "1"}
    for job in mine:
        described = moto_sagemaker.describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=job["HyperParameterTuningJobName"]
        )
        assert described["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 7


def test_invalid_params_fail_before_any_call(moto_sagemaker: Any) -> None:
    before = {job["HyperParameterTuningJobName"] for job in _jobs(moto_sagemaker)}
    dag = load_dag_module("testing/hpt_moto.py").template_dag
    dag_run = dag.test(run_conf={"max_jobs": "1", "max_parallel": 3, "strategy": "Sideways"})
    assert task_states(dag_run) == {"tune": "failed"}
    assert {job["HyperParameterTuningJobName"] for job in _jobs(moto_sagemaker)} == before


def test_retry_after_crash_reattaches_to_the_same_job(moto_sagemaker: Any) -> None:
    dag = load_dag_module("testing/hpt_moto.py").crash_dag
    dag_run = dag.test()
    assert task_states(dag_run) == {"tune": "success"}
    result = xcom(dag_run, "tune")
    mine = [
        job
        for job in _jobs(moto_sagemaker)
        if job["HyperParameterTuningJobName"] == result["tuning_job_name"]
    ]
    assert len(mine) == 1
    assert result["status"] == "Completed"


def test_name_taken_by_a_foreign_job_is_a_clear_conflict(moto_sagemaker: Any) -> None:
    from airflow_hpt.hooks.tuning import TuningJobHook

    hook = TuningJobHook(aws_conn_id="aws_default")
    request = _valid_request("foreign-job")
    # tagged by its owner, as most jobs are (moto's ListTags fails on an untagged job)
    moto_sagemaker.create_hyper_parameter_tuning_job(**request, Tags=[{"Key": "team", "Value": "other"}])
    with pytest.raises(TuningJobConflict, match=r"foreign-job.*not created by this task"):
        hook.create_or_reattach(
            {**request, "Tags": [{"Key": TAG_FINGERPRINT, "Value": "0123456789abcdef"}]}, "0123456789abcdef"
        )


def _valid_request(name: str) -> dict[str, Any]:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 1},
            "ParameterRanges": {
                "ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "1"}]
            },
        },
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {
                "TrainingImage": "img",
                "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "loss", "Regex": "loss=(.*)"}],
            },
            "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
            "OutputDataConfig": {"S3OutputPath": "s3://models/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        },
    }
