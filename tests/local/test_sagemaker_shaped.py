"""Requests shaped as SageMaker accepts them -- built-in algorithm images without MetricDefinitions,
no MaxNumberOfTrainingJobs, completion criteria, RandomSeed, Hyperband, Grid, several definitions
with InstanceConfigs, managed spot, VPC, checkpoints, warm start -- run on the backend once local code
and data are substituted (:func:`localized`); what it cannot run (Autotune, algorithm resources) is
refused with "the local backend does not support", naming the member, and nothing else."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from airflow_hpt.local import LocalSageMaker
from tests.local.conftest import SCRIPTS, quadratic_container, s3_client, training_jobs, wait_for
from tests.waiting import wait_until

CFG = "HyperParameterTuningJobConfig"
XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
DATA_URI = "s3://data/shaped/"
NOT_SUPPORTED = "the local backend does not support"


def channel(name: str) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "ContentType": "text/csv",
        "CompressionType": "None",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": f"s3://sagemaker-us-east-1-123456789012/xgboost/{name}",
                "S3DataDistributionType": "FullyReplicated",
            }
        },
    }


def xgboost_definition(**extra: Any) -> dict[str, Any]:
    """A built-in XGBoost definition as the SageMaker Python SDK sends it: an image, no MetricDefinitions."""
    return {
        "AlgorithmSpecification": {"TrainingImage": XGBOOST, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "InputDataConfig": [channel("train"), channel("validation")],
        "OutputDataConfig": {"S3OutputPath": "s3://sagemaker-us-east-1-123456789012/xgboost/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "StaticHyperParameters": {"objective": "binary:logistic", "num_round": "3", "eval_metric": "auc"},
        **extra,
    }


XGBOOST_RANGES = {
    "IntegerParameterRanges": [
        {"Name": "max_depth", "MinValue": "2", "MaxValue": "8", "ScalingType": "Auto"}
    ],
    "ContinuousParameterRanges": [
        {"Name": "eta", "MinValue": "0.05", "MaxValue": "0.5", "ScalingType": "Logarithmic"},
        {"Name": "min_child_weight", "MinValue": "1", "MaxValue": "10", "ScalingType": "Linear"},
    ],
}
AUC = {"Type": "Maximize", "MetricName": "validation:auc"}


def tuning(name: str, config: dict[str, Any], **rest: Any) -> dict[str, Any]:
    return {"HyperParameterTuningJobName": name, CFG: config, **rest}


ACCEPTED: dict[str, dict[str, Any]] = {
    "bayesian-no-budget-criteria-seed": tuning(
        "NoBudget",
        {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": AUC,
            "ResourceLimits": {"MaxParallelTrainingJobs": 2},
            "ParameterRanges": XGBOOST_RANGES,
            "RandomSeed": 42,
            "TrainingJobEarlyStoppingType": "Auto",
            "TuningJobCompletionCriteria": {
                "TargetObjectiveMetricValue": 0.95,
                "BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 5},
                "ConvergenceDetected": {"CompleteOnConvergence": "Enabled"},
            },
        },
        TrainingJobDefinition=xgboost_definition(),
    ),
    "hyperband": tuning(
        "Hyperband",
        {
            "Strategy": "Hyperband",
            "StrategyConfig": {"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 3}},
            "HyperParameterTuningJobObjective": AUC,
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 1},
            "ParameterRanges": XGBOOST_RANGES,
        },
        TrainingJobDefinition=xgboost_definition(),
    ),
    "hyperband-config-with-bayesian": tuning(
        "BayesianHyperbandConfig",
        {
            "Strategy": "Bayesian",
            "StrategyConfig": {"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 3}},
            "HyperParameterTuningJobObjective": AUC,
            "ResourceLimits": {"MaxParallelTrainingJobs": 1, "MaxRuntimeInSeconds": 3600},
            "ParameterRanges": XGBOOST_RANGES,
        },
        TrainingJobDefinition=xgboost_definition(),
    ),
    "grid-no-budget": tuning(
        "Grid",
        {
            "Strategy": "Grid",
            "HyperParameterTuningJobObjective": AUC,
            "ResourceLimits": {"MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "CategoricalParameterRanges": [
                    {"Name": "max_depth", "Values": ["3", "5"]},
                    {"Name": "booster", "Values": ["gbtree", "dart"]},
                ]
            },
        },
        TrainingJobDefinition=xgboost_definition(),
    ),
    "two-definitions-instance-configs": tuning(
        "TwoDefinitions",
        {
            "Strategy": "Random",
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 2},
            "RandomSeed": 3,
        },
        TrainingJobDefinitions=[
            {
                **{key: value for key, value in xgboost_definition().items() if key != "ResourceConfig"},
                "DefinitionName": name,
                "TuningObjective": AUC,
                "HyperParameterRanges": XGBOOST_RANGES,
                "HyperParameterTuningResourceConfig": {
                    "InstanceConfigs": [
                        {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5},
                        {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5},
                    ],
                    "AllocationStrategy": "Prioritized",
                },
            }
            for name in ("first", "second")
        ],
    ),
    "spot-vpc-checkpoints": tuning(
        "SpotInVpc",
        {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": AUC,
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 1, "MaxParallelTrainingJobs": 1},
            "ParameterRanges": XGBOOST_RANGES,
        },
        TrainingJobDefinition=xgboost_definition(
            EnableManagedSpotTraining=True,
            StoppingCondition={"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
            CheckpointConfig={"S3Uri": "s3://sagemaker-us-east-1-123456789012/xgboost/checkpoints"},
            VpcConfig={"SecurityGroupIds": ["sg-0123456789abcdef0"], "Subnets": ["subnet-0123456789abcdef0"]},
            EnableNetworkIsolation=True,
            EnableInterContainerTrafficEncryption=True,
        ),
    ),
}


def localized(request: dict[str, Any]) -> dict[str, Any]:
    """``request`` made runnable here, changing only what names code and data: the quadratic script
    in place of the image, its loss as each objective metric, the store's objects in place of S3's."""
    request = copy.deepcopy(request)
    config = request[CFG]
    if "TrainingJobDefinition" in request:
        definitions = [request["TrainingJobDefinition"]]
    else:
        definitions = request["TrainingJobDefinitions"]
    script = quadratic_container("s3://models/shaped", 60)["AlgorithmSpecification"]
    for definition in definitions:
        algorithm = definition["AlgorithmSpecification"]
        objective = definition.get("TuningObjective") or config.get("HyperParameterTuningJobObjective")
        if "TrainingImage" in algorithm:
            algorithm["TrainingImage"] = script["TrainingImage"]
            if objective:
                regex = script["MetricDefinitions"][0]["Regex"]
                algorithm["MetricDefinitions"] = [{"Name": objective["MetricName"], "Regex": regex}]
        definition.setdefault("StaticHyperParameters", {}).update(
            sagemaker_program="quadratic.py", sagemaker_submit_directory=SCRIPTS.as_uri()
        )
        for item in definition.get("InputDataConfig") or []:
            item["DataSource"]["S3DataSource"]["S3Uri"] = DATA_URI
        definition["OutputDataConfig"]["S3OutputPath"] = "s3://models/shaped"
    return request


@pytest.fixture
def data(backend: LocalSageMaker) -> None:
    s3 = s3_client(backend)
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="shaped/rows.csv", Body=b"1,0.5\n0,0.1\n")


def runs(client: Any, request: dict[str, Any], *, stop: bool = True) -> dict[str, Any]:
    """Create ``request``, wait for a training job with an objective value, stop the tuning job then
    if ``stop`` (it may have no bound but its runtime) and it still runs; its final description."""
    name = request["HyperParameterTuningJobName"]
    client.create_hyper_parameter_tuning_job(**request)
    if not stop:
        return wait_for(client, name)

    def objective_or_end() -> dict[str, Any] | None:
        job: dict[str, Any] = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        done = job["HyperParameterTuningJobStatus"] != "InProgress"
        return job if done or job["ObjectiveStatusCounters"]["Succeeded"] else None

    if wait_until(f"{name} to produce an objective", objective_or_end)["HyperParameterTuningJobStatus"] == (
        "InProgress"
    ):
        try:
            client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        except ClientError as error:  # it ended meanwhile
            assert error.response["Error"]["Code"] == "ValidationException"
    job = wait_for(client, name)
    assert job["ObjectiveStatusCounters"]["Succeeded"] >= 1, job
    return job


@pytest.mark.parametrize("case", ACCEPTED)
def test_a_sagemaker_shaped_request_runs(client: Any, data: None, case: str) -> None:
    request = localized(ACCEPTED[case])
    job = runs(client, request, stop=case != "grid-no-budget")
    # as sent, with SageMaker's one default there (answers.py)
    assert job[CFG] == {"TrainingJobEarlyStoppingType": "Off", **request[CFG]}
    if case == "grid-no-budget":
        assert job["HyperParameterTuningJobStatus"] == "Completed"
        assert len(training_jobs(client, "Grid")) == 4


def test_warm_start_from_a_sagemaker_shaped_parent(client: Any, data: None) -> None:
    parent = localized(ACCEPTED["spot-vpc-checkpoints"])
    runs(client, parent)
    child = localized(ACCEPTED["hyperband-config-with-bayesian"])
    child["HyperParameterTuningJobName"] = "WarmChild"
    child["WarmStartConfig"] = {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "SpotInVpc"}],
        "WarmStartType": "TransferLearning",
    }
    assert runs(client, child)["WarmStartConfig"]["WarmStartType"] == "TransferLearning"


def refusal(client: Any, request: dict[str, Any]) -> str:
    with pytest.raises(ClientError) as raised:
        client.create_hyper_parameter_tuning_job(**request)
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert client.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"] == []
    return str(error["Message"])


def with_autotune(request: dict[str, Any]) -> None:
    request["Autotune"] = {"Mode": "Enabled"}
    del request[CFG]["HyperParameterTuningJobObjective"], request[CFG]["ParameterRanges"]
    request[CFG]["ResourceLimits"] = {"MaxParallelTrainingJobs": 1}


def with_algorithm_resource(request: dict[str, Any]) -> None:
    definition = request["TrainingJobDefinition"]
    definition["AlgorithmSpecification"] = {"AlgorithmName": "my-algorithm", "TrainingInputMode": "File"}
    del definition["InputDataConfig"]


REFUSED: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "autotune-without-objective-and-ranges": (with_autotune, "Autotune"),
    "algorithm-resource-without-channels": (
        with_algorithm_resource,
        "TrainingJobDefinition.AlgorithmSpecification.AlgorithmName",
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_what_the_backend_cannot_run_is_refused_alone(client: Any, data: None, case: str) -> None:
    change, member = REFUSED[case]
    request = localized(ACCEPTED["hyperband"])
    change(request)
    message = refusal(client, request)
    assert "(1 problem(s))" in message and f"  - {member}: {NOT_SUPPORTED}" in message, message
