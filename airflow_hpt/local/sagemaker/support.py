"""What the local backend cannot run, refused at Create with the member it concerns.

SageMaker would accept these requests; this backend has no way to run them (no algorithm
resources, no built-in algorithms' own metrics, no file systems, no Pipe streams, no Autotune), so
it says so before creating anything rather than failing every training job later. The shared
validator's warnings (rules SageMaker is not shown to refuse) are refused only where this backend
cannot run the request as written (:func:`not_run_here`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from airflow_hpt.definitions import training_job_definitions
from airflow_hpt.exceptions import InvalidTuningRequest, Problem
from airflow_hpt.local.http.errors import Body, validation
from airflow_hpt.local.training.runner import PROGRAM_HP, SUBMIT_DIR_HP
from airflow_hpt.request.model import items, mapping
from airflow_hpt.request.ranges import range_sets
from airflow_hpt.request.validate import operation_problems

_NOT_SUPPORTED = "the local backend does not support"

# Warnings of the shared validator (rules SageMaker is not shown to refuse) in a request this backend
# still runs, by rule id: SageMaker accepted such requests (tests/corpus/accepted), and so does it.
# Under Autotune the objective and ranges may be left out, and Autotune itself is refused below.
_RUN_DESPITE = frozenset(
    {"max-jobs-given", "strategy-config-hyperband-only", "grid-max-jobs-combinations", "spot-needs-max-wait"}
)
_LEFT_TO_AUTOTUNE = frozenset({"objective-given", "ranges-given", "auto-parameters-with-autotune"})


def not_run_here(warnings: list[Problem], request: Mapping[str, Any]) -> list[Problem]:
    """The validator's warnings about a request this backend cannot run as written, as refusals.

    SageMaker may accept such a request (nobody has shown it refuses); this backend would have to
    guess what it means (two definitions of one name, a range whose bounds are reversed...), so it
    refuses it, saying so, rather than run something else than SageMaker would.
    """
    tolerated = _RUN_DESPITE | (_LEFT_TO_AUTOTUNE if "Autotune" in request else frozenset())
    return [
        Problem(
            warning.path,
            f"{_NOT_SUPPORTED} a request where this holds: {warning.rule}",
            "refusal",
            warning.rule_id,
        )
        for warning in warnings
        if warning.rule_id not in tolerated
    ]


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


def admit(body: Body, operation: str, unsupported: list[Problem]) -> None:
    """One ValidationException naming every member the service model or this backend refuses."""
    problems = [*operation_problems(body, operation), *unsupported]
    if problems:
        raise validation(str(InvalidTuningRequest(problems, operation)))
