"""What the demo shows: each run's outcome as a table, and every training job read from the backend."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RunSummary:
    """One run of retrain_weekly, as Airflow recorded it (task states and XCom)."""

    number: int
    logical_date: datetime
    seconds: float
    states: Mapping[str, str | None]
    tune: Mapping[str, Any] | None
    # the quality gate's reason for its decision
    gate_reason: str | None
    deploy: Mapping[str, Any] | None


@dataclass(frozen=True)
class TrainingPoint:
    """One training job of a run's tuning job, as the backend reports it."""

    run: int
    name: str
    status: str
    start_time: datetime
    end_time: datetime
    objective: float | None


def training_points(client: Any, run: int, tuning_job_name: str) -> list[TrainingPoint]:
    """Every finished training job of the tuning job (ListTrainingJobsForHyperParameterTuningJob)."""
    points = []
    paginator = client.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job")
    for page in paginator.paginate(HyperParameterTuningJobName=tuning_job_name):
        for job in page["TrainingJobSummaries"]:
            if "TrainingEndTime" not in job:
                continue
            metric = job.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
            value = metric.get("Value")
            points.append(
                TrainingPoint(
                    run=run,
                    name=job["TrainingJobName"],
                    status=job["TrainingJobStatus"],
                    start_time=job.get("TrainingStartTime", job["CreationTime"]),
                    end_time=job["TrainingEndTime"],
                    objective=None if value is None else float(value),
                )
            )
    return sorted(points, key=lambda point: point.end_time)


def _counts(tune: Mapping[str, Any]) -> str:
    counts = tune.get("training_job_counts") or {}
    failed = int(counts.get("non_retryable_error", 0)) + int(counts.get("retryable_error", 0))
    total = int(counts.get("completed", 0)) + int(counts.get("stopped", 0)) + failed
    return (
        f"{total}: {counts.get('completed', 0)} completed, "
        f"{counts.get('stopped', 0)} stopped early, {failed} failed"
    )


def _consumed(tune: Mapping[str, Any]) -> list[str]:
    spent = tune.get("consumption")
    if not spent:
        return ["-"]
    lines = [f"{spent['training_seconds']:.0f} training s", f"{spent['instance_hours']:.4f} instance-h"]
    if spent.get("cost") is not None:
        lines.append(f"cost {spent['cost']:.4f}")
    return lines


def _deployed(run: RunSummary) -> list[str]:
    if run.deploy:
        return [
            f"{run.deploy['endpoint_name']} {run.deploy['action']}",
            f"model {run.deploy['model_name']}",
            *_wrap(f"(gate: {run.gate_reason})", 48),
        ]
    if run.states.get("gate") == "skipped":
        return ["nothing, the quality gate closed:", *_wrap(run.gate_reason or "see its log", 48)]
    return [f"nothing: gate {run.states.get('gate')}, deploy {run.states.get('deploy')}"]


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False) or [""]


def _column(run: RunSummary) -> list[list[str]]:
    tune = run.tune or {}
    parents = tune.get("warm_start_parents") or []
    best = tune.get("best_hyperparameters") or {}
    hyperparameters = [f"{name} = {_short(value)}" for name, value in sorted(best.items())]
    objective = tune.get("objective_value")
    best_job = str(tune.get("best_training_job_name"))
    return [
        [f"{run.logical_date:%Y-%m-%d} ({run.seconds:.0f} s)"],
        [str(tune.get("tuning_job_name", "-"))],
        list(parents) or ["none (first of the chain)"],
        [_counts(tune)],
        [
            f"{tune.get('objective_metric')} = {objective:.4f}" if objective is not None else "-",
            f"({best_job})",
            # with IdenticalDataAndAlgorithm the best is the chain's: it may be a parent's job
            *([] if best_job.startswith(str(tune.get("tuning_job_name"))) else ["found by a parent"]),
        ],
        hyperparameters or ["-"],
        _consumed(tune),
        _deployed(run),
    ]


def _short(value: str) -> str:
    """Floats to 4 significant digits: the search's precision is not the point of the table."""
    try:
        number = float(value)
    except ValueError:
        return value
    return f"{number:.4g}"


ROWS = (
    "logical date",
    "tuning job",
    "warm-start parents",
    "training jobs",
    "best objective",
    "best hyperparameters",
    "consumed",
    "deployed",
)


def render_table(runs: Sequence[RunSummary]) -> str:
    """Rows are the facts, one column per run; a cell may span several lines."""
    columns = [_column(run) for run in runs]
    headers = [f"run {run.number}" for run in runs]
    label_width = max(len(label) for label in ROWS)
    widths = [
        max(len(header), *(len(line) for cell in column for line in cell))
        for header, column in zip(headers, columns, strict=True)
    ]

    def line(cells: Sequence[str]) -> str:
        return " | ".join(
            cell.ljust(width) for cell, width in zip(cells, [label_width, *widths], strict=True)
        ).rstrip()

    rule = "-+-".join("-" * width for width in [label_width, *widths])
    out = [line(["", *headers]), rule]
    for row, label in enumerate(ROWS):
        cells = [column[row] for column in columns]
        for index in range(max(len(cell) for cell in cells)):
            texts = [cell[index] if index < len(cell) else "" for cell in cells]
            out.append(line([label if index == 0 else "", *texts]))
    return "\n".join(out)
