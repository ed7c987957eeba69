"""Tune, then deploy the best model: the handoff from a tuning job to the deployment tasks.

`tune` starts the tuning job and waits for it in the triggerer (no worker slot). Its XCom keys
(`best_training_job_name`, `best_training_job_arn`, `model_artifacts`, see README) feed the amazon
provider's deployment operators: a model from the best job's artifacts, an endpoint config, and
the endpoint (created on the first run, updated to the new model on later runs).

The model's artifacts hold the trained estimator only; the code that loads it and answers requests
(`model_fn`, in `training/serve_sklearn.py`) is packed as `sourcedir.tar.gz` and uploaded by
`upload_inference_code`, and the model's container environment names it (`SAGEMAKER_PROGRAM`,
`SAGEMAKER_SUBMIT_DIRECTORY`), as the SageMaker Python SDK's `SKLearnModel(entry_point=...,
source_dir=...)` does. Without them the endpoint goes InService but answers every request with a
ModelError ("Please provide a model_fn implementation").

Runs on SageMaker (set `image`, `role_arn`, `output_path`, and `submit_directory` to the s3:// URI
of a .tar.gz of `dags/training`) and unchanged on the local backend (docs/local-backend.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
from airflow.providers.amazon.aws.operators.sagemaker import (
    SageMakerEndpointConfigOperator,
    SageMakerEndpointOperator,
    SageMakerModelOperator,
)
from airflow.sdk import DAG, task

from airflow_hpt import CreateTuningJobOperator

BEST_JOB = "{{ ti.xcom_pull(task_ids='tune', key='best_training_job_name') }}"
TRAINING_CODE = Path(__file__).resolve().parent / "training"


@task
def upload_inference_code(model_artifacts: str, params: dict[str, Any] | None = None) -> str:
    """Pack the inference code's folder into sourcedir.tar.gz and upload it to the model artifacts'
    bucket, as the SDK uploads to its default bucket; returns its s3:// URI (named by the archive's
    digest, so new code never replaces the code a served model uses)."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from airflow_hpt.inference_code import pack, upload_uri

    assert params is not None  # Airflow passes the run's params
    archive = pack(Path(params["inference_source_dir"]))
    uri = upload_uri(model_artifacts, params["endpoint_name"], archive)
    bucket, key = S3Hook.parse_s3_url(uri)
    S3Hook(aws_conn_id="aws_default").load_bytes(archive, key=key, bucket_name=bucket, replace=True)
    return uri


with DAG(
    "tune_and_deploy",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params={
        "max_jobs": 6,
        "parallel": 2,
        "epochs": 5,
        "image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
        "role_arn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "output_path": "s3://models/tune-and-deploy",
        "submit_directory": TRAINING_CODE.as_uri(),
        "inference_source_dir": str(TRAINING_CODE),
        "inference_entry_point": "serve_sklearn.py",
        "region": "us-east-1",
        "instance_type": "ml.m5.large",
        "endpoint_name": "tune-and-deploy",
    },
    tags=["airflow-hpt", "example"],
) as dag:
    tune = CreateTuningJobOperator(
        task_id="tune",
        request="templates/tune_and_deploy_request.json.j2",
        deferrable=True,
        check_interval=60,
    )
    model = SageMakerModelOperator(
        task_id="create_model",
        config={
            # one model per tuning run, named after the best training job (unique, <= 63 characters)
            "ModelName": BEST_JOB,
            "PrimaryContainer": {
                "Image": "{{ params.image }}",
                "ModelDataUrl": "{{ ti.xcom_pull(task_ids='tune', key='model_artifacts') }}",
                # the SDK's framework environment: the serving container runs model_fn from this code
                "Environment": {
                    "SAGEMAKER_PROGRAM": "{{ params.inference_entry_point }}",
                    "SAGEMAKER_SUBMIT_DIRECTORY": "{{ ti.xcom_pull(task_ids='upload_inference_code') }}",
                    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
                    "SAGEMAKER_REGION": "{{ params.region }}",
                },
            },
            "ExecutionRoleArn": "{{ params.role_arn }}",
        },
    )
    endpoint_config = SageMakerEndpointConfigOperator(
        task_id="create_endpoint_config",
        config={
            "EndpointConfigName": BEST_JOB,
            "ProductionVariants": [
                {
                    "VariantName": "best",
                    "ModelName": BEST_JOB,
                    "InitialInstanceCount": 1,
                    "InstanceType": "{{ params.instance_type }}",
                }
            ],
        },
    )
    endpoint = SageMakerEndpointOperator(
        task_id="deploy_endpoint",
        config={"EndpointName": "{{ params.endpoint_name }}", "EndpointConfigName": BEST_JOB},
        check_interval=30,
    )
    upload_inference_code(tune.output["model_artifacts"]) >> model >> endpoint_config >> endpoint
