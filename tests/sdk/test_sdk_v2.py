"""The SageMaker Python SDK v2, unchanged, against the local backend with only AWS_ENDPOINT_URL set.

One tuning flow through the SDK in its own venv (see ``venvs.py``): an ``SKLearn`` estimator whose
``source_dir`` is a local folder (the SDK packs and uploads it with S3 PutObject), a
``HyperparameterTuner`` fitted to Completed, then ``HyperparameterTuner.attach``,
``best_estimator()``, ``Estimator.attach`` and ``TrainingJobAnalytics`` (CloudWatch metrics).
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from airflow_hpt.local.server import LocalSageMaker
from tests.local.conftest import make_client
from tests.sdk.conftest import CODE, run_client

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
