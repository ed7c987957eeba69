"""The records of tuning jobs and their training jobs: summaries, counters, changes.

Pure functions of the records (no threads, no processes), used by the tuning scheduler
(:mod:`airflow_hpt.local.tuning.engine`) and the API.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_hpt.local.state import store as kinds
from airflow_hpt.local.state.records import Record, Stored, TrainingJob, TrainingJobBook, TuningJob
from airflow_hpt.local.training.runner import TrainingSpec
from airflow_hpt.local.tuning.answers import DEFAULT_MAX_RUNTIME_SECONDS, training_resource_config
from airflow_hpt.statuses import TRAINING_JOB_ENDED

INTERRUPTED = (
    "InternalServerError: the local SageMaker backend stopped while this training job ran; "
    "the tuning job launches a replacement when the backend starts again"
)


def objective_of(job: Mapping[str, Any], definition: Mapping[str, Any]) -> dict[str, Any]:
    objective = definition.get("TuningObjective") or job["HyperParameterTuningJobConfig"].get(
        "HyperParameterTuningJobObjective"
    )
    return dict(objective or {})


def training_job_summary(job: TrainingJob, objective: Mapping[str, Any]) -> dict[str, Any]:
    """A training job as HyperParameterTrainingJobSummary."""
    record, book = job.fields, job.book
    summary: dict[str, Any] = {
        "TrainingJobName": record["TrainingJobName"],
        "TrainingJobArn": record["TrainingJobArn"],
        "TuningJobName": book.tuning_job_name,
        "CreationTime": record["CreationTime"],
        "TrainingJobStatus": record["TrainingJobStatus"],
        "TunedHyperParameters": book.tuned,
        "ObjectiveStatus": book.objective_status,
    }
    if book.definition_name:
        summary["TrainingJobDefinitionName"] = book.definition_name
    for field in ("TrainingStartTime", "TrainingEndTime", "FailureReason"):
        if field in record:
            summary[field] = record[field]
    if book.objective_value is not None:
        summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
            "Type": book.objective_type or objective.get("Type", "Minimize"),
            "MetricName": book.objective_metric or objective.get("MetricName", ""),
            "Value": book.objective_value,
        }
    return summary


def launched_by(jobs: Iterable[TrainingJob], definition: Mapping[str, Any]) -> int:
    """How many of a tuning job's training jobs ``definition`` launched (interrupted ones too)."""
    return sum(1 for job in jobs if job.book.definition_name == definition.get("DefinitionName"))


def better(value: float, than: float | None, objective_type: str) -> bool:
    if than is None:
        return True
    return value > than if objective_type == "Maximize" else value < than


def status_counters(jobs: Sequence[TrainingJob]) -> dict[str, int]:
    counters = {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0}
    for job in jobs:
        status = job.fields["TrainingJobStatus"]
        if job.book.retryable:
            counters["RetryableError"] += 1
        elif status == "Failed":
            counters["NonRetryableError"] += 1
        elif status in ("InProgress", "Stopping"):
            counters["InProgress"] += 1
        else:
            counters[status] += 1
    return counters


def objective_counters(jobs: Sequence[TrainingJob]) -> dict[str, int]:
    counters = {"Succeeded": 0, "Pending": 0, "Failed": 0}
    for job in jobs:
        counters[job.book.objective_status] += 1
    return counters


def set_fields(**fields: Any) -> Callable[[Record], None]:
    def change(record: Record) -> None:
        record.update(fields)

    return change


def failed_without_outcome(reason: str, *, interrupted: bool) -> Callable[[TrainingJob], None]:
    """A training job that ended with no outcome from its process: Failed.

    ``interrupted``: the backend went down under it; a RetryableError, not counted in the budget.
    """

    def change(job: TrainingJob) -> None:
        now = time.time()
        job.fields.update(
            TrainingJobStatus="Failed",
            SecondaryStatus="Interrupted" if interrupted else "Failed",
            FailureReason=reason,
            TrainingEndTime=now,
            LastModifiedTime=now,
        )
        job.book.objective_status = "Failed"
        job.book.objective_value = None
        if interrupted:
            job.book.retryable = True

    return change


interrupted = failed_without_outcome(INTERRUPTED, interrupted=True)


def banked(runtime: float) -> Callable[[TuningJob], None]:
    """The runtime a tuning job has consumed, kept across a stop of the backend."""

    def change(job: TuningJob) -> None:
        job.book.runtime_seconds = runtime

    return change


# The local convergence rule (ConvergenceDetected): SageMaker defines convergence as "a lack of
# significant improvement (1% or less) against an objective metric" and keeps its exact criteria to
# itself. Here: once at least CONVERGENCE_MIN_JOBS training jobs have an objective value, the best of
# them improves on the best of the first half of them (in launch order) by 1 % or less.
CONVERGENCE_MIN_JOBS = 10
SIGNIFICANT_IMPROVEMENT = 0.01


