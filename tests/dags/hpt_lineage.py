"""OpenLineage from the tuning tasks: a deferrable create-and-wait, and a create plus a deferrable sensor.

The request reads two S3 channels in two buckets (the tests stage them); `params.scripts` is the
file:// URI of tests/local/scripts.
"""

from __future__ import annotations

from airflow.sdk import DAG

from airflow_hpt import CreateTuningJobOperator, TuningJobSensor
from tests.dags.template_requests import START, quadratic_params, quadratic_request

TRAIN_URI = "s3://lineage-data/quadratic/train/"
VALIDATION_URI = "s3://lineage-validation/quadratic/holdout/"
REQUEST = quadratic_request()
REQUEST["TrainingJobDefinition"]["InputDataConfig"] = [
    {
        "ChannelName": name,
        "ContentType": "text/csv",
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}},
    }
    for name, uri in (("train", TRAIN_URI), ("validation", VALIDATION_URI))
]

with DAG("hpt_lineage", schedule=None, start_date=START, params=quadratic_params(epochs=2)) as dag:
    CreateTuningJobOperator(
        task_id="tune", request=REQUEST, deferrable=True, check_interval=0.5, min_deferral=2
    )
    (
        CreateTuningJobOperator(task_id="create", request=REQUEST, wait_for_completion=False)
        >> TuningJobSensor(
            task_id="wait",
            tuning_job_name="{{ ti.xcom_pull(task_ids='create', key='tuning_job_name') }}",
            deferrable=True,
            poke_interval=0.5,
            min_deferral=2,
        )
    )
