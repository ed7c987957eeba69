"""The members SageMaker adds to Describe answers (airflow_hpt.local.tuning.answers), over HTTP, each
answer still checked member by member against the botocore service model."""

from __future__ import annotations

from typing import Any

from airflow_hpt.local import LocalSageMaker
from tests.local.conftest import quadratic_request, training_jobs, wait_for
from tests.local.test_api import assert_shape


def test_tuning_and_training_jobs_carry_what_sagemaker_adds(backend: LocalSageMaker, client: Any) -> None:
    request = quadratic_request("Added", max_jobs=1, parallel=1)
    del request["HyperParameterTuningJobConfig"]["TrainingJobEarlyStoppingType"]
    client.create_hyper_parameter_tuning_job(**request)
    wait_for(client, "Added")
    job = assert_shape(
        backend.endpoint_url, "DescribeHyperParameterTuningJob", {"HyperParameterTuningJobName": "Added"}
    )
    definition = job["TrainingJobDefinition"]
    assert definition["StaticHyperParameters"]["_tuning_objective_metric"] == "loss"
    assert definition["StaticHyperParameters"]["epochs"] == "3"
    assert job["HyperParameterTuningJobConfig"]["TrainingJobEarlyStoppingType"] == "Off"
    (summary,) = training_jobs(client, "Added")
    assert "_tuning_objective_metric" not in summary["TunedHyperParameters"]
    training = assert_shape(
        backend.endpoint_url, "DescribeTrainingJob", {"TrainingJobName": summary["TrainingJobName"]}
    )
    assert training["HyperParameters"]["_tuning_objective_metric"] == "loss"
    assert training["OutputDataConfig"] == {"S3OutputPath": "s3://models/quadratic", "KmsKeyId": ""}
    assert training["ResourceConfig"] == {
        "InstanceType": "ml.m5.large",
        "InstanceCount": 1,
        "VolumeSizeInGB": 1,
    }
    assert training["StoppingCondition"] == {"MaxRuntimeInSeconds": 60}


def test_training_jobs_get_a_resource_config_from_the_tuning_resource_config(
    backend: LocalSageMaker, client: Any
) -> None:
    request = quadratic_request("Instances", max_jobs=1, parallel=1)
    definition = request["TrainingJobDefinition"]
    del definition["ResourceConfig"]
    definition["HyperParameterTuningResourceConfig"] = {
        "AllocationStrategy": "Prioritized",
        "InstanceConfigs": [
            {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5},
            {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        ],
    }
    definition["OutputDataConfig"]["KmsKeyId"] = "alias/models"
    client.create_hyper_parameter_tuning_job(**request)
    wait_for(client, "Instances")
    (summary,) = training_jobs(client, "Instances")
    training = assert_shape(
        backend.endpoint_url, "DescribeTrainingJob", {"TrainingJobName": summary["TrainingJobName"]}
    )
    assert training["ResourceConfig"] == {
        "InstanceType": "ml.c5.xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 5,
    }
    assert training["OutputDataConfig"]["KmsKeyId"] == "alias/models"
    # the tuning job's definition answers it too (the SDK's HyperparameterTuner.attach reads it)
    tuning = assert_shape(
        backend.endpoint_url, "DescribeHyperParameterTuningJob", {"HyperParameterTuningJobName": "Instances"}
    )
    described_definition = tuning["TrainingJobDefinition"]
    assert described_definition["ResourceConfig"] == training["ResourceConfig"]
    assert (
        described_definition["HyperParameterTuningResourceConfig"]
        == definition["HyperParameterTuningResourceConfig"]
    )

    single = quadratic_request("Single", max_jobs=1, parallel=1)
    del single["TrainingJobDefinition"]["ResourceConfig"]
    single["TrainingJobDefinition"]["HyperParameterTuningResourceConfig"] = {
        "InstanceType": "ml.m5.xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 8,
    }
    client.create_hyper_parameter_tuning_job(**single)
    wait_for(client, "Single")
    (summary,) = training_jobs(client, "Single")
    described = client.describe_training_job(TrainingJobName=summary["TrainingJobName"])
    assert described["ResourceConfig"] == {
        "InstanceType": "ml.m5.xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 8,
    }


def test_an_omitted_max_runtime_is_one_day(backend: LocalSageMaker, client: Any) -> None:
    request = quadratic_request("OneDay", max_jobs=1, parallel=1)
    request["TrainingJobDefinition"]["StoppingCondition"] = {}
    client.create_hyper_parameter_tuning_job(**request)
    job = wait_for(client, "OneDay")
    assert job["HyperParameterTuningJobStatus"] == "Completed"
    assert job["TrainingJobDefinition"]["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
    (summary,) = training_jobs(client, "OneDay")
    training = assert_shape(
        backend.endpoint_url, "DescribeTrainingJob", {"TrainingJobName": summary["TrainingJobName"]}
    )
    assert training["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
