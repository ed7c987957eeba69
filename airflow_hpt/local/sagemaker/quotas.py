"""The account quotas the local backend enforces at CreateHyperParameterTuningJob (all settable).

SageMaker answers ``ResourceLimitExceeded`` at Create, naming the quota, its value and the current
utilization; these do the same. Training instances are reserved for a tuning job from Create until
it ends: MaxParallelTrainingJobs (at most MaxNumberOfTrainingJobs) x the most instances one of its
training jobs can use. A Create whose reservation does not fit is refused, as SageMaker refuses a
request delta over an instance quota, instead of queueing training jobs behind other tuning jobs.
The engine then never runs more instances than the quota allows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_hpt.budget import definitions_of, max_training_jobs

# SageMaker's defaults (design notes): concurrent tuning jobs, parallel training jobs per tuning job
DEFAULT_MAX_CONCURRENT_TUNING_JOBS = 100
DEFAULT_MAX_PARALLEL_TRAINING_JOBS = 10

ACTIVE_STATUSES = ("InProgress", "Stopping")


@dataclass(frozen=True)
class Quotas:
    """``max_training_instances`` None: no limit on instances across all training jobs."""

    max_concurrent_tuning_jobs: int = DEFAULT_MAX_CONCURRENT_TUNING_JOBS
    max_parallel_training_jobs: int = DEFAULT_MAX_PARALLEL_TRAINING_JOBS
    max_training_instances: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_concurrent_tuning_jobs", "max_parallel_training_jobs", "max_training_instances"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")

    def request_refusal(self, request: Mapping[str, Any]) -> str | None:
        """What refuses the request whatever else runs, or None."""
        parallel = request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxParallelTrainingJobs"]
        if parallel > self.max_parallel_training_jobs:
            return (
                f"MaxParallelTrainingJobs {parallel} exceeds the account quota of "
                f"{self.max_parallel_training_jobs} parallel training jobs per tuning job"
            )
        return None

    def capacity_refusal(self, request: Mapping[str, Any], active: Iterable[Mapping[str, Any]]) -> str | None:
        """What refuses the request next to the ``active`` (InProgress, Stopping) tuning jobs, or None."""
        active = list(active)
        if len(active) >= self.max_concurrent_tuning_jobs:
            return (
                "The account-level service limit 'Number of concurrent hyperparameter tuning jobs' is "
                f"{self.max_concurrent_tuning_jobs} jobs, with current utilization of {len(active)} jobs"
            )
        if self.max_training_instances is None:
            return None
        utilization = sum(reserved_instances(job) for job in active)
        delta = reserved_instances(request)
        if utilization + delta > self.max_training_instances:
            return (
                "The account-level service limit 'Number of instances across all training jobs' is "
                f"{self.max_training_instances} Instances, with current utilization of {utilization} "
                f"Instances and a request delta of {delta} Instances"
            )
        return None


def reserved_instances(request: Mapping[str, Any]) -> int:
    """The most instances a tuning job's training jobs can use at once."""
    limits = request["HyperParameterTuningJobConfig"]["ResourceLimits"]
    jobs, _source = max_training_jobs(request)
    at_once = int(limits["MaxParallelTrainingJobs"])
    if jobs is not None:
        at_once = min(at_once, jobs)
    widest = max(
        sum(group.count for group in option)
        for definition in definitions_of(request)
        for option in definition.options
    )
    return at_once * widest
