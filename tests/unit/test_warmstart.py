from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_hpt.exceptions import InvalidTuningRequest
from airflow_hpt.warmstart import Candidate, WarmStart, check_compatible, select_parents, warm_start_config

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _candidate(
    name: str, day: int, value: float | None, status: str = "Completed", jobs: int = 10
) -> Candidate:
    return Candidate(name, status, T0 + timedelta(days=day), value, jobs)


CANDIDATES = [
    _candidate("run1", 1, 0.80),
    _candidate("run2", 2, 0.95),
    _candidate("run3", 3, None, status="Failed"),
    _candidate("run4", 4, 0.85, status="Stopped"),
    _candidate("run5", 5, 0.90),
    _candidate("run6", 6, None),
]


def test_latest_takes_newest_usable_jobs() -> None:
    selection = select_parents(WarmStart(), CANDIDATES, objective_type="Maximize", new_max_training_jobs=20)
    assert selection.parents == ["run5", "run2", "run1"]
    assert selection.skipped == {
        "run3": "status Failed",
        "run4": "status Stopped",
        "run6": "no best training job",
    }


def test_include_stopped_and_max_parents() -> None:
    policy = WarmStart(include_stopped=True, max_parents=2)
    selection = select_parents(policy, CANDIDATES, objective_type="Maximize", new_max_training_jobs=20)
    assert selection.parents == ["run5", "run4"]


@pytest.mark.parametrize(
    ("objective_type", "expected"), [("Maximize", ["run2", "run5"]), ("Minimize", ["run1", "run5"])]
)
def test_best_orders_by_objective_direction(objective_type: str, expected: list[str]) -> None:
    policy = WarmStart(select="best", max_parents=2)
    selection = select_parents(policy, CANDIDATES, objective_type=objective_type, new_max_training_jobs=20)
    assert selection.parents == expected


def test_limit_drops_least_wanted_parents_never_fails() -> None:
    selection = select_parents(
        WarmStart(), CANDIDATES, objective_type="Maximize", new_max_training_jobs=25, training_job_limit=50
    )
    assert selection.parents == ["run5", "run2"]
    assert selection.dropped_for_limit == ["run1"]
    nothing_fits = select_parents(
        WarmStart(), CANDIDATES, objective_type="Maximize", new_max_training_jobs=45, training_job_limit=50
    )
    assert nothing_fits.parents == []
    assert nothing_fits.dropped_for_limit == ["run1", "run2", "run5"]


def test_first_run_of_a_chain_has_no_parents() -> None:
    assert select_parents(WarmStart(), [], objective_type="Maximize", new_max_training_jobs=5).parents == []


def test_policy_arguments_are_checked_and_legacy_type_normalized() -> None:
    assert WarmStart(type="TRANSFER_LEARNING").type == "TransferLearning"
    with pytest.raises(ValueError, match="max_parents"):
        WarmStart(max_parents=6)
    with pytest.raises(ValueError, match="select"):
        WarmStart(select="oldest")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="type"):
        WarmStart(type="Identical")
    assert WarmStart(lineage="shared").lineage_key("d", "t") == "shared"
    assert WarmStart().lineage_key("d", "t") == "d.t"


PARENT: dict[str, Any] = {
    "HyperParameterTuningJobName": "parent-1",
    "HyperParameterTuningJobConfig": {
        "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "acc"},
        "ParameterRanges": {
            "ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.01", "MaxValue": "1"}],
            "IntegerParameterRanges": [{"Name": "depth", "MinValue": "2", "MaxValue": "8"}],
        },
    },
    "TrainingJobDefinition": {
        "AlgorithmSpecification": {"TrainingImage": "img:1"},
        "InputDataConfig": [
            {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": "s3://d/train"}}}
        ],
        "StaticHyperParameters": {"rounds": "10", "_tuning_objective_metric": "acc"},
    },
}


def _child(warm_type: str = "IdenticalDataAndAlgorithm") -> dict[str, Any]:
    child = copy.deepcopy(PARENT)
    child["HyperParameterTuningJobName"] = "child"
    child["WarmStartConfig"] = warm_start_config(WarmStart(type=warm_type), ["parent-1"])
    return child


def test_compatible_child_passes() -> None:
    child = _child()
    child["HyperParameterTuningJobConfig"]["ParameterRanges"]["ContinuousParameterRanges"][0]["MaxValue"] = (
        "0.5"
    )
    check_compatible(child, [PARENT])


def test_identical_data_and_algorithm_refuses_new_data_and_image_but_transfer_learning_allows() -> None:
    child = _child()
    child["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"] = "img:2"
    child["TrainingJobDefinition"]["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = "s3://d/new"
    with pytest.raises(InvalidTuningRequest) as raised:
        check_compatible(child, [PARENT])
    rules = [problem.rule for problem in raised.value.problems]
    assert {problem.path for problem in raised.value.problems} == {
        "WarmStartConfig.ParentHyperParameterTuningJobs[0]"
    }
    assert any("training image" in rule and "TransferLearning" in rule for rule in rules)
    assert any("input data" in rule for rule in rules)
    transfer = copy.deepcopy(child)
    transfer["WarmStartConfig"]["WarmStartType"] = "TransferLearning"
    check_compatible(transfer, [PARENT])


def test_objective_names_and_kinds_must_stay() -> None:
    child = _child("TransferLearning")
    child["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"] = {
        "Type": "Minimize",
        "MetricName": "loss",
    }
    ranges = child["HyperParameterTuningJobConfig"]["ParameterRanges"]
    ranges["CategoricalParameterRanges"] = [{"Name": "depth", "Values": ["2", "4"]}]
    del ranges["IntegerParameterRanges"]
    child["TrainingJobDefinition"]["StaticHyperParameters"]["extra"] = "1"
    with pytest.raises(InvalidTuningRequest) as raised:
        check_compatible(child, [PARENT])
    rules = " | ".join(problem.rule for problem in raised.value.problems)
    assert "objective must stay the same (acc Maximize)" in rules
    assert "depth must stay Integer, got Categorical" in rules
    assert "added ['extra']" in rules


def test_too_many_static_changes() -> None:
    parent = copy.deepcopy(PARENT)
    parent["TrainingJobDefinition"]["StaticHyperParameters"].update({f"s{i}": "1" for i in range(11)})
    child = copy.deepcopy(parent)
    child["HyperParameterTuningJobName"] = "child"
    child["WarmStartConfig"] = warm_start_config(WarmStart(type="TransferLearning"), ["parent-1"])
    child["TrainingJobDefinition"]["StaticHyperParameters"].update({f"s{i}": "2" for i in range(11)})
    with pytest.raises(InvalidTuningRequest, match="at most 10 changes"):
        check_compatible(child, [parent])
