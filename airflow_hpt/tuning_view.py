"""The data of the "Tuning job" view: the job, every training job, the chart's series, the consumption.
No Airflow or boto3 import: built from the SageMaker responses as boto3 returns them (or as JSON).

Inputs: DescribeHyperParameterTuningJob, the TrainingJobSummaries of
ListTrainingJobsForHyperParameterTuningJob, the DescribeTrainingJob answers read so far (by training
job name; for BillableTimeInSeconds and the ResourceConfig), and the warm-start parents' tags (by
parent name; they tell which Airflow task instance ran a parent).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from airflow_hpt.consumption import as_datetime, consumption, usage_of
from airflow_hpt.naming import TAG_DAG_ID, TAG_MAP_INDEX, TAG_RUN_ID, TAG_TASK_ID, tag_value
from airflow_hpt.result import TERMINAL_STATUSES, best_job_of, objective_of, training_job_counts


def _iso(value: Any) -> str | None:
    moment = as_datetime(value)
    return None if moment is None else moment.isoformat()


def _objective_value(summary: Mapping[str, Any]) -> float | None:
    value = (summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}).get("Value")
    return None if value is None else float(value)


def _strategy(describe: Mapping[str, Any]) -> str | None:
    config = describe.get("HyperParameterTuningJobConfig") or {}
    strategy = config.get("Strategy")
    return None if strategy is None else str(strategy)


def task_instance_of(tags: Sequence[Mapping[str, str]]) -> dict[str, Any] | None:
    """The Airflow task instance that created a job, from its ownership tags; None if Airflow did not."""
    dag_id, task_id, run_id = (tag_value(tags, key) for key in (TAG_DAG_ID, TAG_TASK_ID, TAG_RUN_ID))
    if not (dag_id and task_id and run_id):
        return None
    map_index = tag_value(tags, TAG_MAP_INDEX)
    return {
        "dag_id": dag_id,
        "run_id": run_id,
        "task_id": task_id,
        "map_index": int(map_index) if map_index and map_index.lstrip("-").isdigit() else -1,
    }


def best_so_far(values: Sequence[float], objective_type: str | None) -> list[float]:
    """The running best of `values` (the largest when maximizing, the smallest otherwise)."""
    pick = max if objective_type == "Maximize" else min
    running: list[float] = []
    for value in values:
        running.append(value if not running else pick(running[-1], value))
    return running


def training_rows(
    describe: Mapping[str, Any],
    summaries: Sequence[Mapping[str, Any]],
    training_describes: Mapping[str, Mapping[str, Any]],
    now: datetime,
) -> list[dict[str, Any]]:
    """One row per training job, in order of start (not yet started last, by creation)."""
    best_name = best_job_of(describe).get("TrainingJobName")
    rows = []
    for summary in summaries:
        name = summary["TrainingJobName"]
        detail = training_describes.get(name)
        usage = usage_of(summary, describe, detail, now)
        start = as_datetime(summary.get("TrainingStartTime"))
        rows.append(
            {
                "name": name,
                "status": summary.get("TrainingJobStatus"),
                "hyperparameters": {
                    str(key): str(value) for key, value in (summary.get("TunedHyperParameters") or {}).items()
                },
                "objective": _objective_value(summary),
                "creation_time": _iso(summary.get("CreationTime")),
                "start_time": None if start is None else start.isoformat(),
                "end_time": _iso(summary.get("TrainingEndTime")),
                "failure_reason": summary.get("FailureReason"),
                "best": name == best_name,
                "seconds": None if usage is None else round(usage.seconds, 1),
                "seconds_basis": None if usage is None else usage.basis,
                "instance_type": None if usage is None else usage.instance_type,
                "instance_count": None if usage is None else usage.instance_count,
            }
        )
    far_future = "9999"
    rows.sort(key=lambda row: (row["start_time"] or far_future, row["creation_time"] or "", row["name"]))
    return rows


def chart_series(rows: Sequence[Mapping[str, Any]], objective_type: str | None) -> list[dict[str, Any]]:
    """The chart's points: each training job with an objective, in order of start, and the best so far."""
    scored = [row for row in rows if row["objective"] is not None]
    running = best_so_far([row["objective"] for row in scored], objective_type)
    return [
        {"name": row["name"], "objective": row["objective"], "best_so_far": best, "best": row["best"]}
        for row, best in zip(scored, running, strict=True)
    ]


def view_data(
    describe: Mapping[str, Any],
    summaries: Sequence[Mapping[str, Any]],
    training_describes: Mapping[str, Mapping[str, Any]],
    parent_tags: Mapping[str, Sequence[Mapping[str, str]]],
    now: datetime,
    instance_prices: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Everything the view shows, JSON-safe."""
    metric_name, objective_type = objective_of(describe)
    status = describe.get("HyperParameterTuningJobStatus")
    created = as_datetime(describe.get("CreationTime"))
    ended = as_datetime(describe.get("HyperParameterTuningEndTime"))
    limits = (describe.get("HyperParameterTuningJobConfig") or {}).get("ResourceLimits") or {}
    warm_start = describe.get("WarmStartConfig") or {}
    best = best_job_of(describe)
    best_value = (best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}).get("Value")
    rows = training_rows(describe, summaries, training_describes, now)
    usages = [
        usage
        for summary in summaries
        if (usage := usage_of(summary, describe, training_describes.get(summary["TrainingJobName"]), now))
    ]
    return {
        "tuning_job_name": describe.get("HyperParameterTuningJobName"),
        "tuning_job_arn": describe.get("HyperParameterTuningJobArn"),
        "status": status,
        "finished": status in TERMINAL_STATUSES,
        "failure_reason": describe.get("FailureReason"),
        "strategy": _strategy(describe),
        "objective": {"metric": metric_name, "type": objective_type},
        "counts": training_job_counts(describe),
        "max_training_jobs": limits.get("MaxNumberOfTrainingJobs"),
        "max_parallel_training_jobs": limits.get("MaxParallelTrainingJobs"),
        "creation_time": None if created is None else created.isoformat(),
        "end_time": None if ended is None else ended.isoformat(),
        "elapsed_seconds": None if created is None else round(((ended or now) - created).total_seconds(), 1),
        "best": {
            "training_job_name": best.get("TrainingJobName"),
            "objective": None if best_value is None else float(best_value),
            # a warm-started job's overall best may be a parent's training job, not a row of this one
            "in_this_job": any(row["best"] for row in rows),
        },
        "warm_start": {
            "type": warm_start.get("WarmStartType"),
            "parents": [
                {
                    "name": parent["HyperParameterTuningJobName"],
                    "task_instance": task_instance_of(
                        parent_tags.get(parent["HyperParameterTuningJobName"], [])
                    ),
                }
                for parent in warm_start.get("ParentHyperParameterTuningJobs") or []
            ],
        },
        "training_jobs": rows,
        "series": chart_series(rows, objective_type),
        "consumption": consumption(usages, instance_prices),
        "as_of": now.isoformat(),
    }
