"""Warm-start chains: which earlier tuning jobs become the parents of the next one. No Airflow import.

SageMaker's warm start is not recursive (a grandparent helps only when listed itself), takes at most
5 parents, and counts the parents' training jobs against the new job's limit. The policy below finds
the parents among the earlier jobs of the same lineage at run time, so a chain goes on run after
run with nobody editing the DAG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from airflow_hpt.definitions import training_job_definitions
from airflow_hpt.exceptions import InvalidTuningRequest, Problem

MAX_PARENTS = 5
MAX_STATIC_CHANGES = 10
# SageMaker's quota of training jobs per tuning job, the parents' included.
TRAINING_JOB_LIMIT = 750
WARM_START_TYPES = ("IdenticalDataAndAlgorithm", "TransferLearning")
_LEGACY_TYPES = {
    "IDENTICAL_DATA_AND_ALGORITHM": "IdenticalDataAndAlgorithm",
    "TRANSFER_LEARNING": "TransferLearning",
}


@dataclass(frozen=True)
class WarmStart:
    """Warm-start each tuning job from earlier jobs of its lineage.

    :param type: ``IdenticalDataAndAlgorithm`` or ``TransferLearning``.
    :param max_parents: at most this many parents (1 to 5).
    :param select: ``latest`` takes the most recent jobs; ``best`` the jobs with the best objective
        among all earlier ones, which carries the best ancestors forward.
    :param include_stopped: also take Stopped jobs (Failed ones never are).
    :param lineage: the chain's key; jobs of every task that shares it form one chain. Default: the
        task's ``dag_id.task_id``.
    """

    type: str = "IdenticalDataAndAlgorithm"
    max_parents: int = MAX_PARENTS
    select: Literal["latest", "best"] = "latest"
    include_stopped: bool = False
    lineage: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", _LEGACY_TYPES.get(self.type, self.type))
        if self.type not in WARM_START_TYPES:
            raise ValueError(
                f"WarmStart.type must be one of {', '.join(WARM_START_TYPES)}, got {self.type!r}"
            )
        if not 1 <= self.max_parents <= MAX_PARENTS:
            raise ValueError(f"WarmStart.max_parents must be 1 to {MAX_PARENTS}, got {self.max_parents}")
        if self.select not in ("latest", "best"):
            raise ValueError(f"WarmStart.select must be 'latest' or 'best', got {self.select!r}")

    def lineage_key(self, dag_id: str, task_id: str) -> str:
        return self.lineage or f"{dag_id}.{task_id}"


@dataclass(frozen=True)
class Candidate:
    """An earlier tuning job of the lineage, as read from SageMaker."""

    name: str
    status: str
    creation_time: datetime
    objective_value: float | None
    training_jobs: int

    @classmethod
    def from_describe(cls, describe: Mapping[str, Any]) -> Candidate:
        best = describe.get("BestTrainingJob") or {}
        value = (best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}).get("Value")
        counters = describe.get("TrainingJobStatusCounters") or {}
        return cls(
            name=describe["HyperParameterTuningJobName"],
            status=describe["HyperParameterTuningJobStatus"],
            creation_time=describe["CreationTime"],
            objective_value=None if value is None else float(value),
            training_jobs=sum(int(count) for count in counters.values()),
        )


@dataclass(frozen=True)
class Selection:
    parents: list[str]
    dropped_for_limit: list[str]
    skipped: dict[str, str]  # name -> why it is not a parent


def select_parents(
    policy: WarmStart,
    candidates: Sequence[Candidate],
    *,
    objective_type: str,
    new_max_training_jobs: int,
    training_job_limit: int = TRAINING_JOB_LIMIT,
) -> Selection:
    """Order the usable candidates by the policy, take up to max_parents, and drop the least wanted
    ones until the parents' training jobs plus the new job's fit within the limit."""
    usable_statuses = {"Completed", "Stopped"} if policy.include_stopped else {"Completed"}
    skipped: dict[str, str] = {}
    usable: list[Candidate] = []
    for candidate in candidates:
        if candidate.status not in usable_statuses:
            skipped[candidate.name] = f"status {candidate.status}"
        elif candidate.objective_value is None:
            skipped[candidate.name] = "no best training job"
        else:
            usable.append(candidate)
    usable.sort(key=lambda c: c.creation_time, reverse=True)
    if policy.select == "best":
        sign = 1.0 if objective_type == "Maximize" else -1.0
        usable.sort(key=lambda c: sign * (c.objective_value or 0.0), reverse=True)
    chosen = usable[: policy.max_parents]
    dropped: list[str] = []
    while chosen and sum(c.training_jobs for c in chosen) + new_max_training_jobs > training_job_limit:
        dropped.append(chosen.pop().name)
    return Selection(parents=[c.name for c in chosen], dropped_for_limit=dropped, skipped=skipped)


def warm_start_config(policy: WarmStart, parents: Sequence[str]) -> dict[str, Any]:
    return {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": name} for name in parents],
        "WarmStartType": policy.type,
    }


def check_compatible(request: Mapping[str, Any], parents: Sequence[Mapping[str, Any]]) -> None:
    """SageMaker's rules for a warm-started job against each parent's Describe, before the call.

    Both types: same objective metric and direction, same set of hyperparameter names (static plus
    tunable), and no tunable hyperparameter changes its kind. IdenticalDataAndAlgorithm also keeps the
    training image or algorithm and the input data of every channel.
    """
    warm_type = (request.get("WarmStartConfig") or {}).get("WarmStartType")
    problems: list[Problem] = []
    for index, parent in enumerate(parents):
        path = f"WarmStartConfig.ParentHyperParameterTuningJobs[{index}]"
        name = parent.get("HyperParameterTuningJobName")
        for rule in _incompatibilities(request, parent, identical=warm_type == "IdenticalDataAndAlgorithm"):
            problems.append(Problem(path, f"parent {name}: {rule}"))
    if problems:
        raise InvalidTuningRequest(problems)


def _incompatibilities(
    request: Mapping[str, Any], parent: Mapping[str, Any], *, identical: bool
) -> list[str]:
    rules: list[str] = []
    ours, theirs = _objective(request), _objective(parent)
    if ours != theirs:
        rules.append(f"the objective must stay the same ({theirs[0]} {theirs[1]}), got {ours[0]} {ours[1]}")
    our_kinds, their_kinds = _hyperparameter_kinds(request), _hyperparameter_kinds(parent)
    if set(our_kinds) != set(their_kinds):
        added, removed = sorted(set(our_kinds) - set(their_kinds)), sorted(set(their_kinds) - set(our_kinds))
        rules.append(
            "the hyperparameters (static plus tunable) must keep the same names; "
            f"added {added}, removed {removed}"
        )
    changes = _static_changes(request, parent)
    if changes > MAX_STATIC_CHANGES:
        rules.append(
            f"at most {MAX_STATIC_CHANGES} changes of tunable to static hyperparameters plus changed static "
            f"values are allowed, got {changes}"
        )
    for name, kind in our_kinds.items():
        their_kind = their_kinds.get(name)
        if kind != "Static" and their_kind not in (None, "Static", kind):
            rules.append(f"hyperparameter {name} must stay {their_kind}, got {kind}")
    if identical:
        our_definition, their_definition = _definition(request), _definition(parent)
        if _algorithm(our_definition) != _algorithm(their_definition):
            rules.append(
                "IdenticalDataAndAlgorithm keeps the training image/algorithm "
                f"({_algorithm(their_definition)}), got {_algorithm(our_definition)}; use TransferLearning"
            )
        if _channels(our_definition) != _channels(their_definition):
            rules.append(
                "IdenticalDataAndAlgorithm keeps the input data "
                f"({_channels(their_definition)}), got {_channels(our_definition)}; use TransferLearning"
            )
    return rules


def _definition(request: Mapping[str, Any]) -> Mapping[str, Any]:
    """The first training job definition (a multi-algorithm job's first)."""
    return next((definition for _path, definition in training_job_definitions(request)), {})


def _objective(request: Mapping[str, Any]) -> tuple[str | None, str | None]:
    config = request.get("HyperParameterTuningJobConfig") or {}
    objective = (
        config.get("HyperParameterTuningJobObjective") or _definition(request).get("TuningObjective") or {}
    )
    return objective.get("MetricName"), objective.get("Type")


def _hyperparameter_kinds(request: Mapping[str, Any]) -> dict[str, str]:
    definition = _definition(request)
    config = request.get("HyperParameterTuningJobConfig") or {}
    ranges = config.get("ParameterRanges") or definition.get("HyperParameterRanges") or {}
    kinds = {
        name: "Static" for name in definition.get("StaticHyperParameters") or {} if not name.startswith("_")
    }
    for key, kind in (
        ("IntegerParameterRanges", "Integer"),
        ("ContinuousParameterRanges", "Continuous"),
        ("CategoricalParameterRanges", "Categorical"),
    ):
        for parameter_range in ranges.get(key) or []:
            kinds[parameter_range["Name"]] = kind
    return kinds


def _static_changes(request: Mapping[str, Any], parent: Mapping[str, Any]) -> int:
    ours = _definition(request).get("StaticHyperParameters") or {}
    theirs = _definition(parent).get("StaticHyperParameters") or {}
    their_kinds = _hyperparameter_kinds(parent)
    made_static = sum(1 for name in ours if their_kinds.get(name, "Static") != "Static")
    changed_values = sum(1 for name, value in ours.items() if name in theirs and theirs[name] != value)
    return made_static + changed_values


def _algorithm(definition: Mapping[str, Any]) -> str | None:
    algorithm = definition.get("AlgorithmSpecification") or {}
    return algorithm.get("TrainingImage") or algorithm.get("AlgorithmName")


def _channels(definition: Mapping[str, Any]) -> dict[str, str | None]:
    return {
        channel["ChannelName"]: ((channel.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
        for channel in definition.get("InputDataConfig") or []
    }
