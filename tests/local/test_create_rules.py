"""Create refuses, with a 400 ValidationException naming the member, every request SageMaker
refuses (the shared rules of airflow_hpt.request) and every request this backend cannot run;
nothing is created. Omitted members get SageMaker's defaults. Real boto3 client over loopback."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from airflow_hpt.local import LocalSageMaker
from tests.local.conftest import make_client, quadratic_request, training_jobs, wait_for

Change = Callable[[dict[str, Any]], None]

CFG = "HyperParameterTuningJobConfig"
TJD = "TrainingJobDefinition"
CHANNEL = {
    "ChannelName": "train",
    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://data/train/"}},
}
INSTANCE = {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1}
NOT_SUPPORTED = "the local backend does not support"


def config(request: dict[str, Any]) -> dict[str, Any]:
    return request[CFG]  # type: ignore[no-any-return]


def definition(request: dict[str, Any]) -> dict[str, Any]:
    return request[TJD]  # type: ignore[no-any-return]


def algorithm(request: dict[str, Any]) -> dict[str, Any]:
    return definition(request)["AlgorithmSpecification"]  # type: ignore[no-any-return]


def swap(parent: Callable[[dict[str, Any]], dict[str, Any]], remove: str, **add: Any) -> Change:
    """Replace the member ``remove`` of ``parent(request)`` by the members ``add``."""

    def change(request: dict[str, Any]) -> None:
        node = parent(request)
        del node[remove]
        node.update(copy.deepcopy(add))

    return change


def with_channel(source: dict[str, Any]) -> Change:
    def change(request: dict[str, Any]) -> None:
        definition(request)["InputDataConfig"] = [{"ChannelName": "train", "DataSource": source}]

    return change


def as_multi_algorithm(second: Change) -> Change:
    """Two definitions with their own ranges and objectives; ``second`` changes the second one."""

    def change(request: dict[str, Any]) -> None:
        single = request.pop(TJD)
        tuning = request[CFG]
        ranges, objective = tuning.pop("ParameterRanges"), tuning.pop("HyperParameterTuningJobObjective")
        request["TrainingJobDefinitions"] = [
            {
                **copy.deepcopy(single),
                "DefinitionName": name,
                "HyperParameterRanges": ranges,
                "TuningObjective": objective,
            }
            for name in ("first", "second")
        ]
        second({TJD: request["TrainingJobDefinitions"][1]})

    return change


def hyperband_without_max_resource(request: dict[str, Any]) -> None:
    config(request).update(
        Strategy="Hyperband", StrategyConfig={"HyperbandStrategyConfig": {"MinResource": 1}}
    )
    del definition(request)["StaticHyperParameters"]["epochs"]


# (change, member named in the message, fragment of the rule)
REFUSED: dict[str, tuple[Change, str, str]] = {
    # SageMaker's rules, shared with the operator
    "no-objective": (
        lambda r: config(r).pop("HyperParameterTuningJobObjective"),
        f"{CFG}.HyperParameterTuningJobObjective",
        "is required",
    ),
    "no-ranges": (lambda r: config(r).pop("ParameterRanges"), f"{CFG}.ParameterRanges", "is required"),
    "hyperband-no-max-resource-no-epochs": (
        hyperband_without_max_resource,
        f"{CFG}.StrategyConfig.HyperbandStrategyConfig.MaxResource",
        "Hyperband cannot infer it",
    ),
    "both-resource-configs": (
        lambda r: definition(r).update(HyperParameterTuningResourceConfig=INSTANCE),
        f"{TJD}.HyperParameterTuningResourceConfig",
        "cannot be given together with ResourceConfig",
    ),
    "no-resource-config": (
        lambda r: definition(r).pop("ResourceConfig"),
        f"{TJD}.ResourceConfig",
        "is required (or HyperParameterTuningResourceConfig)",
    ),
    "instance-configs-with-instance-type": (
        swap(
            definition,
            "ResourceConfig",
            HyperParameterTuningResourceConfig={"InstanceType": "ml.m5.large", "InstanceConfigs": [INSTANCE]},
        ),
        f"{TJD}.HyperParameterTuningResourceConfig.InstanceType",
        "cannot be given together with InstanceConfigs",
    ),
    "spot-max-wait-below-runtime": (
        lambda r: definition(r).update(
            EnableManagedSpotTraining=True,
            StoppingCondition={"MaxRuntimeInSeconds": 60, "MaxWaitTimeInSeconds": 30},
        ),
        f"{TJD}.StoppingCondition.MaxWaitTimeInSeconds",
        "must be at least MaxRuntimeInSeconds (60)",
    ),
    # what SageMaker runs but this backend cannot
    "auto-parameters-without-autotune": (
        lambda r: config(r)["ParameterRanges"].update(AutoParameters=[{"Name": "z", "ValueHint": "1"}]),
        f"{CFG}.ParameterRanges.AutoParameters",
        NOT_SUPPORTED,
    ),
    "file-system-channel": (
        with_channel(
            {
                "FileSystemDataSource": {
                    "FileSystemId": "fs-0123456789abcdef0",
                    "FileSystemAccessMode": "ro",
                    "FileSystemType": "EFS",
                    "DirectoryPath": "/data",
                }
            }
        ),
        f"{TJD}.InputDataConfig[0].DataSource.FileSystemDataSource",
        NOT_SUPPORTED,
    ),
    "manifest-file-channel": (
        with_channel({"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://data/manifest"}}),
        f"{TJD}.InputDataConfig[0].DataSource.S3DataSource.S3DataType",
        NOT_SUPPORTED,
    ),
    "pipe-mode-channel": (
        lambda r: definition(r).update(InputDataConfig=[{**CHANNEL, "InputMode": "Pipe"}]),
        f"{TJD}.InputDataConfig[0].InputMode",
        NOT_SUPPORTED,
    ),
    "algorithm-name": (
        swap(
            algorithm, "TrainingImage", AlgorithmName="arn:aws:sagemaker:us-east-1:123456789012:algorithm/q"
        ),
        f"{TJD}.AlgorithmSpecification.AlgorithmName",
        NOT_SUPPORTED,
    ),
    "algorithm-name-in-second-definition": (
        as_multi_algorithm(swap(algorithm, "TrainingImage", AlgorithmName="quadratic")),
        "TrainingJobDefinitions[1].AlgorithmSpecification.AlgorithmName",
        NOT_SUPPORTED,
    ),
    "autotune": (lambda r: r.update(Autotune={"Mode": "Enabled"}), "Autotune", NOT_SUPPORTED),
    "no-entry-script": (
        lambda r: definition(r)["StaticHyperParameters"].pop("sagemaker_program"),
        f"{TJD}.StaticHyperParameters.sagemaker_program",
        f"{NOT_SUPPORTED} training images: it runs script-mode training only",
    ),
    "built-in-algorithm-metrics": (
        lambda r: algorithm(r).pop("MetricDefinitions"),
        f"{TJD}.AlgorithmSpecification.MetricDefinitions",
        f"{NOT_SUPPORTED} the metrics a built-in algorithm publishes itself",
    ),
}


@pytest.fixture(scope="module")
def shared_backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSageMaker]:
    with LocalSageMaker(tmp_path_factory.mktemp("home")) as started:
        yield started


def refusal(client: Any, request: dict[str, Any]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as raised:
        client.create_hyper_parameter_tuning_job(**request)
    response = raised.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def assert_nothing_created(client: Any, backend: LocalSageMaker) -> None:
    assert client.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"] == []
    assert client.list_training_jobs()["TrainingJobSummaries"] == []
    training = backend.home / "training"
    assert not training.exists() or not any(training.iterdir())


@pytest.mark.parametrize("case", REFUSED)
def test_create_refuses_with_the_member_named(shared_backend: LocalSageMaker, case: str) -> None:
    change, member, rule = REFUSED[case]
    request = quadratic_request("Refused")
    change(request)
    client = make_client(shared_backend.endpoint_url)
    code, status, message = refusal(client, request)
    assert (code, status) == ("ValidationException", 400)
    assert f"  - {member}: " in message and rule in message, message
    assert_nothing_created(client, shared_backend)


def test_every_problem_is_in_one_refusal(shared_backend: LocalSageMaker) -> None:
    """SageMaker's rules and the backend's own limits are reported together."""
    request = quadratic_request("Refused")
    for change, _member, _rule in (
        REFUSED["no-resource-config"],
        REFUSED["file-system-channel"],
        REFUSED["autotune"],
    ):
        change(request)
    client = make_client(shared_backend.endpoint_url)
    code, _status, message = refusal(client, request)
    assert code == "ValidationException"
    assert "(3 problem(s))" in message
    for name in ("no-resource-config", "file-system-channel", "autotune"):
        assert f"  - {REFUSED[name][1]}: " in message
    assert_nothing_created(client, shared_backend)


def test_omitted_max_runtime_gets_sagemakers_one_day(backend: LocalSageMaker, client: Any) -> None:
    request = quadratic_request("Defaulted", max_jobs=1, parallel=1)
    del definition(request)["StoppingCondition"]["MaxRuntimeInSeconds"]
    client.create_hyper_parameter_tuning_job(**request)
    job = wait_for(client, "Defaulted")
    assert job["HyperParameterTuningJobStatus"] == "Completed", job
    assert job["TrainingJobDefinition"]["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
    [summary] = training_jobs(client, "Defaulted")
    described = client.describe_training_job(TrainingJobName=summary["TrainingJobName"])
    assert described["StoppingCondition"]["MaxRuntimeInSeconds"] == 86400


def test_hyperband_infers_max_resource_from_epochs(backend: LocalSageMaker, client: Any) -> None:
    """The valid twin of the Hyperband refusal: an epochs static hyperparameter is enough."""
    request = quadratic_request("Inferred", max_jobs=2, parallel=1, strategy="Hyperband")
    config(request)["StrategyConfig"] = {"HyperbandStrategyConfig": {"MinResource": 1}}
    client.create_hyper_parameter_tuning_job(**request)
    assert wait_for(client, "Inferred")["HyperParameterTuningJobStatus"] == "Completed"


def test_spot_without_max_wait_runs(backend: LocalSageMaker, client: Any) -> None:
    """Nobody has shown SageMaker refusing it (a validator warning): the backend runs it."""
    request = quadratic_request("SpotNoWait", max_jobs=1, parallel=1)
    definition(request).update(EnableManagedSpotTraining=True)
    client.create_hyper_parameter_tuning_job(**request)
    assert wait_for(client, "SpotNoWait")["HyperParameterTuningJobStatus"] == "Completed"
