"""Tune, then deploy the best model: the handoff from a tuning job to the deployment tasks.

`tune` starts the tuning job and waits for it in the triggerer (no worker slot). Its XCom keys
(`best_training_job_name`, `best_training_job_arn`, `model_artifacts`, see README) feed the amazon
provider's deployment operators: a model from the best job's artifacts, an endpoint config, and
the endpoint (created on the first run, updated to the new model on later runs).

Runs on SageMaker (set `image`, `role_arn`, `output_path`, and `submit_directory` to the s3:// URI
of a .tar.gz of `dags/training`) and unchanged on the local backend (docs/local-backend.md).
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.providers.amazon.aws.operators.sagemaker import (
    SageMakerEndpointConfigOperator,
    SageMakerEndpointOperator,
    SageMakerModelOperator,
)
from airflow.sdk import DAG

from airflow_hpt import CreateTuningJobOperator

BEST_JOB = "{{ ti.xcom_pull(task_ids='tune', key='best_training_job_name') }}"

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
        "submit_directory": (Path(__file__).resolve().parent / "training").as_uri(),
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
    tune >> model >> endpoint_config >> endpoint
