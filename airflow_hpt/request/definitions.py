"""Cross-field rules of each training job definition (SageMaker's API reference)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from airflow_hpt.exceptions import Problem
from airflow_hpt.request.defaults import DEFAULT_MAX_RUNTIME_SECONDS
from airflow_hpt.request.evidence import problem
from airflow_hpt.request.model import CONFIG, is_number, items, mapping

SUBMIT_DIRECTORY = "sagemaker_submit_directory"
_TUNING_RESOURCES = "HyperParameterTuningResourceConfig"
# "If you use InstanceConfigs, do not provide values for InstanceType, VolumeSizeInGB or InstanceCount."
_SINGLE_INSTANCE_MEMBERS = ("InstanceType", "InstanceCount", "VolumeSizeInGB")


def definition_problems(
    path: str, definition: Mapping[str, Any], config: Mapping[str, Any], *, target_is_aws: bool
) -> Iterator[Problem]:
    algorithm = mapping(definition.get("AlgorithmSpecification"))
    if "AlgorithmSpecification" in definition and ("TrainingImage" in algorithm) == (
        "AlgorithmName" in algorithm
    ):
        yield problem(
            "image-or-algorithm-name",
            f"{path}.AlgorithmSpecification",
            "must have exactly one of TrainingImage or AlgorithmName",
        )
    if "TrainingImage" in algorithm:
        yield from _objective_metric_problems(path, definition, algorithm, config)
    channels = [(i, c.get("ChannelName")) for i, c in items(definition.get("InputDataConfig"))]
    seen: set[Any] = set()
    for i, name in channels:
        if isinstance(name, str) and name in seen:
            yield problem(
                "channel-name-unique",
                f"{path}.InputDataConfig[{i}].ChannelName",
                f"duplicates channel name {name!r}",
            )
        seen.add(name)
    yield from _resource_problems(path, definition)
    yield from _stopping_problems(path, definition)
    if target_is_aws:
        yield from _submit_directory_problems(path, definition)


def _objective_metric_problems(
    path: str, definition: Mapping[str, Any], algorithm: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[Problem]:
    """With a TrainingImage that declares MetricDefinitions, the objective must be one of them.

    Without any, nothing is checked: built-in algorithms are also given as a TrainingImage and
    publish their own metrics, and an image alone does not tell a built-in from a custom one.
    """
    if isinstance(definition.get("TuningObjective"), Mapping):
        objective, objective_path = definition["TuningObjective"], f"{path}.TuningObjective"
    else:
        objective = mapping(config.get("HyperParameterTuningJobObjective"))
        objective_path = f"{CONFIG}.HyperParameterTuningJobObjective"
    metric = objective.get("MetricName")
    if not isinstance(metric, str):
        return
    names = [m.get("Name") for _i, m in items(algorithm.get("MetricDefinitions"))]
    if names and metric not in names:
        yield problem(
            "objective-in-metric-definitions",
            f"{objective_path}.MetricName",
            f"must be one of the MetricDefinitions names of {path}.AlgorithmSpecification: "
            + ", ".join(str(n) for n in names),
        )


def _resource_problems(path: str, definition: Mapping[str, Any]) -> Iterator[Problem]:
    """Exactly one of ResourceConfig and HyperParameterTuningResourceConfig; InstanceConfigs or
    a single instance configuration, not both."""
    fixed, flexible = "ResourceConfig" in definition, _TUNING_RESOURCES in definition
    if fixed and flexible:
        yield problem(
            "one-resource-config",
            f"{path}.{_TUNING_RESOURCES}",
            "cannot be given together with ResourceConfig: use one",
        )
    elif not fixed and not flexible:
        yield problem(
            "one-resource-config", f"{path}.ResourceConfig", f"is required (or {_TUNING_RESOURCES})"
        )
    resources = definition.get(_TUNING_RESOURCES)
    if not isinstance(resources, Mapping):
        return
    if "InstanceConfigs" in resources:
        for member in _SINGLE_INSTANCE_MEMBERS:
            if member in resources:
                yield problem(
                    "instance-configs-alone",
                    f"{path}.{_TUNING_RESOURCES}.{member}",
                    "cannot be given together with InstanceConfigs (each instance configuration has its own)",
                )
    elif "InstanceType" not in resources:
        yield problem(
            "instance-configs-alone",
            f"{path}.{_TUNING_RESOURCES}.InstanceType",
            "is required (or InstanceConfigs)",
        )


def _stopping_problems(path: str, definition: Mapping[str, Any]) -> Iterator[Problem]:
    """Managed spot training needs MaxWaitTimeInSeconds, which is at least MaxRuntimeInSeconds."""
    stopping = definition.get("StoppingCondition")
    if not isinstance(stopping, Mapping):
        return  # missing or wrongly typed: already reported
    wait_path = f"{path}.StoppingCondition.MaxWaitTimeInSeconds"
    wait = stopping.get("MaxWaitTimeInSeconds")
    if wait is None:
        if definition.get("EnableManagedSpotTraining") is True:
            yield problem(
                "spot-needs-max-wait",
                wait_path,
                "is required with EnableManagedSpotTraining (the time to wait for Spot capacity "
                "plus the time to run)",
            )
        return
    if definition.get("EnableManagedSpotTraining") is not True:
        yield problem(
            "max-wait-needs-spot",
            wait_path,
            "is only supported when EnableManagedSpotTraining is true (SageMaker answers "
            "'Invalid MaxWaitTimeInSeconds')",
        )
    runtime = stopping.get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS)
    if is_number(wait) and is_number(runtime) and wait < runtime:
        default = "" if "MaxRuntimeInSeconds" in stopping else ", its default"
        yield problem(
            "max-wait-covers-runtime",
            wait_path,
            f"must be at least MaxRuntimeInSeconds ({runtime}{default}) (got {wait})",
        )


def _submit_directory_problems(path: str, definition: Mapping[str, Any]) -> Iterator[Problem]:
    """On AWS a training container fetches its code from S3: a local folder or file:// cannot work."""
    value = mapping(definition.get("StaticHyperParameters")).get(SUBMIT_DIRECTORY)
    if not isinstance(value, str):
        return
    location = hyperparameter_text(value)
    if not location.startswith("s3://"):
        yield problem(
            "submit-directory-on-s3",
            f"{path}.StaticHyperParameters.{SUBMIT_DIRECTORY}",
            f"must be an s3:// URI when the connection targets AWS (no endpoint_url): every training "
            f"job would fail fetching its code (got {location!r})",
        )


def hyperparameter_text(value: str) -> str:
    """A hyperparameter without the JSON quotes the SageMaker SDK puts around its own (``"s3://..."``)."""
    try:
        decoded = json.loads(value)
    except ValueError:
        return value
    return decoded if isinstance(decoded, str) else value