def converged(values: Sequence[float], objective_type: str) -> bool:
    """Whether the objective values, in launch order, meet the local convergence rule."""
    if len(values) < CONVERGENCE_MIN_JOBS:
        return False
    pick = max if objective_type == "Maximize" else min
    earlier, best = pick(values[: (len(values) + 1) // 2]), pick(values)
    return abs(best - earlier) <= SIGNIFICANT_IMPROVEMENT * abs(earlier)


def final_status(jobs: Iterable[TrainingJob]) -> tuple[str, str | None]:
    """A tuning job's status when it ends of itself: Completed once one of its own training jobs
    gave the objective metric, else Failed, and why."""
    own = [job for job in jobs if not job.book.retryable]
    if any(job.book.objective_status == "Succeeded" for job in own):
        return "Completed", None
    failures = [
        job.fields.get("FailureReason", "") for job in own if job.fields["TrainingJobStatus"] == "Failed"
    ]
    reason = f"No training job produced the objective metric ({len(own)} launched, {len(failures)} failed)."
    if failures:
        reason += f" Last failure: {failures[-1]}"
    return "Failed", reason[:1024]


@dataclass(frozen=True)
class Standing:
    """Where a tuning job's own ended training jobs stand, oldest first."""

    best: TrainingJob | None
    best_value: float | None
    not_improving: int  # jobs since the best improved by 1 % or more
    values: list[float]  # the objective's final values


def standing(jobs: Iterable[TrainingJob], objective_type: str) -> Standing:
    """The best job, its value and the not-improving count of the ended, non-retryable jobs."""
    best: TrainingJob | None = None
    best_value: float | None = None
    not_improving = 0
    values: list[float] = []
    for job in sorted(jobs, key=lambda job: job.fields["CreationTime"]):
        if job.fields["TrainingJobStatus"] not in TRAINING_JOB_ENDED or job.book.retryable:
            continue
        value = job.book.objective_value
        if value is not None:
            values.append(value)
        if value is not None and better(value, best_value, objective_type):
            # SageMaker's BestObjectiveNotImproving counts jobs that improve the best by < 1 %
            enough = best_value is None or abs(value - best_value) >= 0.01 * abs(best_value)
            best, best_value = job, value
            not_improving = 0 if enough else not_improving + 1
        else:
            not_improving += 1
    return Standing(best, best_value, not_improving, values)


@dataclass(frozen=True)
class CompletionCriteria:
    """A tuning job's TuningJobCompletionCriteria: when it ends before its budget is used."""

    target: float | None = None
    max_not_improving: int | None = None
    complete_on_convergence: bool = False

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> CompletionCriteria:
        """From HyperParameterTuningJobConfig (wire types)."""
        criteria = config.get("TuningJobCompletionCriteria") or {}
        target = criteria.get("TargetObjectiveMetricValue")
        return cls(
            target=float(target) if target is not None else None,
            max_not_improving=(criteria.get("BestObjectiveNotImproving") or {}).get(
                "MaxNumberOfTrainingJobsNotImproving"
            ),
            complete_on_convergence=(criteria.get("ConvergenceDetected") or {}).get("CompleteOnConvergence")
            == "Enabled",
        )

    def met(
        self, best_value: float | None, objective_type: str, not_improving: int, has_converged: bool
    ) -> str | None:
        """The criterion the job's state meets, or None."""
        if (
            self.target is not None
            and best_value is not None
            and not better(self.target, best_value, objective_type)
        ):
            return "TargetObjectiveMetricValue reached"
        if self.max_not_improving is not None and not_improving >= self.max_not_improving:
            return "BestObjectiveNotImproving"
        if self.complete_on_convergence and has_converged:
            return "ConvergenceDetected"
        return None


def mark_convergence(job: Record) -> None:
    job["TuningJobCompletionDetails"].setdefault("ConvergenceDetectedTime", time.time())


def new_training_job(
    tuning_job: TuningJob, definition: Mapping[str, Any], tuned: Mapping[str, str], name: str, region: str
) -> tuple[TrainingJob, TrainingSpec]:
    """A training job the tuning job launches, as stored, and what the runner needs."""
    job = tuning_job.fields
    objective = objective_of(job, definition)
    hyperparameters = {**(definition.get("StaticHyperParameters") or {}), **tuned}
    algorithm = definition["AlgorithmSpecification"]
    stopping = definition["StoppingCondition"]
    output_path = definition["OutputDataConfig"]["S3OutputPath"]
    now = time.time()
    record: Record = {
        "TrainingJobName": name,
        "TrainingJobArn": kinds.arn_for(region, kinds.TRAINING_JOBS, name),
        "TuningJobArn": job["HyperParameterTuningJobArn"],
        "ModelArtifacts": {"S3ModelArtifacts": f"{output_path.rstrip('/')}/{name}/output/model.tar.gz"},
        "TrainingJobStatus": "InProgress",
        "SecondaryStatus": "Training",
        "HyperParameters": hyperparameters,
        "AlgorithmSpecification": algorithm,
        "InputDataConfig": definition.get("InputDataConfig", []),
        "OutputDataConfig": definition["OutputDataConfig"],
        "StoppingCondition": stopping,
        "CreationTime": now,
        "TrainingStartTime": now,
        "LastModifiedTime": now,
        "SecondaryStatusTransitions": [
            {"Status": "Training", "StartTime": now, "StatusMessage": "Training the model locally"}
        ],
    }
    for optional in ("RoleArn", "Environment"):
        if definition.get(optional):
            record[optional] = definition[optional]
    resource_config = training_resource_config(definition)
    if resource_config:
        record["ResourceConfig"] = resource_config
    book = TrainingJobBook(
        tags=list(tuning_job.book.tags),
        tuning_job_name=job["HyperParameterTuningJobName"],
        tuning_job_id=tuning_job.book.id,
        definition_name=definition.get("DefinitionName") or None,
        tuned=dict(tuned),
        objective_metric=objective.get("MetricName"),
        objective_type=objective.get("Type"),
    )
    spec = TrainingSpec(
        training_job_name=name,
        hyperparameters=hyperparameters,
        input_data_config=definition.get("InputDataConfig", []),
        output_path=output_path,
        metric_definitions=algorithm.get("MetricDefinitions", []),
        max_runtime_seconds=int(stopping.get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS)),
        environment=definition.get("Environment") or {},
    )
    return Stored(record, book), spec
