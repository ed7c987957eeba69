"""The tuning view's data and the consumption figures, from SageMaker-shaped responses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_hpt.consumption import BILLABLE, RUNNING, WALL_CLOCK, consumption, usage_of
from airflow_hpt.naming import ownership_tags
from airflow_hpt.tuning_view import best_so_far, view_data

T0 = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=2)


def tuning_describe(**overrides: Any) -> dict[str, Any]:
    describe: dict[str, Any] = {
        "HyperParameterTuningJobName": "night",
        "HyperParameterTuningJobArn": "arn:aws:sagemaker:us-east-1:000000000000:hyper-parameter-tuning-job/night",
        "HyperParameterTuningJobStatus": "InProgress",
        "CreationTime": T0,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 10, "MaxParallelTrainingJobs": 2},
        },
        "TrainingJobDefinition": {"ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 2}},
        "TrainingJobStatusCounters": {"Completed": 2, "InProgress": 1, "NonRetryableError": 1},
        "BestTrainingJob": {
            "TrainingJobName": "night-002",
            "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "loss", "Value": 0.5},
        },
    }
    describe.update(overrides)
    return describe


def summary(name: str, status: str, start_minute: int | None, end_minute: int | None, value: float | None):
    item: dict[str, Any] = {
        "TrainingJobName": name,
        "TrainingJobStatus": status,
        "CreationTime": T0,
        "TunedHyperParameters": {"x": str(start_minute)},
    }
    if start_minute is not None:
        item["TrainingStartTime"] = T0 + timedelta(minutes=start_minute)
    if end_minute is not None:
        item["TrainingEndTime"] = T0 + timedelta(minutes=end_minute)
    if value is not None:
        item["FinalHyperParameterTuningJobObjectiveMetric"] = {"MetricName": "loss", "Value": value}
    return item


SUMMARIES = [
    # listed out of start order, as a List sorted by name may give them
    summary("night-003", "InProgress", 60, None, None),
    summary("night-001", "Completed", 0, 30, 2.0),
    summary("night-002", "Completed", 10, 40, 0.5),
    {**summary("night-004", "Failed", 20, 25, None), "FailureReason": "AlgorithmError: boom"},
    summary("night-005", "InProgress", None, None, None),  # not started: nothing consumed
]


def test_rows_in_start_order_with_the_best_marked_and_the_failure_reason() -> None:
    data = view_data(tuning_describe(), SUMMARIES, {}, {}, NOW)
    names = [row["name"] for row in data["training_jobs"]]
    assert names == ["night-001", "night-002", "night-004", "night-003", "night-005"]
    assert [row["name"] for row in data["training_jobs"] if row["best"]] == ["night-002"]
    failed = data["training_jobs"][2]
    assert failed["failure_reason"] == "AlgorithmError: boom"
    assert failed["hyperparameters"] == {"x": "20"}
    assert data["status"] == "InProgress" and not data["finished"]
    assert data["strategy"] == "Bayesian"
    assert data["objective"] == {"metric": "loss", "type": "Minimize"}
    assert data["counts"]["completed"] == 2 and data["counts"]["non_retryable_error"] == 1
    assert data["elapsed_seconds"] == 7200
    assert data["best"] == {"training_job_name": "night-002", "objective": 0.5, "in_this_job": True}


def test_series_has_the_scored_jobs_and_the_running_best() -> None:
    data = view_data(tuning_describe(), SUMMARIES, {}, {}, NOW)
    assert [(p["name"], p["objective"], p["best_so_far"]) for p in data["series"]] == [
        ("night-001", 2.0, 2.0),
        ("night-002", 0.5, 0.5),
    ]
    assert best_so_far([1.0, 3.0, 2.0], "Maximize") == [1.0, 3.0, 3.0]
    assert best_so_far([1.0, 3.0, 0.0], "Minimize") == [1.0, 1.0, 0.0]


def test_consumption_prefers_billable_seconds_and_counts_instances() -> None:
    # night-001 reports 1200 billable seconds (managed spot: less than its 30 minutes of wall clock)
    describes = {"night-001": {"BillableTimeInSeconds": 1200, "TrainingTimeInSeconds": 1800}}
    data = view_data(tuning_describe(), SUMMARIES, describes, {}, NOW, {"ml.m5.xlarge": 0.5})
    by_name = {row["name"]: row for row in data["training_jobs"]}
    assert (by_name["night-001"]["seconds"], by_name["night-001"]["seconds_basis"]) == (1200, BILLABLE)
    assert (by_name["night-002"]["seconds"], by_name["night-002"]["seconds_basis"]) == (1800, WALL_CLOCK)
    assert (by_name["night-003"]["seconds"], by_name["night-003"]["seconds_basis"]) == (3600, RUNNING)
    assert by_name["night-005"]["seconds"] is None
    spent = data["consumption"]
    seconds = 1200 + 1800 + 300 + 3600
    assert spent["training_seconds"] == seconds
    assert spent["instance_hours"] == pytest.approx(seconds * 2 / 3600, abs=1e-4)
    assert spent["cost"] == pytest.approx(seconds * 2 / 3600 * 0.5, abs=1e-3)
    assert spent["jobs_by_basis"] == {BILLABLE: 1, WALL_CLOCK: 2, RUNNING: 1}


def test_cost_is_none_without_prices_or_with_an_unpriced_instance_type() -> None:
    describes = {
        "night-001": {"BillableTimeInSeconds": 60, "ResourceConfig": {"InstanceType": "ml.g5.xlarge"}}
    }
    without = view_data(tuning_describe(), SUMMARIES, describes, {}, NOW)["consumption"]
    assert without["cost"] is None
    partial = view_data(tuning_describe(), SUMMARIES, describes, {}, NOW, {"ml.m5.xlarge": 0.5})
    assert partial["consumption"]["cost"] is None
    assert partial["consumption"]["unpriced_instance_types"] == ["ml.g5.xlarge"]
    # the training job's own ResourceConfig wins over its definition's (count kept from the definition)
    assert partial["consumption"]["instance_hours_by_type"]["ml.g5.xlarge"] == pytest.approx(
        60 * 2 / 3600, abs=1e-4
    )


def test_instance_type_from_the_matching_definition_of_a_multi_algorithm_job() -> None:
    describe = tuning_describe(
        TrainingJobDefinition=None,
        TrainingJobDefinitions=[
            {"DefinitionName": "a", "ResourceConfig": {"InstanceType": "ml.c5.large", "InstanceCount": 1}},
            {"DefinitionName": "b", "ResourceConfig": {"InstanceType": "ml.p3.2xlarge", "InstanceCount": 3}},
        ],
    )
    job = {**summary("j", "Completed", 0, 60, 1.0), "TrainingJobDefinitionName": "b"}
    usage = usage_of(job, describe, None, NOW)
    assert usage is not None
    assert (usage.instance_type, usage.instance_count, usage.seconds) == ("ml.p3.2xlarge", 3, 3600)
    assert consumption([usage], {"ml.p3.2xlarge": 3.0})["cost"] == pytest.approx(9.0)


def test_finished_job_elapsed_until_its_end_and_parents_link_to_their_task_instances() -> None:
    parents = [{"HyperParameterTuningJobName": "last-week"}, {"HyperParameterTuningJobName": "by-hand"}]
    describe = tuning_describe(
        HyperParameterTuningJobStatus="Completed",
        HyperParameterTuningEndTime=T0 + timedelta(minutes=45),
        WarmStartConfig={"WarmStartType": "TransferLearning", "ParentHyperParameterTuningJobs": parents},
    )
    tags = {"last-week": ownership_tags("retrain", "tune", "scheduled__1", 3, "f", "l")}
    data = view_data(describe, SUMMARIES[1:3], {}, tags, NOW)
    assert data["finished"] and data["elapsed_seconds"] == 2700
    assert data["warm_start"] == {
        "type": "TransferLearning",
        "parents": [
            {
                "name": "last-week",
                "task_instance": {
                    "dag_id": "retrain",
                    "run_id": "scheduled__1",
                    "task_id": "tune",
                    "map_index": 3,
                },
            },
            {"name": "by-hand", "task_instance": None},
        ],
    }


def test_a_best_job_of_a_parent_marks_no_row() -> None:
    describe = tuning_describe(OverallBestTrainingJob={"TrainingJobName": "parent-007"})
    data = view_data(describe, SUMMARIES, {}, {}, NOW)
    assert not any(row["best"] for row in data["training_jobs"])
    assert data["best"]["in_this_job"] is False


def test_epoch_and_iso_timestamps_read_as_datetimes() -> None:
    as_json = [
        {
            **summary("e", "Completed", None, None, 1.0),
            "TrainingStartTime": T0.timestamp(),
            "TrainingEndTime": (T0 + timedelta(seconds=90)).isoformat(),
        }
    ]
    data = view_data(tuning_describe(CreationTime=T0.timestamp()), as_json, {}, {}, NOW)
    assert data["training_jobs"][0]["seconds"] == 90
    assert data["training_jobs"][0]["start_time"] == T0.isoformat()
