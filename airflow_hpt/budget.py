"""The worst case a tuning request can spend, in instance-hours or in money. No Airflow or boto3 import.

The bound is the smaller of two, each an upper bound on its own:

- by training jobs: MaxNumberOfTrainingJobs x the costliest definition's instances x its
  StoppingCondition.MaxRuntimeInSeconds (SageMaker's default when unset) x its attempts
  (1 + RetryStrategy.MaximumRetryAttempts) / 3600. With several definitions, the tuner chooses which
  one each job runs, so every job may run the costliest one.
- by the tuning job's runtime, when ResourceLimits.MaxRuntimeInSeconds is set: at most
  min(MaxParallelTrainingJobs, MaxNumberOfTrainingJobs) jobs run at once, none past that limit.

Instances per job: ResourceConfig (InstanceCount, or the sum of its InstanceGroups) or
HyperParameterTuningResourceConfig (InstanceCount, or the costliest of its InstanceConfigs, since
SageMaker may fall back to any of them). Warm-start parents' jobs have run already: they add nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_hpt.definitions import training_job_definitions
from airflow_hpt.exceptions import BudgetError, BudgetExceeded
from airflow_hpt.request.defaults import DEFAULT_MAX_RUNTIME_SECONDS
from airflow_hpt.request.model import CONFIG, items, mapping
from airflow_hpt.request.ranges import range_sets

LIMITS = f"{CONFIG}.ResourceLimits"


@dataclass(frozen=True)
class Instances:
    """Instances of one type that a training job runs on; ``path``: the object giving them."""

    path: str
    instance_type: str | None
    count: int


@dataclass(frozen=True)
class Definition:
    """What one training job of a definition may use at worst."""

    path: str
    # each option is one way SageMaker may provision a job (InstanceConfigs); groups add up
    options: tuple[tuple[Instances, ...], ...]
    runtime_seconds: int
    runtime_source: str
    attempts: int


@dataclass(frozen=True)
class Worst:
    """A worst case and how it was reached, one line per factor."""

    value: float
    unit: str
    lines: tuple[str, ...]

    def __str__(self) -> str:
        return "\n".join(self.lines)


class _Measure:
    """Instance-hours (weight 1 per instance) or money (the instance type's price per hour)."""

    def __init__(self, prices: Mapping[str, float] | None) -> None:
        self.prices = prices

    @property
    def unit(self) -> str:
        return "instance-hours" if self.prices is None else "at instance_prices"

    def per_hour(self, option: tuple[Instances, ...]) -> float:
        return sum(group.count * self._price(group) for group in option)

    def describe(self, option: tuple[Instances, ...]) -> str:
        if self.prices is None:
            count = sum(group.count for group in option)
            paths = ", ".join(f"{group.path}.InstanceCount" for group in option)
            return f"{count} instance(s) ({paths})"
        return " + ".join(
            f"{group.count} x {group.instance_type} at {self._price(group):g}/h ({group.path})"
            for group in option
        )

    def _price(self, group: Instances) -> float:
        if self.prices is None:
            return 1.0
        if group.instance_type is None:
            raise BudgetError(f"{group.path}.InstanceType: not given, so it has no price")
        if group.instance_type not in self.prices:
            raise BudgetError(
                f"instance_prices has no price for {group.instance_type} ({group.path}.InstanceType); "
                f"priced: {', '.join(sorted(self.prices)) or 'none'}"
            )
        return float(self.prices[group.instance_type])


def worst_instance_hours(request: Mapping[str, Any]) -> Worst:
    """The most instance-hours the (valid) request can use."""
    return _worst(request, _Measure(None))


def worst_cost(request: Mapping[str, Any], instance_prices: Mapping[str, float]) -> Worst:
    """The most the request can cost at ``instance_prices`` (per instance-hour, by instance type)."""
    for instance_type, price in instance_prices.items():
        if not isinstance(price, int | float) or isinstance(price, bool) or price < 0:
            raise BudgetError(f"instance_prices[{instance_type!r}]: must be a number >= 0, got {price!r}")
    return _worst(request, _Measure(instance_prices))


def check_budget(
    request: Mapping[str, Any],
    *,
    max_instance_hours: float | None = None,
    max_cost: float | None = None,
    instance_prices: Mapping[str, float] | None = None,
) -> list[Worst]:
    """The worst cases asked for; BudgetExceeded, giving the computation, when one is over its cap."""
    if max_cost is not None and instance_prices is None:
        raise BudgetError("max_cost needs instance_prices (no price is built in)")
    found: list[Worst] = []
    if max_instance_hours is not None:
        found.append(_capped(worst_instance_hours(request), max_instance_hours, "max_instance_hours"))
    if instance_prices is not None:
        cost = worst_cost(request, instance_prices)
        found.append(cost if max_cost is None else _capped(cost, max_cost, "max_cost"))
    return found


def _capped(worst: Worst, cap: float, name: str) -> Worst:
    # equal up to float rounding (0.115 x 10 is 1.1500000000000001) is within the cap
    if worst.value > cap and not math.isclose(worst.value, cap):
        raise BudgetExceeded(
            f"The tuning request's worst case is {worst.value:g} {worst.unit}, over {name}={cap:g}; no tuning job "
            f"was created.\n{worst}\nLower MaxNumberOfTrainingJobs, the instances or "
            "StoppingCondition.MaxRuntimeInSeconds, set ResourceLimits.MaxRuntimeInSeconds, or raise the cap."
        )
    return worst


def definitions_of(request: Mapping[str, Any]) -> list[Definition]:
    found = []
    for path, definition in training_job_definitions(request):
        stopping = mapping(definition.get("StoppingCondition"))
        if "MaxRuntimeInSeconds" in stopping:
            runtime = int(stopping["MaxRuntimeInSeconds"])
            source = f"{path}.StoppingCondition.MaxRuntimeInSeconds"
        else:
            runtime, source = (
                DEFAULT_MAX_RUNTIME_SECONDS,
                "SageMaker's default StoppingCondition.MaxRuntimeInSeconds",
            )
        retries = int(mapping(definition.get("RetryStrategy")).get("MaximumRetryAttempts", 0))
        found.append(Definition(path, _options(path, definition), runtime, source, 1 + retries))
    if not found:
        raise BudgetError("the request has no training job definition")
    return found


def _options(path: str, definition: Mapping[str, Any]) -> tuple[tuple[Instances, ...], ...]:
    tuning_resources = mapping(definition.get("HyperParameterTuningResourceConfig"))
    if tuning_resources:
        where = f"{path}.HyperParameterTuningResourceConfig"
        configs = items(tuning_resources.get("InstanceConfigs"))
        if configs:
            return tuple((_instances(f"{where}.InstanceConfigs[{i}]", config),) for i, config in configs)
        return ((_instances(where, tuning_resources),),)
    resources = mapping(definition.get("ResourceConfig"))
    where = f"{path}.ResourceConfig"
    groups = items(resources.get("InstanceGroups"))
    if groups:
        return (tuple(_instances(f"{where}.InstanceGroups[{i}]", group) for i, group in groups),)
    return ((_instances(where, resources),),)


def _instances(path: str, config: Mapping[str, Any]) -> Instances:
    # SageMaker runs one instance when InstanceCount is left out
    return Instances(path, config.get("InstanceType"), int(config.get("InstanceCount", 1)))


def max_training_jobs(request: Mapping[str, Any]) -> tuple[int | None, str]:
    """The most training jobs the tuning job launches, and where that comes from (None: unbounded)."""
    config = mapping(request.get(CONFIG))
    limit = mapping(config.get("ResourceLimits")).get("MaxNumberOfTrainingJobs")
    if limit is not None:
        return int(limit), f"MaxNumberOfTrainingJobs {int(limit)}"
    if config.get("Strategy") == "Grid":
        combinations = 0
        for _path, ranges, _static in range_sets(config, list(training_job_definitions(request))):
            counts = [
                len(set(entry.get("Values") or []))
                for _i, entry in items(ranges.get("CategoricalParameterRanges"))
            ]
            combinations += math.prod(counts) if counts else 0
        return combinations, f"{combinations} Grid combinations"
    return None, "MaxNumberOfTrainingJobs unset"


def _worst(request: Mapping[str, Any], measure: _Measure) -> Worst:
    definitions = definitions_of(request)
    limits = mapping(mapping(request.get(CONFIG)).get("ResourceLimits"))
    jobs, jobs_source = max_training_jobs(request)
    candidates: list[tuple[float, str]] = []
    lines = []
    if len(definitions) > 1:
        for definition in definitions:
            per_job = _per_job(definition, measure)
            lines.append(
                f"  one job of {definition.path}: {_job_factors(definition, measure)} / 3600 = {per_job:g}"
            )
    if jobs is not None:
        costliest = max(definitions, key=lambda definition: _per_job(definition, measure))
        value = jobs * _per_job(costliest, measure)
        candidates.append(
            (
                value,
                f"by training jobs: {jobs_source} x {_job_factors(costliest, measure)} / 3600 = {value:g}",
            )
        )
    tuning_runtime = limits.get("MaxRuntimeInSeconds")
    if tuning_runtime is not None:
        parallel = int(limits.get("MaxParallelTrainingJobs", 1))
        at_once = parallel if jobs is None else min(parallel, jobs)
        widest = max((option for d in definitions for option in d.options), key=measure.per_hour)
        value = at_once * measure.per_hour(widest) * int(tuning_runtime) / 3600
        candidates.append(
            (
                value,
                f"by tuning job runtime: {at_once} job(s) at once (MaxParallelTrainingJobs {parallel}"
                + ("" if jobs is None else f", {jobs_source}")
                + f") x {measure.describe(widest)} x {int(tuning_runtime)} s "
                f"({LIMITS}.MaxRuntimeInSeconds) / 3600 = {value:g}",
            )
        )
    if not candidates:
        raise BudgetError(
            f"{LIMITS}: the budget has no bound; set MaxNumberOfTrainingJobs or MaxRuntimeInSeconds"
        )
    value = min(bound for bound, _line in candidates)
    header = (
        f"Worst case: {value:g} {measure.unit}, the smaller of:"
        if len(candidates) > 1
        else (f"Worst case: {value:g} {measure.unit}:")
    )
    return Worst(value, measure.unit, (header, *(f"  {line}" for _v, line in candidates), *lines))


def _per_job(definition: Definition, measure: _Measure) -> float:
    """One training job's worst case, in hours of the measure."""
    widest = max(measure.per_hour(option) for option in definition.options)
    return widest * definition.runtime_seconds * definition.attempts / 3600


def _job_factors(definition: Definition, measure: _Measure) -> str:
    widest = max(definition.options, key=measure.per_hour)
    attempts = (
        f" x {definition.attempts} attempts ({definition.path}.RetryStrategy.MaximumRetryAttempts + 1)"
        if definition.attempts > 1
        else ""
    )
    return (
        f"{measure.describe(widest)} x {definition.runtime_seconds} s ({definition.runtime_source}){attempts}"
    )
