"""The members SageMaker adds to what a Describe returns, beyond what the request carried.

Each addition has public evidence (the AWS API reference in botocore's service model, or code of
the SageMaker Python SDK that reads the member unconditionally); docs/local-backend.md lists it.
Only these are added: a default nobody documents is not invented.
"""

from __future__ import annotations

from collections.abc import Mapping
from copy import deepcopy
from typing import Any

from airflow_hpt.local.state.records import Record, Stored, TrainingJobBook
from airflow_hpt.request.defaults import DEFAULT_MAX_RUNTIME_SECONDS

# SageMaker's static hyperparameter naming the objective metric, on tuning definitions and on the
# training jobs they launch (the SDK's HyperparameterTuner.attach deletes it unconditionally).
TUNING_OBJECTIVE_HP = "_tuning_objective_metric"
# HyperParameterTuningJobConfig.TrainingJobEarlyStoppingType: "the default value is OFF"
DEFAULT_EARLY_STOPPING = "Off"
_RESOURCE_MEMBERS = ("InstanceType", "InstanceCount", "VolumeSizeInGB")


def training_resource_config(definition: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ResourceConfig of a training job launched from a tuning definition.

    A definition gives either ResourceConfig, or HyperParameterTuningResourceConfig with
    InstanceType/InstanceCount/VolumeSizeInGB or a list of InstanceConfigs tried in order (the
    backend runs every job on its first: AllocationStrategy Prioritized).
    """
    if definition.get("ResourceConfig"):
        return dict(definition["ResourceConfig"])
    tuning = definition.get("HyperParameterTuningResourceConfig")
    if not tuning:
        return None
    chosen = (tuning.get("InstanceConfigs") or [tuning])[0]
    config = {member: chosen[member] for member in _RESOURCE_MEMBERS if member in chosen}
    if tuning.get("VolumeKmsKeyId"):
        config["VolumeKmsKeyId"] = tuning["VolumeKmsKeyId"]
    return config


def described_tuning_job(job: Record) -> Record:
    """DescribeHyperParameterTuningJob's answer for a stored tuning job."""
    answer = deepcopy(job)
    config = answer["HyperParameterTuningJobConfig"]
    config.setdefault("TrainingJobEarlyStoppingType", DEFAULT_EARLY_STOPPING)
    job_objective = config.get("HyperParameterTuningJobObjective") or {}
    for key in ("TrainingJobDefinition", "TrainingJobDefinitions"):
        value = answer.get(key)
        for definition in value if isinstance(value, list) else [value] if value else []:
            objective = definition.get("TuningObjective") or job_objective
            if objective.get("MetricName"):
                statics = definition.setdefault("StaticHyperParameters", {})
                statics[TUNING_OBJECTIVE_HP] = objective["MetricName"]
            definition.setdefault("StoppingCondition", {}).setdefault(
                "MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS
            )
            # the SDK's HyperparameterTuner.attach reads the definition's ResourceConfig, also on
            # the jobs it created itself, which send HyperParameterTuningResourceConfig only
            resources = training_resource_config(definition)
            if resources is not None:
                definition.setdefault("ResourceConfig", resources)
    return answer


def described_training_job(job: Stored[TrainingJobBook]) -> Record:
    """DescribeTrainingJob's answer for a stored training job."""
    answer = deepcopy(job.fields)
    if job.book.objective_metric:
        answer.setdefault("HyperParameters", {})[TUNING_OBJECTIVE_HP] = job.book.objective_metric
    # the SDK's Estimator.attach reads OutputDataConfig["KmsKeyId"]: SageMaker answers "" when unset
    answer.setdefault("OutputDataConfig", {}).setdefault("KmsKeyId", "")
    answer.setdefault("StoppingCondition", {}).setdefault("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS)
    return answer
