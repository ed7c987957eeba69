"""The amazon provider's `SageMakerTrainingOperator` and `SageMakerTransformOperator`, unchanged,
against the local backend: train a digits classifier on data uploaded over S3, then batch-score
held-out rows with the model it produced (the transform operator creates the model first).

Run conf: `training` (file:// URI of dags/training), `scripts` (of tests/local/scripts), `bucket`
(holding `train/` and `score/`, uploaded over S3 by the test), `suffix` (names the jobs).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.providers.amazon.aws.operators.sagemaker import (
    SageMakerTrainingOperator,
    SageMakerTransformOperator,
)
from airflow.sdk import DAG

from tests.dags.amazon_provider_configs import ROLE_ARN, s3_training_setup

PARAMS: dict[str, Any] = {
    "training": "file:///nonexistent",
    "scripts": "file:///nonexistent",
    "bucket": "digits",
    "suffix": "sync",
}
START = pendulum.datetime(2026, 1, 1, tz="UTC")
ARTIFACT = "{{ ti.xcom_pull(task_ids='train')['Training']['ModelArtifacts']['S3ModelArtifacts'] }}"

TRAINING = {
    "TrainingJobName": "digits-{{ params.suffix }}",
    "HyperParameters": {
        "sagemaker_program": "train_sklearn.py",
        "sagemaker_submit_directory": "{{ params.training }}",
        "epochs": "3",
    },
    "AlgorithmSpecification": {
        "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn:latest",
        "TrainingInputMode": "File",
        "MetricDefinitions": [{"Name": "validation:accuracy", "Regex": "validation:accuracy=([0-9.]+)"}],
    },
    **s3_training_setup(),
}

TRANSFORM = {
    "Model": {
        "ModelName": "digits-{{ params.suffix }}",
        "PrimaryContainer": {
            "Image": "local/sklearn:latest",
            "ModelDataUrl": ARTIFACT,
            "Environment": {
                "SAGEMAKER_PROGRAM": "serve_sklearn.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": "{{ params.scripts }}",
            },
        },
        "ExecutionRoleArn": ROLE_ARN,
    },
    "Transform": {
        "TransformJobName": "score-{{ params.suffix }}",
        "ModelName": "digits-{{ params.suffix }}",
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://{{ params.bucket }}/score/"}
            },
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        "BatchStrategy": "MultiRecord",
        "TransformOutput": {
            "S3OutputPath": "s3://{{ params.bucket }}/scored/{{ params.suffix }}",
            "Accept": "text/csv",
            "AssembleWith": "Line",
        },
        "TransformResources": {"InstanceType": "ml.m5.large", "InstanceCount": 1},
    },
}

with DAG("amazon_provider_jobs_sync", schedule=None, start_date=START, params=PARAMS) as sync_dag:
    train = SageMakerTrainingOperator(task_id="train", config=TRAINING, check_interval=1)
    score = SageMakerTransformOperator(task_id="score", config=TRANSFORM, check_interval=1)
    train >> score

with DAG("amazon_provider_jobs_deferrable", schedule=None, start_date=START, params=PARAMS) as deferrable_dag:
    train = SageMakerTrainingOperator(task_id="train", config=TRAINING, check_interval=1, deferrable=True)
    score = SageMakerTransformOperator(task_id="score", config=TRANSFORM, check_interval=1, deferrable=True)
    train >> score
