"""What the local backend cannot run, refused at Create with the member it concerns.

SageMaker would accept these requests; this backend has no way to run them (no algorithm
resources, no built-in algorithms' own metrics, no file systems, no Pipe streams, no Autotune), so
it says so before creating anything rather than failing every training job later. And what
SageMaker accepts is not refused here on the shared validator's word (:func:`refused_by_sagemaker`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from airflow_hpt.exceptions import Problem
from airflow_hpt.local.runner import PROGRAM_HP, SUBMIT_DIR_HP
from airflow_hpt.request.model import items, mapping, training_job_definitions
from airflow_hpt.request.ranges import range_sets

_NOT_SUPPORTED = "the local backend does not support"

# Rules of the shared validator that SageMaker itself does not enforce: Creates without these members
# were accepted by SageMaker in suites that ran against AWS (terraform-provider-aws acceptance tests
# of aws_sagemaker_hyper_parameter_tuning_job, issue 19). The backend accepts what SageMaker
# accepts, so it drops these problems: (end of the member's path, fragment of the rule).
_ACCEPTED_BY_SAGEMAKER = (
    ("ResourceLimits.MaxNumberOfTrainingJobs", "is required with the"),
    (".AutoParameters", "needs Autotune"),
    ("HyperParameterTuningJobConfig.StrategyConfig", "applies only to the Hyperband strategy"),
)
# With Autotune, SageMaker chooses the ranges (and the objective may be omitted): what is then
# refused is Autotune itself, which this backend cannot run
_CHOSEN_BY_AUTOTUNE = (
    "HyperParameterTuningJobObjective",
    "TuningObjective",
    "ParameterRanges",
    "HyperParameterRanges",
)


def refused_by_sagemaker(problems: list[Problem], request: Mapping[str, Any]) -> list[Problem]:
    """The validator's ``problems`` less those SageMaker accepts (see ``_ACCEPTED_BY_SAGEMAKER``)."""
    autotune = "Autotune" in request

    def accepted(problem: Problem) -> bool:
        if any(problem.path.endswith(end) and rule in problem.rule for end, rule in _ACCEPTED_BY_SAGEMAKER):
            return True
        return (
            autotune and problem.rule.startswith("is required") and problem.path.endswith(_CHOSEN_BY_AUTOTUNE)
        )

    return [problem for problem in problems if not accepted(problem)]


def unsupported_problems(request: Mapping[str, Any]) -> list[Problem]:
    """Every member of a (possibly invalid) request that this backend cannot run."""
    problems: list[Problem] = []
    if "Autotune" in request:
        problems.append(
            Problem("Autotune", f"{_NOT_SUPPORTED} Autotune: give the ranges, limits and strategy yourself")
        )
    definitions = list(training_job_definitions(request))
    config = mapping(request.get("HyperParameterTuningJobConfig"))
    for path, ranges, _static in range_sets(config, definitions):
        if "AutoParameters" in ranges:
            problems.append(Problem(f"{path}.AutoParameters", f"{_NOT_SUPPORTED} AutoParameters (Autotune)"))
    for path, definition in definitions:
        problems.extend(_definition_problems(path, definition, "StaticHyperParameters"))
        algorithm = mapping(definition.get("AlgorithmSpecification"))
        if "TrainingImage" in algorithm and not items(algorithm.get("MetricDefinitions")):
            # SageMaker reads a built-in algorithm's metrics from the algorithm itself; a script's
            # objective is found in its log only through these regexes
            problems.append(
                Problem(
                    f"{path}.AlgorithmSpecification.MetricDefinitions",
                    f"{_NOT_SUPPORTED} the metrics a built-in algorithm publishes itself: define the "
                    "objective metric's regex here",
                )
            )
    return problems


def training_job_problems(request: Mapping[str, Any]) -> list[Problem]:
    """Every member of a (possibly invalid) CreateTrainingJob request that this backend cannot run."""
    return list(_definition_problems("", request, "HyperParameters"))


