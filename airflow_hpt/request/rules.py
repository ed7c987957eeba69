"""Cross-field rules of CreateHyperParameterTuningJob (SageMaker's API reference and developer
guide): what the service model alone cannot express."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from airflow_hpt.definitions import training_job_definitions
from airflow_hpt.exceptions import Problem
from airflow_hpt.request.coerce import NotCoercible, to_integer
from airflow_hpt.request.definitions import definition_problems
from airflow_hpt.request.evidence import problem
from airflow_hpt.request.model import CONFIG, is_number, items, mapping
from airflow_hpt.request.ranges import RANGE_KINDS, range_set_problems, range_sets

_HYPERBAND_MAX_RESOURCE = 20000
# The static hyperparameters Hyperband infers MaxResource from (HyperbandStrategyConfig.MaxResource).
_EPOCH_HYPERPARAMETERS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")

Definitions = list[tuple[str, Mapping[str, Any]]]


def cross_field_problems(request: Mapping[str, Any], *, target_is_aws: bool = False) -> list[Problem]:
    """Every cross-field problem; ``target_is_aws`` adds the rules that hold only on AWS itself."""
    config = mapping(request.get("HyperParameterTuningJobConfig"))
    definitions = list(training_job_definitions(request))
    problems = [
        *_definition_choice(request),
        *_strategy_problems(config, definitions),
        *_resource_limit_problems(config, definitions),
        *_tuning_essentials(request, definitions),
        *_warm_start_problems(request),
        *_tag_problems(request.get("Tags")),
    ]
    for range_path, ranges, static in range_sets(config, definitions):
        problems.extend(range_set_problems(range_path, ranges, static))
    for definition_path, definition in definitions:
        problems.extend(definition_problems(definition_path, definition, config, target_is_aws=target_is_aws))
    problems.extend(_definition_name_problems(definitions))
    return problems


def _definition_choice(request: Mapping[str, Any]) -> Iterator[Problem]:
    single, multiple = "TrainingJobDefinition" in request, "TrainingJobDefinitions" in request
    if single and multiple:
        yield problem(
            "one-definition-kind",
            "TrainingJobDefinitions",
            "cannot be given together with TrainingJobDefinition: use one",
        )
    elif not single and not multiple:
        yield problem(
            "one-definition-kind",
            "TrainingJobDefinition",
            "is required (or TrainingJobDefinitions for several algorithms)",
        )


def _definition_name_problems(definitions: list[tuple[str, Mapping[str, Any]]]) -> Iterator[Problem]:
    seen: set[str] = set()
    for path, definition in definitions:
        name = definition.get("DefinitionName")
        if isinstance(name, str):
            if name in seen:
                yield problem(
                    "definition-name-unique", f"{path}.DefinitionName", f"duplicates definition name {name!r}"
                )
            seen.add(name)


# ---- strategy and limits


def _strategy_problems(config: Mapping[str, Any], definitions: Definitions) -> Iterator[Problem]:
    strategy = config.get("Strategy")
    hyperband = mapping(mapping(config.get("StrategyConfig")).get("HyperbandStrategyConfig"))
    if "StrategyConfig" in config and isinstance(strategy, str) and strategy != "Hyperband":
        yield problem(
            "strategy-config-hyperband-only",
            f"{CONFIG}.StrategyConfig",
            f"applies only to the Hyperband strategy (Strategy is {strategy}); SageMaker accepts it",
        )
    if strategy == "Hyperband":
        yield from _hyperband_problems(config, hyperband, definitions)
    if strategy == "Grid":
        yield from _grid_problems(config, definitions)


def _hyperband_problems(
    config: Mapping[str, Any], hyperband: Mapping[str, Any], definitions: Definitions
) -> Iterator[Problem]:
    early_stopping = config.get("TrainingJobEarlyStoppingType")
    if early_stopping is not None and early_stopping != "Off":
        yield problem(
            "hyperband-early-stopping-off",
            f"{CONFIG}.TrainingJobEarlyStoppingType",
            "must be Off with the Hyperband strategy",
        )
    path = f"{CONFIG}.StrategyConfig.HyperbandStrategyConfig"
    low, high = hyperband.get("MinResource"), hyperband.get("MaxResource")
    if is_number(high) and high > _HYPERBAND_MAX_RESOURCE:
        yield problem(
            "hyperband-max-resource-limit",
            f"{path}.MaxResource",
            f"must be at most {_HYPERBAND_MAX_RESOURCE} (got {high})",
        )
    if is_number(low) and is_number(high) and low > high:
        yield problem(
            "hyperband-min-below-max", f"{path}.MinResource", f"must be at most MaxResource ({high})"
        )
    if "StrategyConfig" in config and not isinstance(config["StrategyConfig"], Mapping):
        return  # wrongly typed: already reported
    if "MaxResource" not in hyperband:
        yield from _inferred_max_resource_problems(f"{path}.MaxResource", definitions)


def _inferred_max_resource_problems(max_resource_path: str, definitions: Definitions) -> Iterator[Problem]:
    """Without MaxResource, Hyperband infers it from an epochs static hyperparameter of each definition."""
    for path, definition in definitions:
        static = mapping(definition.get("StaticHyperParameters"))
        key = next((key for key in _EPOCH_HYPERPARAMETERS if key in static), None)
        if key is None:
            yield problem(
                "hyperband-max-resource-inferable",
                max_resource_path,
                f"is required: Hyperband cannot infer it, {path}.StaticHyperParameters has none of "
                + ", ".join(_EPOCH_HYPERPARAMETERS),
            )
            continue
        try:
            epochs = to_integer(static[key])
        except NotCoercible:
            epochs = 0
        if not 1 <= epochs <= _HYPERBAND_MAX_RESOURCE:
            yield problem(
                "hyperband-max-resource-inferable",
                f"{path}.StaticHyperParameters.{key}",
                f"must be a whole number from 1 to {_HYPERBAND_MAX_RESOURCE}: Hyperband infers "
                f"MaxResource from it (got {static[key]!r})",
            )


def _grid_problems(config: Mapping[str, Any], definitions: Definitions) -> Iterator[Problem]:
    for path, ranges, _static in range_sets(config, definitions):
        for kind in ("IntegerParameterRanges", "ContinuousParameterRanges"):
            if items(ranges.get(kind)):
                yield problem(
                    "grid-categorical-only",
                    f"{path}.{kind}",
                    "the Grid strategy takes categorical ranges only",
                )
    combinations = _categorical_combinations(config, definitions)
    limit = mapping(config.get("ResourceLimits")).get("MaxNumberOfTrainingJobs")
    if is_number(limit) and combinations and limit < combinations:
        yield problem(
            "grid-max-jobs-combinations",
            f"{CONFIG}.ResourceLimits.MaxNumberOfTrainingJobs",
            f"is below the number of Grid combinations ({combinations}); leave it out to run them all "
            f"(got {limit})",
        )


def _categorical_combinations(config: Mapping[str, Any], definitions: Definitions) -> int:
    """The number of distinct value combinations, summed over the range sets; 0 when any range
    set searches more than categorical values (its count is not finite or not SageMaker's to tell)."""
    combinations = 0
    for _path, ranges, _static in range_sets(config, definitions):
        if any(items(ranges.get(kind)) for kind in (*RANGE_KINDS[:2], "AutoParameters")):
            return 0
        counts = [
            _distinct_count(entry.get("Values"))
            for _i, entry in items(ranges.get("CategoricalParameterRanges"))
        ]
        combinations += math.prod(counts) if counts else 0
    return combinations


def _distinct_count(values: Any) -> int:
    return len({v for v in values if isinstance(v, str)}) if isinstance(values, list | tuple) else 0


def _resource_limit_problems(config: Mapping[str, Any], definitions: Definitions) -> Iterator[Problem]:
    limits = mapping(config.get("ResourceLimits"))
    parallel, total = limits.get("MaxParallelTrainingJobs"), limits.get("MaxNumberOfTrainingJobs")
    if is_number(parallel) and is_number(total) and parallel > total:
        yield problem(
            "parallel-within-max-jobs",
            f"{CONFIG}.ResourceLimits.MaxParallelTrainingJobs",
            f"must be at most MaxNumberOfTrainingJobs ({total})",
        )
    combinations = _categorical_combinations(config, definitions)
    if is_number(total) and combinations and total > combinations:
        yield problem(
            "enough-combinations",
            f"{CONFIG}.ResourceLimits.MaxNumberOfTrainingJobs",
            f"must be at most the number of combinations of the categorical ranges ({combinations}) "
            f"(got {total})",
        )


# ---- what every tuning job needs: an objective, ranges to search, a budget


def _tuning_essentials(request: Mapping[str, Any], definitions: Definitions) -> Iterator[Problem]:
    config = request.get(CONFIG)
    if not isinstance(config, Mapping):
        return  # missing or wrongly typed: already reported
    autotune = "Autotune" in request
    # with both kinds of definition given, which ones need an objective and ranges is unclear
    if not ("TrainingJobDefinition" in request and "TrainingJobDefinitions" in request):
        yield from _objective_presence_problems(config, definitions)
        # Autotune chooses the ranges itself (API reference, CreateHyperParameterTuningJob.Autotune)
        if not autotune:
            yield from _range_presence_problems(config, definitions)
    for path, ranges, _static in range_sets(config, definitions):
        if "AutoParameters" in ranges and not autotune:
            yield problem(
                "auto-parameters-with-autotune",
                f"{path}.AutoParameters",
                "is meant for Autotune (Mode Enabled), which the request does not enable; SageMaker accepts it",
            )
    limits = config.get("ResourceLimits")
    strategy = config.get("Strategy")
    # Grid derives the budget from its combinations; Autotune chooses ResourceLimits itself
    if (
        isinstance(limits, Mapping)
        and "MaxNumberOfTrainingJobs" not in limits
        and isinstance(strategy, str)
        and strategy != "Grid"
        and not autotune
    ):
        yield problem(
            "max-jobs-given",
            f"{CONFIG}.ResourceLimits.MaxNumberOfTrainingJobs",
            f"is not given with the {strategy} strategy: SageMaker accepts this and chooses the limit, "
            "so the number of training jobs (and the cost) is not bounded by the request",
        )


def _objective_presence_problems(config: Mapping[str, Any], definitions: Definitions) -> Iterator[Problem]:
    """A tuning job ranks its training jobs by an objective metric: each definition needs one, its
    own TuningObjective or the config's HyperParameterTuningJobObjective."""
    if "HyperParameterTuningJobObjective" in config:
        return
    for path, definition in definitions:
        if "TuningObjective" in definition:
            continue
        if path == "TrainingJobDefinition":
            yield problem(
                "objective-given",
                f"{CONFIG}.HyperParameterTuningJobObjective",
                "is required: the tuning job ranks its training jobs by this metric",
            )
        else:
            yield problem(
                "objective-given",
                f"{path}.TuningObjective",
                f"is required (or {CONFIG}.HyperParameterTuningJobObjective): the tuning job ranks "
                "its training jobs by this metric",
            )


def _range_presence_problems(config: Mapping[str, Any], definitions: Definitions) -> Iterator[Problem]:
    """Each definition searches at least one range: its HyperParameterRanges, else the config's."""
    reported: set[str] = set()  # several definitions may share the config's ranges
    for path, definition in definitions:
        if "HyperParameterRanges" in definition:
            ranges, ranges_path = definition["HyperParameterRanges"], f"{path}.HyperParameterRanges"
        elif "ParameterRanges" in config:
            ranges, ranges_path = config["ParameterRanges"], f"{CONFIG}.ParameterRanges"
        else:
            where = (
                f"{CONFIG}.ParameterRanges"
                if path == "TrainingJobDefinition"
                else f"{path}.HyperParameterRanges"
            )
            yield problem(
                "ranges-given",
                where,
                "is required: a tuning job needs at least one hyperparameter range to search",
            )
            continue
        if not isinstance(ranges, Mapping) or ranges_path in reported:
            continue  # wrongly typed (already reported), or reported for another definition
        reported.add(ranges_path)
        if not any(items(ranges.get(kind)) for kind in (*RANGE_KINDS, "AutoParameters")):
            yield problem(
                "ranges-given",
                ranges_path,
                "must hold at least one range (IntegerParameterRanges, ContinuousParameterRanges, "
                "CategoricalParameterRanges or AutoParameters)",
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
            yield problem("warm-start-parent-named", path, "is required")
        if not isinstance(name, str):
            continue
        # tuning job names are case-insensitive
        if name.lower() in seen:
            yield problem(
                "warm-start-parent-unique", path, f"duplicates parent {name!r} (names are case-insensitive)"
            )
        if isinstance(own_name, str) and name.lower() == own_name.lower():
            yield problem("warm-start-parent-unique", path, "cannot be the new tuning job itself")
        seen.add(name.lower())


def _tag_problems(tags: Any) -> Iterator[Problem]:
    seen: set[str] = set()
    for i, tag in items(tags):
        key = tag.get("Key")
        if not isinstance(key, str):
            continue
        if key in seen:
            yield problem("tag-key-unique", f"Tags[{i}].Key", f"duplicates tag key {key!r}")
        if key.lower().startswith("aws:"):
            yield problem(
                "tag-key-not-aws", f"Tags[{i}].Key", "must not start with 'aws:' (reserved for AWS)"
            )
        seen.add(key)
