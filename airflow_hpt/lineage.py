"""Lineage of a tuning job as plain data: training data in, best model out. No Airflow or boto3 import.

The task methods (``get_openlineage_facets_on_start`` / ``_on_complete``) turn this into OpenLineage
objects (:mod:`airflow_hpt.openlineage`). Datasets follow the S3 naming of OpenLineage and of the
amazon provider's SageMaker operators: namespace ``s3://<bucket>``, name the key (or key prefix), ``/``
for a whole bucket.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_hpt.definitions import training_job_definitions
from airflow_hpt.result import best_job_of, objective_of

# The key of the run facet in OpenLineage events; custom facets carry their producer's prefix.
RUN_FACET_KEY = "airflowHpt_tuningJob"


@dataclass(frozen=True)
class S3Dataset:
    namespace: str
    name: str


@dataclass(frozen=True)
class TuningLineage:
    inputs: list[S3Dataset] = field(default_factory=list)
    outputs: list[S3Dataset] = field(default_factory=list)
    # the run facet's fields (None values left out); empty when nothing is known about the job
    run: dict[str, Any] = field(default_factory=dict)


def s3_dataset(uri: object) -> S3Dataset | None:
    """The dataset of an ``s3://bucket/key`` URI; None for anything else (file://, a local path)."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        return None
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket:
        return None
    return S3Dataset(namespace=f"s3://{bucket}", name=key or "/")


def input_datasets(request: Mapping[str, Any]) -> list[S3Dataset]:
    """The S3 channels of every training job definition, each once, in request order."""
    found: dict[S3Dataset, None] = {}
    for _path, definition in training_job_definitions(request):
        for channel in definition.get("InputDataConfig") or []:
            uri = ((channel.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
            dataset = s3_dataset(uri)
            if dataset is not None:
                found[dataset] = None
    return list(found)


def output_datasets(result: Mapping[str, Any] | None) -> list[S3Dataset]:
    """The best training job's model artifacts, when the job has a best training job."""
    dataset = s3_dataset((result or {}).get("model_artifacts") or "")
    return [] if dataset is None else [dataset]


def run_facet(request: Mapping[str, Any], result: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """ARN, name, strategy, objective and (once known) status and best value of the tuning job.

    ``request`` is the request or a Describe (same shape); ``result`` the task's result dict.
    """
    result = result or {}
    config = request.get("HyperParameterTuningJobConfig") or {}
    metric, objective_type = objective_of(request)
    best = best_job_of(request).get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    best_value = result.get("objective_value", best.get("Value"))
    facet = {
        "tuningJobName": result.get("tuning_job_name") or request.get("HyperParameterTuningJobName"),
        "tuningJobArn": result.get("tuning_job_arn") or request.get("HyperParameterTuningJobArn"),
        "status": result.get("status") or request.get("HyperParameterTuningJobStatus"),
        "strategy": config.get("Strategy"),
        "objectiveMetric": result.get("objective_metric") or metric,
        "objectiveType": result.get("objective_type") or objective_type,
        "bestObjectiveValue": None if best_value is None else float(best_value),
        "bestTrainingJobName": result.get("best_training_job_name")
        or best_job_of(request).get("TrainingJobName"),
        "bestTrainingJobArn": result.get("best_training_job_arn")
        or best_job_of(request).get("TrainingJobArn"),
        "warmStartParents": _parents(request, result),
    }
    return {key: value for key, value in facet.items() if value not in (None, [])}


def _parents(request: Mapping[str, Any], result: Mapping[str, Any]) -> list[str]:
    if result.get("warm_start_parents"):
        return [str(parent) for parent in result["warm_start_parents"]]
    parents: Iterable[Mapping[str, Any]] = (request.get("WarmStartConfig") or {}).get(
        "ParentHyperParameterTuningJobs"
    ) or []
    return [str(parent["HyperParameterTuningJobName"]) for parent in parents]


def tuning_lineage(request: Mapping[str, Any], result: Mapping[str, Any] | None = None) -> TuningLineage:
    """Inputs from the request (or Describe); the output and the outcome from the result, if any."""
    return TuningLineage(
        inputs=input_datasets(request), outputs=output_datasets(result), run=run_facet(request, result)
    )
