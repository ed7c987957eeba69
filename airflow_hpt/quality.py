"""The quality gate's decision: deploy a tuned model only when it is good enough. No Airflow import."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TAG_OBJECTIVE_METRIC = "airflow-hpt:objective-metric"
TAG_OBJECTIVE_VALUE = "airflow-hpt:objective-value"
TAG_TRAINING_JOB = "airflow-hpt:training-job"


@dataclass(frozen=True)
class Champion:
    """The model serving on the endpoint now, as its airflow-hpt tags describe it."""

    model_name: str
    objective_metric: str | None
    objective_value: float


@dataclass(frozen=True)
class Decision:
    deploy: bool
    reason: str


def decide(result: Mapping[str, Any], *, min_objective: float | None, champion: Champion | None) -> Decision:
    """Deploy when the best objective passes the threshold and beats the champion.

    For a Minimize objective, ``min_objective`` is the highest acceptable value and lower is better.
    """
    value = result.get("objective_value")
    metric = result.get("objective_metric")
    maximize = result.get("objective_type", "Maximize") != "Minimize"
    if value is None:
        return Decision(False, f"tuning job {result.get('tuning_job_name')} has no best objective value")

    def better(a: float, b: float) -> bool:
        return a > b if maximize else a < b

    if min_objective is not None and not (value == min_objective or better(value, min_objective)):
        bound = "at least" if maximize else "at most"
        return Decision(False, f"{metric}={value} is not {bound} the threshold {min_objective}")
    if champion is not None:
        if champion.objective_metric not in (None, metric):
            return Decision(
                True,
                f"the champion {champion.model_name} was scored on {champion.objective_metric}, not {metric}",
            )
        if not better(value, champion.objective_value):
            return Decision(
                False,
                f"{metric}={value} does not beat the champion {champion.model_name} "
                f"({champion.objective_value})",
            )
        return Decision(
            True, f"{metric}={value} beats the champion {champion.model_name} ({champion.objective_value})"
        )
    passed = "" if min_objective is None else f" passes the threshold {min_objective}"
    return Decision(True, f"{metric}={value}{passed}; no champion deployed")


def model_tags(result: Mapping[str, Any]) -> list[dict[str, str]]:
    """Tags that let a later gate read this model's score as the champion's."""
    return [
        {"Key": TAG_OBJECTIVE_METRIC, "Value": str(result.get("objective_metric"))},
        {"Key": TAG_OBJECTIVE_VALUE, "Value": repr(float(result["objective_value"]))},
        {"Key": TAG_TRAINING_JOB, "Value": str(result.get("best_training_job_name"))},
    ]


def champion_from_tags(model_name: str, tags: Mapping[str, str]) -> Champion | None:
    if TAG_OBJECTIVE_VALUE not in tags:
        return None
    return Champion(model_name, tags.get(TAG_OBJECTIVE_METRIC), float(tags[TAG_OBJECTIVE_VALUE]))
