"""A deferrable deploy against the local backend: the wait for InService runs in the triggerer.

`params.result` is the tuning result to deploy (a dict, as `tune.output` gives it); its model's
inference code sits in the archive's ``code/`` folder, as the SDK repacks it.
"""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_hpt import DeployModelOperator
from tests.dags.template_requests import START

ENDPOINT = "deferred-endpoint"

with DAG("hpt_deploy_deferrable", schedule=None, start_date=START, params={"result": {}}) as dag:
    DeployModelOperator(
        task_id="deploy",
        result="{{ params.result | tojson }}",
        endpoint_name=ENDPOINT,
        image="123456789012.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
        execution_role_arn="arn:aws:iam::123456789012:role/SageMakerRole",
        env={"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"},
        deferrable=True,
        check_interval=0.5,
        min_deferral=0.5,
        max_wait=600,
    )
