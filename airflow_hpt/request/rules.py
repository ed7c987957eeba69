"""Cross-field rules of CreateHyperParameterTuningJob (SageMaker's API reference and developer
guide): what the service model alone cannot express."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from airflow_hpt.exceptions import Problem
from airflow_hpt.request.model import CONFIG, is_number, items, mapping, training_job_definitions
from airflow_hpt.request.ranges import range_set_problems, range_sets

_HYPERBAND_MAX_RESOURCE = 20000


def cross_field_problems(request: Mapping[str, Any]) -> list[Problem]:
    config = mapping(request.get("HyperParameterTuningJobConfig"))
    definitions = list(training_job_definitions(request))
    problems = [
        *_definition_choice(request),
        *_strategy_problems(config, definitions),
        *_resource_limit_problems(config),
        *_warm_start_problems(request),
        *_tag_problems(request.get("Tags")),
    ]
    for range_path, ranges, static in range_sets(config, definitions):
        problems.extend(range_set_problems(range_path, ranges, static))
    for definition_path, definition in definitions:
        problems.extend(_definition_problems(definition_path, definition, config))
    problems.extend(_definition_name_problems(definitions))
    return problems


def _definition_choice(request: Mapping[str, Any]) -> Iterator[Problem]:
    single, multiple = "TrainingJobDefinition" in request, "TrainingJobDefinitions" in request
    if single and multiple:
        yield Problem(
            "TrainingJobDefinitions", "cannot be given together with TrainingJobDefinition: use one"
        )
    elif not single and not multiple:
        yield Problem(
            "TrainingJobDefinition", "is required (or TrainingJobDefinitions for several algorithms)"
        )


def _definition_name_problems(definitions: list[tuple[str, Mapping[str, Any]]]) -> Iterator[Problem]:
    seen: set[str] = set()
    for path, definition in definitions:
        name = definition.get("DefinitionName")
        if isinstance(name, str):
            if name in seen:
                yield Problem(f"{path}.DefinitionName", f"duplicates definition name {name!r}")
            seen.add(name)


# ---- strategy and limits


def _strategy_problems(
    config: Mapping[str, Any], definitions: list[tuple[str, Mapping[str, Any]]]
) -> Iterator[Problem]:
    strategy = config.get("Strategy")
    hyperband = mapping(mapping(config.get("StrategyConfig")).get("HyperbandStrategyConfig"))
    if "StrategyConfig" in config and isinstance(strategy, str) and strategy != "Hyperband":
        yield Problem(
            f"{CONFIG}.StrategyConfig", f"applies only to the Hyperband strategy (Strategy is {strategy})"
        )
    if strategy == "Hyperband":
        yield from _hyperband_problems(config, hyperband)
    if strategy == "Grid":
        yield from _grid_problems(config, definitions)


def _hyperband_problems(config: Mapping[str, Any], hyperband: Mapping[str, Any]) -> Iterator[Problem]:
    early_stopping = config.get("TrainingJobEarlyStoppingType")
    if early_stopping is not None and early_stopping != "Off":
        yield Problem(f"{CONFIG}.TrainingJobEarlyStoppingType", "must be Off with the Hyperband strategy")
    path = f"{CONFIG}.StrategyConfig.HyperbandStrategyConfig"
    low, high = hyperband.get("MinResource"), hyperband.get("MaxResource")
    if is_number(high) and high > _HYPERBAND_MAX_RESOURCE:
        yield Problem(f"{path}.MaxResource", f"must be at most {_HYPERBAND_MAX_RESOURCE} (got {high})")
    if is_number(low) and is_number(high) and low > high:
        yield Problem(f"{path}.MinResource", f"must be at most MaxResource ({high})")


def _grid_problems(
    config: Mapping[str, Any], definitions: list[tuple[str, Mapping[str, Any]]]
) -> Iterator[Problem]:
    combinations = 0
    for path, ranges, _static in range_sets(config, definitions):
        for kind in ("IntegerParameterRanges", "ContinuousParameterRanges"):
            if items(ranges.get(kind)):
                yield Problem(f"{path}.{kind}", "the Grid strategy takes categorical ranges only")
        counts = [
            _distinct_count(entry.get("Values"))
            for _i, entry in items(ranges.get("CategoricalParameterRanges"))
        ]
        combinations += math.prod(counts) if counts else 0
    limit = mapping(config.get("ResourceLimits")).get("MaxNumberOfTrainingJobs")
    if is_number(limit) and combinations and limit != combinations:
        yield Problem(
            f"{CONFIG}.ResourceLimits.MaxNumberOfTrainingJobs",
            f"must equal the number of Grid combinations ({combinations}) or be omitted (got {limit})",
        )


def _distinct_count(values: Any) -> int:
    return len({v for v in values if isinstance(v, str)}) if isinstance(values, list | tuple) else 0


def _resource_limit_problems(config: Mapping[str, Any]) -> Iterator[Problem]:
    limits = mapping(config.get("ResourceLimits"))
    parallel, total = limits.get("MaxParallelTrainingJobs"), limits.get("MaxNumberOfTrainingJobs")
    if is_number(parallel) and is_number(total) and parallel > total:
        yield Problem(
            f"{CONFIG}.ResourceLimits.MaxParallelTrainingJobs",
            f"must be at most MaxNumberOfTrainingJobs ({total})",
        )


# ---- training job definitions


def _definition_problems(
    path: str, definition: Mapping[str, Any], config: Mapping[str, Any]
) -> Iterator[Problem]:
    algorithm = mapping(definition.get("AlgorithmSpecification"))
    if "AlgorithmSpecification" in definition and ("TrainingImage" in algorithm) == (
        "AlgorithmName" in algorithm
    ):
        yield Problem(
            f"{path}.AlgorithmSpecification", "must have exactly one of TrainingImage or AlgorithmName"
        )
    if "TrainingImage" in algorithm:
        yield from _objective_metric_problems(path, definition, algorithm, config)
    channels = [(i, c.get("ChannelName")) for i, c in items(definition.get("InputDataConfig"))]
    seen: set[Any] = set()
    for i, name in channels:
        if isinstance(name, str) and name in seen:
            yield Problem(f"{path}.InputDataConfig[{i}].ChannelName", f"duplicates channel name {name!r}")
        seen.add(name)


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
        yield Problem(
            f"{objective_path}.MetricName",
            f"must be one of the MetricDefinitions names of {path}.AlgorithmSpecification: "
            + ", ".join(str(n) for n in names),
        )


# ---- warm start and tags


def _warm_start_problems(request: Mapping[str, Any]) -> Iterator[Problem]:
    warm_start = mapping(request.get("WarmStartConfig"))
    own_name = request.get("HyperParameterTuningJobName")
    seen: set[str] = set()
    for i, parent in items(warm_start.get("ParentHyperParameterTuningJobs")):
        path = f"WarmStartConfig.ParentHyperParameterTuningJobs[{i}].HyperParameterTuningJobName"
        name = parent.get("HyperParameterTuningJobName")
        if name is None:
            yield Problem(path, "is required")
        if not isinstance(name, str):
            continue
        # tuning job names are case-insensitive
        if name.lower() in seen:
            yield Problem(path, f"duplicates parent {name!r} (names are case-insensitive)")
        if isinstance(own_name, str) and name.lower() == own_name.lower():
            yield Problem(path, "cannot be the new tuning job itself")
        seen.add(name.lower())


def _tag_problems(tags: Any) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, tag in items(tags):
        key = tag.get("Key")
        if not isinstance(key, str):
            continue
        if key in seen:
            yield Problem(f"Tags[{i}].Key", f"duplicates tag key {key!r}")
        if key.lower().startswith("aws:"):
            yield Problem(f"Tags[{i}].Key", "must not start with 'aws:' (reserved for AWS)")
        seen.add(key)
