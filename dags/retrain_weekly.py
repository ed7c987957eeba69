"""Weekly retraining of the digits classifier: tune, gate, deploy, smoke-test.

Every week a SageMaker tuning job searches the hyperparameters of ``training/train_sklearn.py``
(scikit-learn SGD, script mode), warm-starting from the earlier weeks' tuning jobs, so each week's
search starts from what the chain has learned. The best model is deployed to the
``endpoint_name`` endpoint only when it reaches ``min_accuracy`` and beats the model that
endpoint serves now; otherwise the deploy is skipped and the gate's log says why. The model is
served by ``training/serve_sklearn.py`` (the SDK's ``SKLearnModel`` environment: ``SAGEMAKER_PROGRAM``,
``SAGEMAKER_SUBMIT_DIRECTORY``...). Once deployed, ``smoke_test`` sends the endpoint up to
``smoke_rows`` held-out digits (``holdout_uri``) and fails the run when an answer is malformed or
the accuracy is below ``smoke_min_accuracy``. The tuning task updates the ``best-model`` asset
either way, for ``deploy_on_new_model`` and anyone else listening.

The defaults run on the local backend (``airflow-hpt local-sagemaker``) in well under a minute; on
SageMaker, set ``training_image``, ``inference_image``, ``role_arn``, the S3 locations, and a
``submit_directory`` that is the ``s3://`` URI of a ``.tar.gz`` of ``training/`` (the deploy task
packs and uploads ``inference_source_dir`` itself, as the SDK does).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG, Asset, Param, task

from airflow_hpt import CreateTuningJobOperator, DeployModelOperator, QualityGateOperator, WarmStart

# Shared with deploy_on_new_model.py: an asset is identified by its name and URI.
BEST_MODEL = Asset("airflow-hpt://retrain_weekly/best-model")
# Resolved where this file is parsed, so the default follows the dags folder wherever it is mounted.
TRAINING_CODE = Path(__file__).resolve().parent / "training"
log = logging.getLogger(__name__)


@task
def smoke_test(deployed: dict[str, Any], params: dict[str, Any] | None = None) -> dict[str, Any]:
    """Held-out digits through the deployed endpoint (sagemaker-runtime InvokeEndpoint, through the
    connection): fails on a malformed answer or an accuracy below ``smoke_min_accuracy``."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from airflow_hpt.predictions import CSV, JSON, Score, csv_body, parse_predictions, read_labelled_csv

    assert params is not None  # Airflow passes the run's params
    bucket, prefix = S3Hook.parse_s3_url(params["holdout_uri"])
    s3 = S3Hook(aws_conn_id="aws_default")
    keys = sorted(key for key in s3.list_keys(bucket, prefix=prefix) or [] if key.endswith(".csv"))
    if not keys:
        raise FileNotFoundError(f"holdout_uri: no .csv object under {params['holdout_uri']}")
    text = "\n".join(s3.read_key(key, bucket) for key in keys)
    rows = read_labelled_csv(text, limit=params["smoke_rows"])
    runtime = AwsBaseHook(aws_conn_id="aws_default", client_type="sagemaker-runtime").get_conn()
    answer = runtime.invoke_endpoint(
        EndpointName=deployed["endpoint_name"], ContentType=CSV, Accept=JSON, Body=csv_body(rows.features)
    )
    score = Score(rows.labels, parse_predictions(answer["Body"].read(), expected=len(rows.labels)))
    summary = f"{score.correct}/{len(rows.labels)} held-out digits right, accuracy {score.accuracy:.4f}"
    if score.accuracy < params["smoke_min_accuracy"]:
        raise ValueError(
            f"Endpoint {deployed['endpoint_name']} (model {deployed['model_name']}) fails the smoke test: "
            f"{summary} < smoke_min_accuracy {params['smoke_min_accuracy']}; first answers: {score.examples(5)}"
        )
    log.info("Endpoint %s (model %s): %s", deployed["endpoint_name"], deployed["model_name"], summary)
    return {"rows": len(rows.labels), "accuracy": score.accuracy, "examples": score.examples(5)}


