"""The amazon provider's own SageMaker operators and sensors against the local backend, unchanged:
the `aws_default` connection's `endpoint_url` is the only thing pointing them at it.

Run conf: `scripts` (file:// URI of tests/local/scripts) and `bucket` (holding the training data
under `train/`, uploaded over S3 by the test).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook
from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTuningOperator
from airflow.providers.amazon.aws.sensors.sagemaker import SageMakerTrainingSensor
from airflow.sdk import DAG, PokeReturnValue, task

from tests.dags.amazon_provider_configs import s3_training_setup

PARAMS: dict[str, Any] = {"scripts": "file:///nonexistent", "bucket": "training-data"}
START = pendulum.datetime(2026, 1, 1, tz="UTC")


def tuning_config(name: str, epochs: int = 1) -> dict[str, Any]:
    """A CreateHyperParameterTuningJob request over tests/local/scripts/channel_mean.py, with an
    S3 input channel the operator checks before the call (HeadBucket, HeadObject, ListObjectsV2)."""
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "RandomSeed": 7,
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "x", "MinValue": "0", "MaxValue": "1", "ScalingType": "Linear"}
                ]
            },
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {
                "sagemaker_program": "channel_mean.py",
                "sagemaker_submit_directory": "{{ params.scripts }}",
                "epochs": str(epochs),
            },
            "AlgorithmSpecification": {
                "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/channel-mean:latest",
                "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "loss", "Regex": "loss=([0-9.eE+-]+)"}],
            },
            **s3_training_setup(),
        },
    }


with DAG("amazon_provider_tuning_sync", schedule=None, start_date=START, params=PARAMS) as sync_dag:
    SageMakerTuningOperator(
        task_id="tune", config=tuning_config("amazon-sync"), wait_for_completion=True, check_interval=1
    )

with DAG(
    "amazon_provider_tuning_deferrable", schedule=None, start_date=START, params=PARAMS
) as deferrable_dag:
    SageMakerTuningOperator(
        task_id="tune", config=tuning_config("amazon-deferred"), deferrable=True, check_interval=1
    )


@task.sensor(poke_interval=0.5, timeout=120, mode="poke")
def first_training_job(tuning_job_name: str) -> PokeReturnValue:
    """The name of the tuning job's first training job, once it has one."""
    summaries = SageMakerHook().conn.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuning_job_name, SortBy="CreationTime", SortOrder="Ascending"
    )["TrainingJobSummaries"]
    return PokeReturnValue(
        is_done=bool(summaries), xcom_value=summaries[0]["TrainingJobName"] if summaries else None
    )


with DAG(
    "amazon_provider_training_sensor", schedule=None, start_date=START, params=PARAMS
) as training_sensor_dag:
    created = SageMakerTuningOperator(
        task_id="tune", config=tuning_config("amazon-sensed", epochs=20), wait_for_completion=False
    )
    training_job = first_training_job("amazon-sensed")
    created >> training_job
    SageMakerTrainingSensor(task_id="watch", job_name=training_job, print_log=True, poke_interval=1)
