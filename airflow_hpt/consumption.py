"""What a tuning job consumed: training seconds, instance-hours and, given prices, cost. No Airflow import.

Each training job counts for its BillableTimeInSeconds when SageMaker reports it (DescribeTrainingJob;
with managed spot training it is the time actually billed), otherwise for the wall-clock time from
TrainingStartTime to TrainingEndTime (to now while it runs). Instance-hours are those seconds times
the job's InstanceCount, as SageMaker bills them. Each figure says how many jobs were counted which way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from airflow_hpt.definitions import training_job_definitions

BILLABLE = "billable"  # BillableTimeInSeconds, as SageMaker bills it
WALL_CLOCK = "wall_clock"  # TrainingEndTime - TrainingStartTime
RUNNING = "running"  # now - TrainingStartTime: grows until the job ends


@dataclass(frozen=True)
class TrainingUsage:
    """One training job's share: its seconds, how they were measured, and its instances."""

    seconds: float
    basis: str
    instance_type: str | None
    instance_count: int


def as_datetime(value: Any) -> datetime | None:
    """A boto3 datetime, epoch seconds (the JSON protocol's timestamps) or an ISO string, in UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def resource_config_of(
    tuning_describe: Mapping[str, Any], definition_name: str | None
) -> tuple[str | None, int]:
    """(instance type, count) a training job of this tuning job runs on, as its definition says.

    None as the type when the definition leaves the choice to SageMaker (several InstanceConfigs):
    then only the training job's own ResourceConfig tells.
    """
    definitions = [definition for _path, definition in training_job_definitions(tuning_describe)] or [{}]
    definition = next(
        (item for item in definitions if item.get("DefinitionName") == definition_name), definitions[0]
    )
    config = definition.get("ResourceConfig") or {}
    if config.get("InstanceType"):
        return config["InstanceType"], int(config.get("InstanceCount", 1))
    choices = (definition.get("HyperParameterTuningResourceConfig") or {}).get("InstanceConfigs") or []
    if len(choices) == 1:
        return choices[0].get("InstanceType"), int(choices[0].get("InstanceCount", 1))
    return None, int(config.get("InstanceCount", 1))


def usage_of(
    summary: Mapping[str, Any],
    tuning_describe: Mapping[str, Any],
    training_describe: Mapping[str, Any] | None,
    now: datetime,
) -> TrainingUsage | None:
    """A training job's usage from its summary (ListTrainingJobsForHyperParameterTuningJob) and, when
    read, its DescribeTrainingJob; None when it has not started training (nothing consumed yet)."""
    detail = training_describe or {}
    instance_type, instance_count = resource_config_of(
        tuning_describe, summary.get("TrainingJobDefinitionName")
    )
    resources = detail.get("ResourceConfig") or {}
    if resources.get("InstanceType"):
        instance_type = resources["InstanceType"]
        instance_count = int(resources.get("InstanceCount", instance_count))
    billable = detail.get("BillableTimeInSeconds")
    if billable is not None:
        return TrainingUsage(float(billable), BILLABLE, instance_type, instance_count)
    start = as_datetime(detail.get("TrainingStartTime") or summary.get("TrainingStartTime"))
    if start is None:
        return None
    end = as_datetime(detail.get("TrainingEndTime") or summary.get("TrainingEndTime"))
    if end is None and summary.get("TrainingJobStatus") != "InProgress":
        return None  # ended without an end time: nothing to measure it by
    basis = RUNNING if end is None else WALL_CLOCK
    seconds = max(0.0, ((end or now) - start).total_seconds())
    return TrainingUsage(seconds, basis, instance_type, instance_count)


def consumption(
    usages: Iterable[TrainingUsage], instance_prices: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """The totals, JSON-safe: ``cost`` is None without prices, or when a job's instance type has none
    (``unpriced_instance_types`` then names them)."""
    training_seconds = 0.0
    hours_by_type: dict[str | None, float] = {}
    jobs_by_basis = {BILLABLE: 0, WALL_CLOCK: 0, RUNNING: 0}
    for usage in usages:
        training_seconds += usage.seconds
        hours = usage.seconds * usage.instance_count / 3600
        hours_by_type[usage.instance_type] = hours_by_type.get(usage.instance_type, 0.0) + hours
        jobs_by_basis[usage.basis] += 1
    cost: float | None = None
    unpriced: list[str] = []
    if instance_prices is not None:
        unpriced = sorted(str(kind) for kind in hours_by_type if kind not in instance_prices)
        if not unpriced:
            cost = round(sum(hours * instance_prices[str(kind)] for kind, hours in hours_by_type.items()), 4)
    return {
        "training_seconds": round(training_seconds, 1),
        "instance_hours": round(sum(hours_by_type.values()), 4),
        "cost": cost,
        "unpriced_instance_types": unpriced,
        "instance_hours_by_type": {
            str(kind): round(hours, 4) for kind, hours in sorted(hours_by_type.items(), key=str)
        },
        "jobs_by_basis": jobs_by_basis,
    }
