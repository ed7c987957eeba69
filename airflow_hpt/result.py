"""The tuning job's result as handed to downstream tasks: small, JSON-safe, stable. No Airflow import.

Built from DescribeHyperParameterTuningJob and DescribeTrainingJob(best) responses, as returned by
boto3 (datetimes) or read from JSON (epoch seconds or ISO strings).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from airflow_hpt.definitions import training_job_definitions
from airflow_hpt.exceptions import TuningJobFailed
from airflow_hpt.statuses import TUNING_JOB_ENDED

# the name the hooks, operators, sensor, triggers and view import
TERMINAL_STATUSES = TUNING_JOB_ENDED
XCOM_KEYS = (
    "tuning_job_name",
    "tuning_job_arn",
    "best_training_job_name",
    "best_training_job_arn",
    "model_artifacts",
)
_COUNTER_NAMES = {
    "Completed": "completed",
    "InProgress": "in_progress",
    "RetryableError": "retryable_error",
    "NonRetryableError": "non_retryable_error",
    "Stopped": "stopped",
}


def training_job_counts(describe: Mapping[str, Any]) -> dict[str, int]:
    counters = describe.get("TrainingJobStatusCounters") or {}
    return {ours: int(counters.get(theirs, 0)) for theirs, ours in _COUNTER_NAMES.items()}


def objective_of(describe: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(metric name, Maximize|Minimize) of the job's objective, single- or multi-algorithm."""
    objective = (describe.get("HyperParameterTuningJobConfig") or {}).get("HyperParameterTuningJobObjective")
    if not objective:
        first = next((definition for _path, definition in training_job_definitions(describe)), {})
        objective = first.get("TuningObjective") or {}
    return objective.get("MetricName"), objective.get("Type")


def best_job_of(describe: Mapping[str, Any]) -> Mapping[str, Any]:
    """The best training job; for warm-started jobs the overall best across parents when given."""
    return describe.get("OverallBestTrainingJob") or describe.get("BestTrainingJob") or {}


def base_result(describe: Mapping[str, Any]) -> dict[str, Any]:
    """Name, ARN and status: the result when the task does not wait for the job."""
    return {
        "tuning_job_name": describe["HyperParameterTuningJobName"],
        "tuning_job_arn": describe["HyperParameterTuningJobArn"],
        "status": describe["HyperParameterTuningJobStatus"],
    }


def tuning_result(
    describe: Mapping[str, Any], best_training_job: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The full result of a tuning job that reached a terminal state."""
    best = best_job_of(describe)
    final_metric = best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    metric_name, objective_type = objective_of(describe)
    parents = (describe.get("WarmStartConfig") or {}).get("ParentHyperParameterTuningJobs") or []
    model = (best_training_job or {}).get("ModelArtifacts") or {}
    value = final_metric.get("Value")
    return {
        **base_result(describe),
        "failure_reason": describe.get("FailureReason"),
        "best_training_job_name": best.get("TrainingJobName"),
        "best_training_job_arn": best.get("TrainingJobArn"),
        "objective_metric": final_metric.get("MetricName", metric_name),
        "objective_type": final_metric.get("Type", objective_type),
        "objective_value": float(value) if value is not None else None,
        "best_hyperparameters": {str(k): str(v) for k, v in (best.get("TunedHyperParameters") or {}).items()},
        "model_artifacts": model.get("S3ModelArtifacts"),
        "training_job_counts": training_job_counts(describe),
        "warm_start_parents": [parent["HyperParameterTuningJobName"] for parent in parents],
        "creation_time": _iso(describe.get("CreationTime")),
        "end_time": _iso(describe.get("HyperParameterTuningEndTime")),
    }


def asset_extra(result: Mapping[str, Any]) -> dict[str, Any]:
    """What an asset event for the best model carries, for deployment DAGs scheduled on the asset."""
    keys = (
        "tuning_job_name",
        "best_training_job_name",
        "best_training_job_arn",
        "model_artifacts",
        "objective_metric",
        "objective_type",
        "objective_value",
        "best_hyperparameters",
        "consumption",
    )
    return {key: result.get(key) for key in keys}


def progress_line(describe: Mapping[str, Any]) -> str:
    """One log line per poll: status, training-job counters against the maximum, best so far."""
    counts = training_job_counts(describe)
    limits = (describe.get("HyperParameterTuningJobConfig") or {}).get("ResourceLimits") or {}
    maximum = limits.get("MaxNumberOfTrainingJobs", "?")
    failed = counts["retryable_error"] + counts["non_retryable_error"]
    line = (
        f"{describe.get('HyperParameterTuningJobName')}: {describe.get('HyperParameterTuningJobStatus')}; "
        f"training jobs {counts['completed']} completed, {counts['in_progress']} in progress, "
        f"{failed} failed, {counts['stopped']} stopped (max {maximum})"
    )
    final_metric = best_job_of(describe).get("FinalHyperParameterTuningJobObjectiveMetric")
    if final_metric:
        line += f"; best {final_metric.get('MetricName')}={final_metric.get('Value')}"
    return line


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC).isoformat()
    return str(value)


def raise_for_status(result: Mapping[str, Any], *, fail_on_stopped: bool) -> None:
    """The status rule shared by the operator and the sensor: Failed fails; Stopped fails unless allowed."""
    name, status = result["tuning_job_name"], result["status"]
    if status in {"Failed", "DeleteFailed"}:
        raise TuningJobFailed(
            f"Tuning job {name} {status}: {result.get('failure_reason') or 'no reason given'}"
        )
    if status == "Stopped" and fail_on_stopped:
        raise TuningJobFailed(
            f"Tuning job {name} was Stopped "
            "(set fail_on_stopped=False to accept the best result of a stopped job)"
        )
    if status not in TERMINAL_STATUSES:
        raise ValueError(f"Tuning job {name} is still {status}")
