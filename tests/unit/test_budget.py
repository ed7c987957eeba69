"""The worst-case budget of a request: each rule and each factor (airflow_hpt/budget.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from airflow_hpt.budget import check_budget, worst_cost, worst_instance_hours
from airflow_hpt.exceptions import BudgetError, BudgetExceeded


def _definition(
    instance_type: str = "ml.m5.large", count: int = 2, runtime: int | None = 1800, **extra: Any
) -> dict[str, Any]:
    stopping = {} if runtime is None else {"MaxRuntimeInSeconds": runtime}
    return {
        "AlgorithmSpecification": {"TrainingImage": "image", "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "OutputDataConfig": {"S3OutputPath": "s3://models/out"},
        "ResourceConfig": {"InstanceType": instance_type, "InstanceCount": count, "VolumeSizeInGB": 1},
        "StoppingCondition": stopping,
        **extra,
    }


def _request(max_jobs: int | None = 10, parallel: int = 3, **limits: Any) -> dict[str, Any]:
    resource_limits: dict[str, Any] = {"MaxParallelTrainingJobs": parallel, **limits}
    if max_jobs is not None:
        resource_limits["MaxNumberOfTrainingJobs"] = max_jobs
    return {
        "HyperParameterTuningJobName": "budget",
        "HyperParameterTuningJobConfig": {"Strategy": "Random", "ResourceLimits": resource_limits},
        "TrainingJobDefinition": _definition(),
    }


def test_training_jobs_times_instances_times_runtime() -> None:
    worst = worst_instance_hours(_request())
    assert worst.value == pytest.approx(10 * 2 * 1800 / 3600)
    text = str(worst)
    assert "MaxNumberOfTrainingJobs 10" in text
    assert "2 instance(s) (TrainingJobDefinition.ResourceConfig.InstanceCount)" in text
    assert "1800 s (TrainingJobDefinition.StoppingCondition.MaxRuntimeInSeconds)" in text
    assert "= 10" in text


def test_runtime_defaults_to_sagemakers_day() -> None:
    request = _request()
    request["TrainingJobDefinition"] = _definition(runtime=None)
    worst = worst_instance_hours(request)
    assert worst.value == pytest.approx(10 * 2 * 24)
    assert "86400 s (SageMaker's default StoppingCondition.MaxRuntimeInSeconds)" in str(worst)


def test_tuning_job_runtime_lowers_the_bound() -> None:
    # 3 jobs at once x 2 instances x 1200 s: 2 instance-hours, below 10 by training jobs
    worst = worst_instance_hours(_request(MaxRuntimeInSeconds=1200))
    assert worst.value == pytest.approx(3 * 2 * 1200 / 3600)
    text = str(worst)
    assert "the smaller of" in text
    assert "3 job(s) at once (MaxParallelTrainingJobs 3" in text
    assert "1200 s (HyperParameterTuningJobConfig.ResourceLimits.MaxRuntimeInSeconds)" in text
    assert "= 10" in text and "= 2" in text


def test_tuning_job_runtime_does_not_raise_the_bound() -> None:
    assert worst_instance_hours(_request(MaxRuntimeInSeconds=86400)).value == pytest.approx(10)


def test_no_more_jobs_at_once_than_jobs_in_all() -> None:
    # MaxParallelTrainingJobs 3 but a single job: one job at once, at most 1 x 2 x 1 h
    request = _request(max_jobs=1, MaxRuntimeInSeconds=3600)
    worst = worst_instance_hours(request)
    assert worst.value == pytest.approx(1 * 2 * 1800 / 3600)
    assert "1 job(s) at once" in str(worst)


def test_several_definitions_every_job_may_run_the_costliest() -> None:
    request = _request()
    del request["TrainingJobDefinition"]
    request["TrainingJobDefinitions"] = [
        _definition(count=1, runtime=3600, DefinitionName="small"),
        _definition(count=4, runtime=1800, DefinitionName="wide"),
        _definition(count=1, runtime=7200, DefinitionName="long"),
    ]
    worst = worst_instance_hours(request)
    assert worst.value == pytest.approx(10 * 4 * 1800 / 3600)  # not the sum over the definitions
    text = str(worst)
    assert "TrainingJobDefinitions[1].ResourceConfig.InstanceCount" in text
    for index, hours in ((0, 1), (1, 2), (2, 2)):
        assert f"one job of TrainingJobDefinitions[{index}]:" in text and f"= {hours}" in text


def test_tuning_resource_config_instance_count() -> None:
    request = _request()
    definition = request["TrainingJobDefinition"]
    del definition["ResourceConfig"]
    definition["HyperParameterTuningResourceConfig"] = {"InstanceType": "ml.c5.xlarge", "InstanceCount": 3}
    worst = worst_instance_hours(request)
    assert worst.value == pytest.approx(10 * 3 * 0.5)
    assert "TrainingJobDefinition.HyperParameterTuningResourceConfig.InstanceCount" in str(worst)


def test_instance_configs_take_the_worst_of_them() -> None:
    request = _request()
    definition = request["TrainingJobDefinition"]
    del definition["ResourceConfig"]
    definition["HyperParameterTuningResourceConfig"] = {
        "AllocationStrategy": "Prioritized",
        "InstanceConfigs": [
            {"InstanceType": "ml.p3.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5},
            {"InstanceType": "ml.m5.large", "InstanceCount": 4, "VolumeSizeInGB": 5},
        ],
    }
    hours = worst_instance_hours(request)
    assert hours.value == pytest.approx(10 * 4 * 0.5)
    assert "InstanceConfigs[1].InstanceCount" in str(hours)
    # in money the single expensive instance is the worst: 3.825 > 4 x 0.115
    cost = worst_cost(request, {"ml.p3.2xlarge": 3.825, "ml.m5.large": 0.115})
    assert cost.value == pytest.approx(10 * 3.825 * 0.5)
    assert "1 x ml.p3.2xlarge at 3.825/h" in str(cost)


def test_instance_groups_add_up() -> None:
    request = _request()
    request["TrainingJobDefinition"]["ResourceConfig"] = {
        "InstanceGroups": [
            {"InstanceGroupName": "a", "InstanceType": "ml.m5.large", "InstanceCount": 2},
            {"InstanceGroupName": "b", "InstanceType": "ml.c5.xlarge", "InstanceCount": 1},
        ],
        "VolumeSizeInGB": 1,
    }
    assert worst_instance_hours(request).value == pytest.approx(10 * 3 * 0.5)
    cost = worst_cost(request, {"ml.m5.large": 0.1, "ml.c5.xlarge": 0.2})
    assert cost.value == pytest.approx(10 * (2 * 0.1 + 0.2) * 0.5)


def test_retries_count_as_attempts() -> None:
    request = _request()
    request["TrainingJobDefinition"]["RetryStrategy"] = {"MaximumRetryAttempts": 2}
    worst = worst_instance_hours(request)
    assert worst.value == pytest.approx(10 * 2 * 0.5 * 3)
    assert "3 attempts (TrainingJobDefinition.RetryStrategy.MaximumRetryAttempts + 1)" in str(worst)


def test_grid_without_a_job_count_runs_every_combination() -> None:
    request = _request(max_jobs=None)
    config = request["HyperParameterTuningJobConfig"]
    config["Strategy"] = "Grid"
    config["ParameterRanges"] = {
        "CategoricalParameterRanges": [
            {"Name": "a", "Values": ["1", "2", "3"]},
            {"Name": "b", "Values": ["x", "y"]},
        ]
    }
    worst = worst_instance_hours(request)
    assert worst.value == pytest.approx(6 * 2 * 0.5)
    assert "6 Grid combinations" in str(worst)


def test_warm_start_parents_add_nothing() -> None:
    request = _request()
    cold = worst_instance_hours(request).value
    request["WarmStartConfig"] = {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent"}],
        "WarmStartType": "TransferLearning",
    }
    assert worst_instance_hours(request).value == cold


def test_without_any_bound_it_says_what_to_set() -> None:
    with pytest.raises(BudgetError, match="set MaxNumberOfTrainingJobs or MaxRuntimeInSeconds"):
        worst_instance_hours(_request(max_jobs=None))
    # the tuning job's own limit alone bounds it
    assert worst_instance_hours(_request(max_jobs=None, MaxRuntimeInSeconds=3600)).value == 6


def test_cost_at_the_users_prices() -> None:
    cost = worst_cost(_request(), {"ml.m5.large": 0.115})
    assert cost.value == pytest.approx(10 * 2 * 0.115 * 0.5)
    assert "2 x ml.m5.large at 0.115/h (TrainingJobDefinition.ResourceConfig)" in str(cost)


def test_a_missing_price_names_the_instance_type() -> None:
    with pytest.raises(BudgetError) as raised:
        worst_cost(_request(), {"ml.c5.xlarge": 0.2})
    assert "no price for ml.m5.large (TrainingJobDefinition.ResourceConfig.InstanceType)" in str(raised.value)
    with pytest.raises(BudgetError, match=r"instance_prices\['ml.m5.large'\]: must be a number >= 0"):
        worst_cost(_request(), {"ml.m5.large": -1})


def test_over_the_cap_gives_the_computation() -> None:
    with pytest.raises(BudgetExceeded) as raised:
        check_budget(_request(), max_instance_hours=9.5)
    message = str(raised.value)
    assert message.startswith(
        "The tuning request's worst case is 10 instance-hours, over max_instance_hours=9.5"
    )
    assert "no tuning job was created" in message
    assert "MaxNumberOfTrainingJobs 10 x 2 instance(s)" in message
    with pytest.raises(BudgetExceeded, match="over max_cost=1"):
        check_budget(_request(), max_cost=1, instance_prices={"ml.m5.large": 0.115})


def test_within_the_caps_returns_the_worst_cases() -> None:
    request = copy.deepcopy(_request())
    found = check_budget(
        request, max_instance_hours=10, max_cost=1.15, instance_prices={"ml.m5.large": 0.115}
    )
    assert [worst.value for worst in found] == pytest.approx([10, 1.15])
    assert check_budget(request) == []
    with pytest.raises(BudgetError, match="max_cost needs instance_prices"):
        check_budget(request, max_cost=5)