with DAG(
    dag_id="retrain_weekly",
    description="Tune the digits classifier weekly (warm-started chain), deploy it when it is better",
    schedule="@weekly",
    start_date=pendulum.datetime(2026, 1, 4, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["airflow-hpt", "example"],
    doc_md=__doc__,
    params={
        "max_jobs": Param(8, type="integer", minimum=1, maximum=100, description="training jobs per week"),
        "max_parallel": Param(2, type="integer", minimum=1, maximum=10, description="training jobs at once"),
        "strategy": Param("Bayesian", enum=["Bayesian", "Random"]),
        "early_stopping": Param("Auto", enum=["Auto", "Off"], description="stop unpromising jobs early"),
        "epochs": Param(10, type="integer", minimum=1, maximum=200, description="passes over the data"),
        "alpha_min": Param(1e-6, type="number", exclusiveMinimum=0, description="regularisation, log scale"),
        "alpha_max": Param(1e-1, type="number", exclusiveMinimum=0),
        "eta0_min": Param(1e-4, type="number", exclusiveMinimum=0, description="initial learning rate"),
        "eta0_max": Param(1.0, type="number", exclusiveMinimum=0),
        "data_uri": Param(
            "s3://airflow-hpt-demo/digits/train/",
            type="string",
            pattern="^s3://",
            description="S3 prefix of the training CSV files (label first, no header)",
        ),
        "output_uri": Param(
            "s3://airflow-hpt-demo/models/retrain_weekly/",
            type="string",
            pattern="^s3://.*/$",
            description="S3 prefix for the model artifacts; one folder per week below it",
        ),
        "submit_directory": Param(
            str(TRAINING_CODE),
            type="string",
            minLength=1,
            description="sagemaker_submit_directory: the training code (local folder or s3:// .tar.gz)",
        ),
        "training_image": Param(
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
            type="string",
            description="scikit-learn framework image (ignored by the local backend)",
        ),
        "min_accuracy": Param(
            0.9, type="number", minimum=0, maximum=1, description="deploy only a model at least this accurate"
        ),
        "endpoint_name": Param("digits-classifier", type="string", description="the production endpoint"),
        "inference_image": Param(
            "local/sklearn-serve:latest", type="string", description="serving image of the deployed model"
        ),
        "inference_source_dir": Param(
            str(TRAINING_CODE),
            type="string",
            minLength=1,
            description="the inference code: a local folder (uploaded as sourcedir.tar.gz) or s3:// .tar.gz",
        ),
        "inference_entry_point": Param(
            "serve_sklearn.py", type="string", minLength=1, description="the script with model_fn"
        ),
        "holdout_uri": Param(
            "s3://airflow-hpt-demo/digits/holdout/",
            type="string",
            pattern="^s3://",
            description="S3 prefix of held-out CSV rows for the smoke test (label first, no header)",
        ),
        "smoke_rows": Param(
            100, type="integer", minimum=1, maximum=1000, description="rows sent to the endpoint"
        ),
        "smoke_min_accuracy": Param(
            0.8, type="number", minimum=0, maximum=1, description="fail the run below this held-out accuracy"
        ),
        "role_arn": Param(
            "arn:aws:iam::123456789012:role/SageMakerRole", type="string", pattern="^arn:aws[a-z-]*:iam::"
        ),
    },
) as dag:
    tune = CreateTuningJobOperator(
        task_id="tune",
        request="templates/retrain_request.json.j2",
        # "latest": each week builds on the previous ones (up to 5 weeks back), whatever they found.
        warm_start=WarmStart(type="IdenticalDataAndAlgorithm", max_parents=5, select="latest"),
        deferrable=True,
        # seconds: the local backend's jobs take seconds; on SageMaker (minutes to hours) 60 is plenty
        check_interval=2,
        outlets=[BEST_MODEL],
        # on-demand price per hour of the request's instance type: the result's consumption has a cost
        instance_prices={"ml.m5.large": 0.115},
    )
    gate = QualityGateOperator(
        task_id="gate",
        result=tune.output,
        min_objective="{{ params.min_accuracy }}",
        champion_endpoint_name="{{ params.endpoint_name }}",
    )
    deploy = DeployModelOperator(
        task_id="deploy",
        result=tune.output,
        endpoint_name="{{ params.endpoint_name }}",
        image="{{ params.inference_image }}",
        execution_role_arn="{{ params.role_arn }}",
        entry_point="{{ params.inference_entry_point }}",
        source_dir="{{ params.inference_source_dir }}",
    )
    gate >> deploy
    smoke_test(deploy.output)
