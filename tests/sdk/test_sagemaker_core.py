"""``sagemaker-core`` (SageMaker's typed resources, SDK v3's core) against the local backend.

It runs in a venv of its own: sagemaker-core 2.x requires ``importlib-metadata<7``, which Airflow
3.3 refuses on Python 3.12+ (``>=7``) and which downgrades Airflow's importlib-metadata, rich and
protobuf on 3.11. The resources validate every Describe answer against their pydantic shapes.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_hpt.local import LocalSageMaker
from tests.local.conftest import make_client, quadratic_request, wait_for
from tests.sdk.conftest import run_client

# slow: the first run on a machine builds the venv from the package registry
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_sagemaker_core_reads_a_tuning_job_and_its_best_training_job(
    sagemaker_core_python: Path, backend: LocalSageMaker, client_env: dict[str, str]
) -> None:
    sagemaker = make_client(backend.endpoint_url)
    request = quadratic_request("core-read", max_jobs=2, parallel=2)
    definition = request["TrainingJobDefinition"]
    # as the SDKs send it: the training jobs' ResourceConfig is SageMaker's to derive
    definition["HyperParameterTuningResourceConfig"] = definition.pop("ResourceConfig")
    sagemaker.create_hyper_parameter_tuning_job(**request)
    job = wait_for(sagemaker, "core-read")
    assert job["HyperParameterTuningJobStatus"] == "Completed"
    best_name = job["BestTrainingJob"]["TrainingJobName"]
    best = sagemaker.describe_training_job(TrainingJobName=best_name)

    seen = run_client(sagemaker_core_python, "sagemaker_core_read.py", ["core-read"], client_env)

    assert seen["status"] == "Completed"
    assert seen["objective"] == "loss"
    assert seen["completed"] == 2
    assert seen["definition_instance_type"] == "ml.m5.large"
    assert seen["definition_static_objective"] == "loss"
    assert seen["training_jobs"] == sorted(
        summary["TrainingJobName"]
        for summary in sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName="core-read"
        )["TrainingJobSummaries"]
    )
    assert len(seen["training_jobs"]) == 2
    assert seen["best_name"] == best_name
    assert seen["best_status"] == "Completed"
    assert seen["best_tuning_job_arn"] == job["HyperParameterTuningJobArn"]
    assert seen["best_hyper_parameters"]["x"] == best["HyperParameters"]["x"]
    assert seen["best_hyper_parameters"]["_tuning_objective_metric"] == "loss"
    assert seen["best_model"] == best["ModelArtifacts"]["S3ModelArtifacts"]
    assert seen["best_instance_type"] == "ml.m5.large"
    assert seen["best_kms_key_id"] == ""
    assert seen["best_final_metrics"] == {
        "loss": job["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    }
