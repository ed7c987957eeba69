"""The lineage of a tuning job as plain data (airflow_hpt.lineage: no Airflow, no boto3)."""

from __future__ import annotations

import json
from typing import Any

from airflow_hpt.lineage import S3Dataset, input_datasets, run_facet, s3_dataset, tuning_lineage


def _channel(uri: str) -> dict[str, Any]:
    return {"ChannelName": "c", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}}}


def test_s3_uris_become_bucket_namespaces_and_key_names() -> None:
    assert s3_dataset("s3://data/digits/train/") == S3Dataset("s3://data", "digits/train/")
    assert s3_dataset("s3://data/manifest.json") == S3Dataset("s3://data", "manifest.json")
    assert s3_dataset("s3://data") == S3Dataset("s3://data", "/")
    assert s3_dataset("file:///tmp/data") is None
    assert s3_dataset("s3:///no-bucket") is None


def test_inputs_of_every_definition_once_in_order() -> None:
    request = {
        "TrainingJobDefinitions": [
            {"InputDataConfig": [_channel("s3://a/train/"), _channel("s3://b/valid/")]},
            {"InputDataConfig": [_channel("s3://a/train/"), _channel("file:///local/")]},
            {},
        ]
    }
    assert input_datasets(request) == [S3Dataset("s3://a", "train/"), S3Dataset("s3://b", "valid/")]


def test_run_facet_from_a_describe_of_a_warm_started_multi_algorithm_job() -> None:
    describe = {
        "HyperParameterTuningJobName": "job",
        "HyperParameterTuningJobArn": "arn:aws:sagemaker:us-east-1:1:hyper-parameter-tuning-job/job",
        "HyperParameterTuningJobStatus": "InProgress",
        "HyperParameterTuningJobConfig": {"Strategy": "Bayesian"},
        "TrainingJobDefinitions": [{"TuningObjective": {"Type": "Maximize", "MetricName": "acc"}}],
        "WarmStartConfig": {"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent"}]},
        "BestTrainingJob": {
            "TrainingJobName": "job-001-abc",
            "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "acc", "Value": 0.5},
        },
    }
    assert run_facet(describe) == {
        "tuningJobName": "job",
        "tuningJobArn": describe["HyperParameterTuningJobArn"],
        "status": "InProgress",
        "strategy": "Bayesian",
        "objectiveMetric": "acc",
        "objectiveType": "Maximize",
        "bestObjectiveValue": 0.5,
        "bestTrainingJobName": "job-001-abc",
        "warmStartParents": ["parent"],
    }


def test_the_result_gives_the_outcome_and_the_model_output() -> None:
    request = {"HyperParameterTuningJobConfig": {"Strategy": "Random"}, "TrainingJobDefinition": {}}
    result = {
        "tuning_job_name": "job",
        "tuning_job_arn": "arn:job",
        "status": "Completed",
        "objective_metric": "loss",
        "objective_type": "Minimize",
        "objective_value": 0.25,
        "model_artifacts": "s3://models/out/job-001-abc/output/model.tar.gz",
    }
    lineage = tuning_lineage(request, result)
    assert lineage.inputs == []
    assert lineage.outputs == [S3Dataset("s3://models", "out/job-001-abc/output/model.tar.gz")]
    assert lineage.run["bestObjectiveValue"] == 0.25
    assert lineage.run["strategy"] == "Random"
    # nothing known, nothing claimed
    assert tuning_lineage({}).run == {}
    assert tuning_lineage(request, {"model_artifacts": None}).outputs == []


def test_the_emitted_facet_passes_the_schema_its_schema_url_names() -> None:
    from openlineage.client.serde import Serde

    from airflow_hpt.openlineage import AirflowHptTuningJobRunFacet
    from tests.lineage_schema import facet_errors

    facet = AirflowHptTuningJobRunFacet(
        tuningJobName="job",
        tuningJobArn="arn:aws:sagemaker:us-east-1:1:hyper-parameter-tuning-job/job",
        status="Completed",
        strategy="Bayesian",
        objectiveMetric="acc",
        objectiveType="Maximize",
        bestObjectiveValue=0.9,
        bestTrainingJobName="job-001-abcdef01",
        warmStartParents=["parent"],
    )
    emitted = json.loads(Serde.to_json(facet))
    assert facet_errors(emitted) == []
    # the schema refuses what the facet must not carry, so the check above can fail
    assert facet_errors({**emitted, "strategy": "Sideways"})
    assert facet_errors({**emitted, "unknownField": 1})
    assert facet_errors({key: value for key, value in emitted.items() if key != "_producer"})
