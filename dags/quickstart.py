"""A first tuning DAG: a weekly tuning job of the digits classifier, warm-started from earlier weeks."""

from pathlib import Path

import pendulum
from airflow.sdk import DAG, Param

from airflow_hpt import CreateTuningJobOperator, WarmStart

TRAINING_CODE = Path(__file__).resolve().parent / "training"  # the training script's folder

with DAG(
    "quickstart",
    schedule="@weekly",
    start_date=pendulum.datetime(2026, 1, 4, tz="UTC"),
    catchup=False,
    params={
        "max_jobs": Param(6, type="integer", minimum=1, maximum=50),
        "data_uri": Param("s3://airflow-hpt-demo/digits/train/", type="string", pattern="^s3://"),
        "training_code": Param(str(TRAINING_CODE), type="string"),
    },
):
    CreateTuningJobOperator(
        task_id="tune",
        request="templates/quickstart_request.json.j2",  # next to this file
        warm_start=WarmStart(select="best"),  # parents: earlier runs' jobs, found in SageMaker
        deferrable=True,  # wait in the triggerer, not in a worker slot
        check_interval=5,  # seconds between polls
        max_wait=pendulum.duration(hours=2),  # then stop the job and fail
    )
