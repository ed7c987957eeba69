"""The SageMaker Python SDK v2, unchanged, against the local backend with only AWS_ENDPOINT_URL set.

Two flows through the SDK in its own venv (see ``venvs.py``). A tuning flow through the SDK in its own venv (see ``venvs.py``): an ``SKLearn`` estimator whose
``source_dir`` is a local folder (the SDK packs and uploads it with S3 PutObject), a
``HyperparameterTuner`` fitted to Completed, then ``HyperparameterTuner.attach``,
``best_estimator()``, ``Estimator.attach`` and ``TrainingJobAnalytics`` (CloudWatch metrics). And
the retraining flow: an ``SKLearn`` estimator ``fit()`` on data uploaded to S3, ``deploy()``,
``predictor.predict()`` answered by the trained model, ``predictor.delete_endpoint()``.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from airflow_hpt.local import LocalSageMaker
from tests.local.conftest import make_client
from tests.sdk.conftest import CLASSIFIER_CODE, CODE, run_client

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


def epoch_losses(x: float, epochs: int) -> list[float]:
    """What tests/sdk/code/train.py prints for ``x``."""
    return [(x - 0.3) ** 2 + 1 / (epoch + 1) for epoch in range(epochs)]


def test_sdk_v2_tunes_attaches_and_reads_metrics(
    sdk_v2_python: Path, backend: LocalSageMaker, client_env: dict[str, str]
) -> None:
    seen = run_client(sdk_v2_python, "sdk_v2_flow.py", [str(CODE), "sdk-v2-tuning", "sdk-bucket"], client_env)

    sagemaker = make_client(backend.endpoint_url)
    job = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="sdk-v2-tuning")
    assert job["HyperParameterTuningJobStatus"] == seen["status"] == "Completed"
    assert job["TrainingJobStatusCounters"]["Completed"] == 2
    assert "HyperParameterTuningResourceConfig" in job["TrainingJobDefinition"]

    # script mode: the SDK uploaded the local source_dir and passed its s3:// URI
    submitted = json.loads(seen["submit_directory"])
    assert submitted == "s3://sdk-bucket/sdk-v2-tuning/source/sourcedir.tar.gz"
    assert backend.s3 is not None
    with tarfile.open(backend.s3.path_for(submitted)) as archive:
        assert "train.py" in archive.getnames()

    # HyperparameterTuner.attach rebuilt the tuner from the job description
    assert seen["attached_objective"] == "loss"
    assert seen["attached_max_jobs"] == 2
    assert seen["attached_ranges"]["ContinuousParameterRanges"] == [
        {"Name": "x", "MinValue": "-1.0", "MaxValue": "1.0", "ScalingType": "Auto"}
    ]
    assert seen["attached_instance_type"] == "ml.m5.large"

    # best_estimator(): the SKLearn estimator of the best training job
    best_name = job["BestTrainingJob"]["TrainingJobName"]
    assert seen["best_training_job"] == seen["best_estimator_job"] == best_name
    assert seen["best_estimator_class"] == "SKLearn"
    assert seen["best_estimator_entry_point"] == "train.py"
    assert json.loads(seen["best_estimator_hyperparameters"]["epochs"]) == 2

    # Estimator.attach: the training job's model, packed into the local store
    training = sagemaker.describe_training_job(TrainingJobName=best_name)
    assert seen["estimator_model_data"] == training["ModelArtifacts"]["S3ModelArtifacts"]
    assert backend.s3.path_for(seen["estimator_model_data"]).is_file()
    assert seen["estimator_instance_type"] == "ml.m5.large"

    # TrainingJobAnalytics: CloudWatch averages of the losses the script printed
    losses = epoch_losses(float(training["HyperParameters"]["x"]), 2)
    assert seen["analytics_metrics"] == ["loss"]
    assert seen["analytics_values"]
    for value in seen["analytics_values"]:
        assert min(losses) - 1e-6 <= value <= max(losses) + 1e-6


def classifier_rows(points: list[tuple[float, float]]) -> list[tuple[int, float, float]]:
    """Label, then features: 1 above the line a + b = 0, which a logistic regression learns."""
    return [(int(a + b > 0), a, b) for a, b in points]


def write_csv(path: Path, rows: list[tuple[float, ...]]) -> Path:
    path.write_text("".join(",".join(str(value) for value in row) + "\n" for row in rows))
    return path


def test_sdk_v2_fits_deploys_predicts_and_deletes_the_endpoint(
    sdk_v2_python: Path, backend: LocalSageMaker, client_env: dict[str, str], tmp_path: Path
) -> None:
    grid = [(float(a), float(b)) for a in range(-3, 4) for b in range(-3, 4) if a + b != 0]
    training = classifier_rows(grid)
    held_out = classifier_rows([(2.5, -1.0), (-2.5, 1.0), (0.5, 1.5), (-1.5, -0.5), (3.5, 3.5), (-4.0, 2.0)])
    queries = training + held_out
    args = [
        str(CLASSIFIER_CODE),
        str(write_csv(tmp_path / "train.csv", training)),
        str(write_csv(tmp_path / "queries.csv", [features for _, *features in queries])),
        "sdk-v2-fit",
        "sdk-v2-endpoint",
        "sdk-bucket",
    ]
    seen = run_client(sdk_v2_python, "sdk_v2_fit_deploy.py", args, client_env)

    # the trained model answered: every training row and every held-out row labelled right
    assert seen["predictor_class"] == "SKLearnPredictor"
    assert seen["predictions"] == [label for label, *_ in queries]

    sagemaker = make_client(backend.endpoint_url)
    job = sagemaker.describe_training_job(TrainingJobName="sdk-v2-fit")
    assert job["TrainingJobStatus"] == "Completed"
    assert json.loads(job["HyperParameters"]["sagemaker_program"]) == "classifier.py"
    assert json.loads(job["HyperParameters"]["C"]) == 10.0
    channel = job["InputDataConfig"][0]
    assert channel["ChannelName"] == "train"
    assert channel["DataSource"]["S3DataSource"]["S3Uri"] == seen["train_uri"]
    assert seen["train_uri"] == "s3://sdk-bucket/sdk-v2-fit/data/train.csv"
    assert seen["model_data"] == job["ModelArtifacts"]["S3ModelArtifacts"]
    assert backend.s3 is not None
    with tarfile.open(backend.s3.path_for(seen["model_data"])) as archive:
        assert "model.joblib" in archive.getnames()

    # deploy() registered a model that serves the entry point from the uploaded source dir
    container = sagemaker.describe_model(ModelName=seen["model_name"])["PrimaryContainer"]
    assert container["ModelDataUrl"] == seen["model_data"]
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "classifier.py"
    submitted = json.loads(job["HyperParameters"]["sagemaker_submit_directory"])
    assert submitted == "s3://sdk-bucket/sdk-v2-fit/source/sourcedir.tar.gz"
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == submitted

    # delete_endpoint() removed the endpoint and, as the SDK does by default, its configuration
    with pytest.raises(ClientError, match="ValidationException"):
        sagemaker.describe_endpoint(EndpointName="sdk-v2-endpoint")
    with pytest.raises(ClientError, match="ValidationException"):
        sagemaker.describe_endpoint_config(EndpointConfigName="sdk-v2-endpoint")