def transform_job_problems(request: Mapping[str, Any]) -> list[Problem]:
    """Every member of a (possibly invalid) CreateTransformJob request that this backend cannot run."""
    problems: list[Problem] = []
    source = mapping(mapping(request.get("TransformInput")).get("DataSource"))
    data_type = mapping(source.get("S3DataSource")).get("S3DataType")
    if data_type not in (None, "S3Prefix"):
        problems.append(
            Problem(
                "TransformInput.DataSource.S3DataSource.S3DataType",
                f"{_NOT_SUPPORTED} {data_type}: only S3Prefix",
            )
        )
    for kind in source:
        if kind != "S3DataSource":
            problems.append(Problem(f"TransformInput.DataSource.{kind}", f"{_NOT_SUPPORTED} {kind}"))
    transform_input = mapping(request.get("TransformInput"))
    if transform_input.get("SplitType") not in (None, "None", "Line"):
        problems.append(
            Problem(
                "TransformInput.SplitType", f"{_NOT_SUPPORTED} {transform_input['SplitType']}: None or Line"
            )
        )
    if transform_input.get("CompressionType") not in (None, "None"):
        problems.append(Problem("TransformInput.CompressionType", f"{_NOT_SUPPORTED} compressed input"))
    for member in ("InputFilter", "OutputFilter"):
        if mapping(request.get("DataProcessing")).get(member) not in (None, "$"):
            problems.append(Problem(f"DataProcessing.{member}", f"{_NOT_SUPPORTED} JSONPath filters"))
    if mapping(request.get("DataProcessing")).get("JoinSource") not in (None, "None"):
        problems.append(Problem("DataProcessing.JoinSource", f"{_NOT_SUPPORTED} joining the input"))
    return problems


def _definition_problems(
    path: str, definition: Mapping[str, Any], hyperparameters_member: str
) -> Iterator[Problem]:
    algorithm = mapping(definition.get("AlgorithmSpecification"))
    prefix = f"{path}." if path else ""
    if "AlgorithmName" in algorithm:
        yield Problem(
            f"{prefix}AlgorithmSpecification.AlgorithmName",
            f"{_NOT_SUPPORTED} algorithm resources: give a TrainingImage and a script-mode entry point",
        )
    if algorithm.get("TrainingInputMode") == "Pipe":
        yield Problem(f"{prefix}AlgorithmSpecification.TrainingInputMode", f"{_NOT_SUPPORTED} Pipe mode")
    static = mapping(definition.get(hyperparameters_member))
    for name, what in (
        (PROGRAM_HP, "the entry script"),
        (SUBMIT_DIR_HP, "the folder or archive of the code"),
    ):
        if not static.get(name):
            yield Problem(
                f"{prefix}{hyperparameters_member}.{name}",
                f"{_NOT_SUPPORTED} training images: it runs script-mode training only, and needs here {what}",
            )
    for i, channel in items(definition.get("InputDataConfig")):
        yield from _channel_problems(f"{prefix}InputDataConfig[{i}]", channel)


def _channel_problems(path: str, channel: Mapping[str, Any]) -> Iterator[Problem]:
    if channel.get("InputMode") == "Pipe":
        yield Problem(f"{path}.InputMode", f"{_NOT_SUPPORTED} Pipe mode")
    source = channel.get("DataSource")
    if not isinstance(source, Mapping):
        return  # missing or wrongly typed: the validator reports it
    for kind in source:
        if kind != "S3DataSource":
            yield Problem(
                f"{path}.DataSource.{kind}",
                f"{_NOT_SUPPORTED} {kind}: a channel is an S3DataSource prefix of the backend's store",
            )
    if "S3DataSource" not in source:
        if not source:
            yield Problem(f"{path}.DataSource.S3DataSource", "is required by the local backend")
        return
    data_type = mapping(source["S3DataSource"]).get("S3DataType")
    if data_type not in (None, "S3Prefix"):
        yield Problem(
            f"{path}.DataSource.S3DataSource.S3DataType",
            f"{_NOT_SUPPORTED} {data_type}: only S3Prefix",
        )
