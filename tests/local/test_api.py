"""The local backend's API over HTTP: response shapes, errors, List filters and paging, tags,
deployment resources, fault injection, and clients other than boto3 (aiobotocore, the amazon
provider's SageMakerHook)."""

from __future__ import annotations

import asyncio
import json
import math
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.exceptions
import botocore.session
import pytest
from botocore.exceptions import ClientError

from airflow_hpt.local import Faults, LocalSageMaker
from tests.local.conftest import (
    REGION,
    make_client,
    quadratic_request,
    signed_headers,
    training_jobs,
    wait_for,
)
from tests.waiting import PATIENCE_SECONDS, PATIENT_WAITER, wait_until

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
MODEL = botocore.session.get_session().get_service_model("sagemaker")


def raw_call(endpoint_url: str, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    """One awsJson1_1 call without botocore's client (only its signer): status, headers and the
    JSON body exactly as sent."""
    data = json.dumps(body).encode()
    headers = {"X-Amz-Target": f"SageMaker.{operation}", "Content-Type": "application/x-amz-json-1.1"}
    request = urllib.request.Request(
        endpoint_url + "/",
        data=data,
        headers=signed_headers(endpoint_url + "/", data, headers),
        method="POST",
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def shape_problems(value: Any, shape: Any, path: str) -> list[str]:
    """Where ``value`` departs from a botocore output shape (members, required, wire types, enums)."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected an object for {shape.name}"]
        problems = [
            f"{path}.{name}: required by {shape.name}" for name in shape.required_members if name not in value
        ]
        for name, member in value.items():
            if name not in shape.members:
                problems.append(f"{path}.{name}: not a member of {shape.name}")
            else:
                problems += shape_problems(member, shape.members[name], f"{path}.{name}")
        return problems
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: expected a list"]
        return [
            p
            for index, item in enumerate(value)
            for p in shape_problems(item, shape.member, f"{path}[{index}]")
        ]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected a map"]
        return [p for key, item in value.items() for p in shape_problems(item, shape.value, f"{path}.{key}")]
    checks: dict[str, Callable[[Any], bool]] = {
        "string": lambda v: isinstance(v, str) and (not shape.enum or v in shape.enum),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "long": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "double": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        # epoch seconds on the awsJson1_1 wire
        "timestamp": lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v > 1e9,
    }
    return [] if checks[kind](value) else [f"{path}: {value!r} is not a valid {kind} ({shape.name})"]


def assert_shape(endpoint_url: str, operation: str, body: dict[str, Any]) -> Any:
    status, _, response = raw_call(endpoint_url, operation, body)
    assert status == 200, response
    output = MODEL.operation_model(operation).output_shape
    if output is not None:
        assert shape_problems(response, output, operation) == []
    return response


def test_responses_follow_the_service_model(backend: LocalSageMaker, client: Any, create: Any) -> None:
    create("Shapes", max_jobs=2)
    wait_for(client, "Shapes")
    url = backend.endpoint_url
    job = assert_shape(url, "DescribeHyperParameterTuningJob", {"HyperParameterTuningJobName": "shapes"})
    assert job["HyperParameterTuningJobArn"] == (
        f"arn:aws:sagemaker:{REGION}:123456789012:hyper-parameter-tuning-job/shapes"
    )
    assert job["HyperParameterTuningJobName"] == "Shapes"
    assert isinstance(job["CreationTime"], float)
    assert_shape(url, "ListHyperParameterTuningJobs", {})
    summaries = assert_shape(
        url, "ListTrainingJobsForHyperParameterTuningJob", {"HyperParameterTuningJobName": "Shapes"}
    )
    name = summaries["TrainingJobSummaries"][0]["TrainingJobName"]
    assert_shape(url, "DescribeTrainingJob", {"TrainingJobName": name})
    assert_shape(url, "ListTrainingJobs", {})
    assert_shape(url, "ListTags", {"ResourceArn": job["HyperParameterTuningJobArn"]})
    artifact = job["BestTrainingJob"]["TrainingJobName"]
    model_data = client.describe_training_job(TrainingJobName=artifact)["ModelArtifacts"]["S3ModelArtifacts"]
    assert_shape(
        url,
        "CreateModel",
        {
            "ModelName": "m",
            "PrimaryContainer": {"Image": "img", "ModelDataUrl": model_data},
            "ExecutionRoleArn": ROLE,
        },
    )
    assert_shape(url, "DescribeModel", {"ModelName": "m"})
    variant = {"VariantName": "v", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    assert_shape(url, "CreateEndpointConfig", {"EndpointConfigName": "c", "ProductionVariants": [variant]})
    assert_shape(url, "DescribeEndpointConfig", {"EndpointConfigName": "c"})
    assert_shape(url, "CreateEndpoint", {"EndpointName": "e", "EndpointConfigName": "c"})
    client.get_waiter("endpoint_in_service").wait(EndpointName="e", WaiterConfig=PATIENT_WAITER)
    assert_shape(url, "DescribeEndpoint", {"EndpointName": "e"})
    for operation, member in (
        ("ListModels", "Models"),
        ("ListEndpointConfigs", "EndpointConfigs"),
        ("ListEndpoints", "Endpoints"),
    ):
        assert len(assert_shape(url, operation, {})[member]) == 1


def test_training_job_names_tags_and_arns(client: Any, create: Any) -> None:
    request = quadratic_request("Tagged", max_jobs=2)
    request["Tags"] = [{"Key": "team", "Value": "ml"}]
    client.create_hyper_parameter_tuning_job(**request)
    wait_for(client, "Tagged")
    for summary in training_jobs(client, "Tagged"):
        assert summary["TrainingJobName"].startswith("Tagged-00")
        prefix, number, suffix = summary["TrainingJobName"].rsplit("-", 2)
        assert (prefix, len(number), len(suffix)) == ("Tagged", 3, 8)
        int(suffix, 16)
        assert summary["TrainingJobArn"].endswith(f"training-job/{summary['TrainingJobName'].lower()}")
        tags = client.list_tags(ResourceArn=summary["TrainingJobArn"])["Tags"]
        assert tags == [{"Key": "team", "Value": "ml"}]
        described = client.describe_training_job(TrainingJobName=summary["TrainingJobName"])
        assert described["TuningJobArn"].endswith("hyper-parameter-tuning-job/tagged")


def test_tags_add_list_delete(client: Any, create: Any) -> None:
    create("Tags", max_jobs=1, parallel=1)
    arn = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="Tags")[
        "HyperParameterTuningJobArn"
    ]
    client.add_tags(ResourceArn=arn, Tags=[{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
    client.add_tags(ResourceArn=arn, Tags=[{"Key": "a", "Value": "3"}])
    assert client.list_tags(ResourceArn=arn)["Tags"] == [
        {"Key": "a", "Value": "3"},
        {"Key": "b", "Value": "2"},
    ]
    client.delete_tags(ResourceArn=arn, TagKeys=["a"])
    assert client.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "b", "Value": "2"}]
    with pytest.raises(client.exceptions.ResourceNotFound):
        client.list_tags(ResourceArn=arn.replace("/tags", "/nothing"))
    wait_for(client, "Tags")


# --- errors ---------------------------------------------------------------------------------


def test_name_taken_case_insensitively_is_resource_in_use(client: Any, create: Any) -> None:
    create("Taken", max_jobs=1, parallel=1)
    with pytest.raises(client.exceptions.ResourceInUse) as raised:
        create("TAKEN", max_jobs=1, parallel=1)
    assert "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/taken" in str(raised.value)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert raised.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == "ResourceInUse"
    wait_for(client, "Taken")


def test_unknown_job_is_resource_not_found(client: Any) -> None:
    with pytest.raises(client.exceptions.ResourceNotFound):
        client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="missing")
    with pytest.raises(client.exceptions.ResourceNotFound):
        client.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName="missing")
    with pytest.raises(client.exceptions.ResourceNotFound):
        client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="missing")
    # SageMaker's own answer for a training job, which the amazon provider relies on
    with pytest.raises(ClientError, match="ValidationException"):
        client.describe_training_job(TrainingJobName="missing-001-00000000")


def test_invalid_request_lists_every_problem(client: Any) -> None:
    request = quadratic_request("bad_name!", parallel=5)
    request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]["MetricName"] = "accuracy"
    with pytest.raises(ClientError) as raised:
        client.create_hyper_parameter_tuning_job(**request)
    error = raised.value.response["Error"]
    assert error["Code"] == "ValidationException"
    for where in ("HyperParameterTuningJobName", "MaxParallelTrainingJobs", "MetricName"):
        assert where in error["Message"]


def test_definition_without_local_runner_is_rejected(client: Any) -> None:
    request = quadratic_request("NoRunner")
    del request["TrainingJobDefinition"]["StaticHyperParameters"]["sagemaker_program"]
    with pytest.raises(ClientError) as raised:
        client.create_hyper_parameter_tuning_job(**request)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "sagemaker_program" in raised.value.response["Error"]["Message"]


def test_limits_are_resource_limit_exceeded(home: Path, tmp_path: Path) -> None:
    release = tmp_path / "release"
    with LocalSageMaker(home, max_concurrent_tuning_jobs=1) as backend:
        client = make_client(backend.endpoint_url)
        client.create_hyper_parameter_tuning_job(
            **quadratic_request("One", max_jobs=1, parallel=1, static={"hold": str(release)})
        )
        with pytest.raises(client.exceptions.ResourceLimitExceeded) as raised:
            client.create_hyper_parameter_tuning_job(**quadratic_request("Two", max_jobs=1, parallel=1))
        assert "1 jobs" in str(raised.value)
        with pytest.raises(client.exceptions.ResourceLimitExceeded):
            client.create_hyper_parameter_tuning_job(**quadratic_request("Wide", max_jobs=20, parallel=11))
        release.touch()
        wait_for(client, "One")
        warm = quadratic_request("TooMany", max_jobs=750)
        warm["WarmStartConfig"] = {
            "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "One"}],
            "WarmStartType": "IdenticalDataAndAlgorithm",
        }
        with pytest.raises(client.exceptions.ResourceLimitExceeded) as raised:
            client.create_hyper_parameter_tuning_job(**warm)
        assert "750" in str(raised.value)


def test_warm_start_parents_must_exist_and_be_terminal(client: Any, create: Any, tmp_path: Path) -> None:
    release = tmp_path / "release"
    create("Running", max_jobs=1, parallel=1, static={"hold": str(release)})
    request = quadratic_request("Child", max_jobs=1, parallel=1)
    request["WarmStartConfig"] = {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "Running"}],
        "WarmStartType": "TransferLearning",
    }
    with pytest.raises(client.exceptions.ClientError) as raised:
        client.create_hyper_parameter_tuning_job(**request)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert "terminal" in raised.value.response["Error"]["Message"]
    request["WarmStartConfig"]["ParentHyperParameterTuningJobs"] = [
        {"HyperParameterTuningJobName": "Nowhere"}
    ]
    with pytest.raises(client.exceptions.ResourceNotFound):
        client.create_hyper_parameter_tuning_job(**request)
    release.touch()
    wait_for(client, "Running")


def test_state_errors_are_validation_or_resource_in_use(client: Any, create: Any, tmp_path: Path) -> None:
    release = tmp_path / "release"
    create("Busy", max_jobs=1, parallel=1, static={"hold": str(release)})
    with pytest.raises(client.exceptions.ResourceInUse):
        client.delete_hyper_parameter_tuning_job(HyperParameterTuningJobName="Busy")
    release.touch()
    wait_for(client, "Busy")
    with pytest.raises(ClientError) as raised:
        client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="Busy")
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    name = training_jobs(client, "Busy")[0]["TrainingJobName"]
    with pytest.raises(ClientError) as raised:
        client.stop_training_job(TrainingJobName=name)
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    client.delete_hyper_parameter_tuning_job(HyperParameterTuningJobName="Busy")
    with pytest.raises(client.exceptions.ResourceNotFound):
        client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="Busy")
    # the training jobs outlive their tuning job, as on SageMaker
    assert client.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Completed"


def test_unknown_operation(backend: LocalSageMaker, client: Any) -> None:
    with pytest.raises(ClientError) as raised:
        client.list_clusters()  # one of the many SageMaker operations the backend does not serve
    assert raised.value.response["Error"]["Code"] == "UnknownOperationException"
    status, headers, body = raw_call(backend.endpoint_url, "NoSuchThing", {})
    assert status == 400
    assert body["__type"] == headers["x-amzn-ErrorType"] == "UnknownOperationException"


# --- List filters and paging ----------------------------------------------------------------


def test_list_tuning_jobs_filters_sorting_paging(client: Any, create: Any, tmp_path: Path) -> None:
    for name in ("alpha-1", "beta-1", "alpha-2"):
        create(name, max_jobs=1, parallel=1)
    ended = [wait_for(client, name)["LastModifiedTime"] for name in ("alpha-1", "beta-1", "alpha-2")]
    # botocore sends timestamps as whole epoch seconds: the cutoff is the first whole second after
    # every change to the first three jobs, and the fourth is created once the clock has passed it
    cutoff = datetime.fromtimestamp(math.floor(max(ended).timestamp()) + 1, UTC)
    wait_until("the clock to pass the cutoff", lambda: datetime.now(UTC) > cutoff)
    release = tmp_path / "release"
    create("alpha-3", max_jobs=1, parallel=1, static={"hold": str(release)})

    def names(**filters: Any) -> list[str]:
        summaries = client.list_hyper_parameter_tuning_jobs(**filters)["HyperParameterTuningJobSummaries"]
        return [summary["HyperParameterTuningJobName"] for summary in summaries]

    assert names() == ["alpha-1", "alpha-2", "alpha-3", "beta-1"]
    assert names(NameContains="ALPHA", SortOrder="Descending") == ["alpha-3", "alpha-2", "alpha-1"]
    assert names(StatusEquals="InProgress") == ["alpha-3"]
    assert names(SortBy="CreationTime") == ["alpha-1", "beta-1", "alpha-2", "alpha-3"]
    assert names(CreationTimeAfter=cutoff, SortBy="CreationTime") == ["alpha-3"]
    assert names(CreationTimeBefore=cutoff, SortBy="CreationTime") == ["alpha-1", "beta-1", "alpha-2"]
    assert names(LastModifiedTimeAfter=cutoff) == ["alpha-3"]
    assert names(LastModifiedTimeBefore=cutoff) == ["alpha-1", "alpha-2", "beta-1"]
    first = client.list_hyper_parameter_tuning_jobs(MaxResults=3)
    assert len(first["HyperParameterTuningJobSummaries"]) == 3
    rest = client.list_hyper_parameter_tuning_jobs(MaxResults=3, NextToken=first["NextToken"])
    assert [s["HyperParameterTuningJobName"] for s in rest["HyperParameterTuningJobSummaries"]] == ["beta-1"]
    assert "NextToken" not in rest
    summary = first["HyperParameterTuningJobSummaries"][0]
    assert summary["Strategy"] == "Random" and "BestTrainingJob" not in summary
    with pytest.raises(ClientError):
        client.list_hyper_parameter_tuning_jobs(NextToken="garbage!")
    release.touch()
    assert wait_for(client, "alpha-3")["HyperParameterTuningJobStatus"] == "Completed"


def test_list_training_jobs_filters_sorting_paging(client: Any, create: Any) -> None:
    create("Listing", max_jobs=5, parallel=2)
    wait_for(client, "Listing")
    everything = training_jobs(client, "Listing")
    assert len(everything) == 5
    page = client.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="Listing", MaxResults=2
    )
    assert len(page["TrainingJobSummaries"]) == 2 and "NextToken" in page
    by_value = client.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="Listing", SortBy="FinalObjectiveMetricValue", SortOrder="Ascending"
    )["TrainingJobSummaries"]
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in by_value]
    assert values == sorted(values)
    best = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="Listing")[
        "BestTrainingJob"
    ]
    assert by_value[0]["TrainingJobName"] == best["TrainingJobName"]
    completed = client.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="Listing", StatusEquals="Completed"
    )["TrainingJobSummaries"]
    assert len(completed) == 5
    listed = client.list_training_jobs(NameContains="listing", SortBy="Name", MaxResults=100)[
        "TrainingJobSummaries"
    ]
    assert [s["TrainingJobName"] for s in listed] == sorted(s["TrainingJobName"] for s in everything)
    assert client.list_training_jobs(StatusEquals="Failed")["TrainingJobSummaries"] == []


# --- deployment -----------------------------------------------------------------------------


def test_model_endpoint_config_endpoint_lifecycle(backend: LocalSageMaker, client: Any, create: Any) -> None:
    create("Deployable", max_jobs=1, parallel=1)
    best = wait_for(client, "Deployable")["BestTrainingJob"]["TrainingJobName"]
    artifact = client.describe_training_job(TrainingJobName=best)["ModelArtifacts"]["S3ModelArtifacts"]
    assert backend.s3 is not None and backend.s3.path_for(artifact).is_file()
    container = {"Image": "img:1", "ModelDataUrl": artifact}
    client.create_model(ModelName="good", PrimaryContainer=container, ExecutionRoleArn=ROLE)
    client.create_model(
        ModelName="broken",
        PrimaryContainer={**container, "ModelDataUrl": "s3://models/none.tar.gz"},
        ExecutionRoleArn=ROLE,
    )
    with pytest.raises(ClientError, match="Cannot create already existing model"):
        client.create_model(ModelName="GOOD", PrimaryContainer=container, ExecutionRoleArn=ROLE)
    assert client.describe_model(ModelName="good")["PrimaryContainer"]["ModelDataUrl"] == artifact

    def variant(model: str) -> list[dict[str, Any]]:
        return [
            {
                "VariantName": "all",
                "ModelName": model,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": 1,
            }
        ]

    client.create_endpoint_config(EndpointConfigName="good-config", ProductionVariants=variant("good"))
    client.create_endpoint_config(EndpointConfigName="broken-config", ProductionVariants=variant("broken"))
    with pytest.raises(ClientError, match="Could not find model"):
        client.create_endpoint_config(EndpointConfigName="x", ProductionVariants=variant("nowhere"))
    client.create_endpoint(EndpointName="ep", EndpointConfigName="good-config")
    client.get_waiter("endpoint_in_service").wait(EndpointName="ep", WaiterConfig=PATIENT_WAITER)
    endpoint = client.describe_endpoint(EndpointName="ep")
    assert endpoint["ProductionVariants"][0]["DeployedImages"][0]["SpecifiedImage"] == "img:1"
    with pytest.raises(ClientError, match="Cannot create already existing endpoint"):
        client.create_endpoint(EndpointName="ep", EndpointConfigName="good-config")

    # a failed update rolls back, as on SageMaker: InService on the previous configuration, with the reason
    client.update_endpoint(EndpointName="ep", EndpointConfigName="broken-config")
    rolled_back = wait_until(
        "the update to settle",
        lambda: (e := client.describe_endpoint(EndpointName="ep"))["EndpointStatus"] != "Updating" and e,
    )
    assert rolled_back["EndpointStatus"] == "InService"
    assert rolled_back["EndpointConfigName"] == "good-config"
    assert "broken-config" in rolled_back["FailureReason"] and "none.tar.gz" in rolled_back["FailureReason"]
    client.update_endpoint(EndpointName="ep", EndpointConfigName="good-config")
    client.get_waiter("endpoint_in_service").wait(EndpointName="ep", WaiterConfig=PATIENT_WAITER)
    assert "FailureReason" not in client.describe_endpoint(EndpointName="ep")

    client.delete_endpoint(EndpointName="ep")
    client.delete_endpoint_config(EndpointConfigName="good-config")
    client.delete_model(ModelName="good")
    for call in (
        lambda: client.describe_endpoint(EndpointName="ep"),
        lambda: client.describe_endpoint_config(EndpointConfigName="good-config"),
        lambda: client.describe_model(ModelName="good"),
    ):
        with pytest.raises(ClientError) as raised:
            call()
        assert raised.value.response["Error"]["Code"] == "ValidationException"
        assert "Could not find" in raised.value.response["Error"]["Message"]


def test_endpoint_is_creating_or_updating_until_its_delay_passed(home: Path) -> None:
    """Checked on a backend whose endpoints take an hour: a status read right after the call
    cannot race with the end of the delay, however slow the machine. The endpoint to update is
    made on the same home by a backend without delay (state survives a restart)."""
    container = {"Image": "img:1", "ModelDataUrl": "s3://models/none.tar.gz"}
    variants = [
        {"VariantName": "all", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    ]
    with LocalSageMaker(home, endpoint_delay_seconds=0) as instant:
        client = make_client(instant.endpoint_url)
        client.create_model(ModelName="m", PrimaryContainer=container, ExecutionRoleArn=ROLE)
        client.create_endpoint_config(EndpointConfigName="c", ProductionVariants=variants)
        client.create_endpoint(EndpointName="settled", EndpointConfigName="c")
        # the model data is missing: it settles Failed, which may be updated like InService
        settled = wait_until(
            "the endpoint to settle",
            lambda: client.describe_endpoint(EndpointName="settled")["EndpointStatus"] != "Creating",
        )
        assert settled and client.describe_endpoint(EndpointName="settled")["EndpointStatus"] == "Failed"
    with LocalSageMaker(home, endpoint_delay_seconds=3600) as slow:
        client = make_client(slow.endpoint_url)
        client.create_endpoint(EndpointName="new", EndpointConfigName="c")
        assert client.describe_endpoint(EndpointName="new")["EndpointStatus"] == "Creating"
        client.update_endpoint(EndpointName="settled", EndpointConfigName="c")
        updating = client.describe_endpoint(EndpointName="settled")
        assert updating["EndpointStatus"] == "Updating" and "FailureReason" not in updating
        for name in ("new", "settled"):
            with pytest.raises(ClientError, match="Cannot update in-progress endpoint"):
                client.update_endpoint(EndpointName=name, EndpointConfigName="c")


# --- faults and other clients ---------------------------------------------------------------


def test_injected_throttling_is_retried_by_botocore(home: Path) -> None:
    faults = Faults({"DescribeHyperParameterTuningJob": 0.25, "ListHyperParameterTuningJobs": 1.0}, seed=3)
    with LocalSageMaker(home, faults=faults) as backend:
        strict = make_client(backend.endpoint_url)
        with pytest.raises(ClientError) as raised:
            strict.list_hyper_parameter_tuning_jobs()
        assert raised.value.response["Error"]["Code"] == "ThrottlingException"
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        patient = make_client(backend.endpoint_url, retries=5)
        patient.create_hyper_parameter_tuning_job(**quadratic_request("Throttled", max_jobs=1, parallel=1))
        retried = 0
        for _ in range(8):
            response = patient.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="Throttled")
            retried += response["ResponseMetadata"]["RetryAttempts"]
        assert retried > 0
        assert faults.injected["DescribeHyperParameterTuningJob"] == retried
        wait_for(patient, "Throttled")


def test_injected_server_errors() -> None:
    faults = Faults({"*": 1.0}, server_error_share=1.0, seed=1)
    codes = {faults.draw("AnyOperation").code for _ in range(20)}  # type: ignore[union-attr]
    assert codes == {"InternalFailure", "ServiceUnavailable"}
    assert Faults.parse("DescribeHyperParameterTuningJob=0.25,*=0.5").rates == {
        "DescribeHyperParameterTuningJob": 0.25,
        "*": 0.5,
    }
    with pytest.raises(ValueError):
        Faults({"X": 1.5})


def test_server_errors_reach_botocore_as_5xx(home: Path) -> None:
    with LocalSageMaker(home, faults=Faults({"ListTrainingJobs": 1.0}, server_error_share=1.0)) as backend:
        with pytest.raises(ClientError) as raised:
            make_client(backend.endpoint_url).list_training_jobs()
        assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] in (500, 503)


def test_aiobotocore_client(backend: LocalSageMaker, create: Any) -> None:
    from aiobotocore.session import get_session

    create("Async", max_jobs=2)

    async def poll() -> dict[str, Any]:
        session = get_session()
        async with session.create_client(
            "sagemaker",
            endpoint_url=backend.endpoint_url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ) as client:
            while True:
                job = await client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="Async")
                if job["HyperParameterTuningJobStatus"] != "InProgress":
                    with pytest.raises(client.exceptions.ResourceNotFound):
                        await client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="nope")
                    return dict(job)
                await asyncio.sleep(0.1)

    job = asyncio.run(asyncio.wait_for(poll(), PATIENCE_SECONDS))
    assert job["HyperParameterTuningJobStatus"] == "Completed"
    assert job["TrainingJobStatusCounters"]["Completed"] == 2


def test_amazon_provider_sagemaker_hook(
    backend: LocalSageMaker, client: Any, create: Any, aws_conn_env: Any
) -> None:
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    create("ViaHook", max_jobs=1, parallel=1)
    wait_for(client, "ViaHook")
    aws_conn_env(backend.endpoint_url)
    hook = SageMakerHook(aws_conn_id="aws_default")
    described = hook.describe_tuning_job("ViaHook")
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["BestTrainingJob"]["TrainingJobName"].startswith("ViaHook-001-")
    listed = hook.conn.list_hyper_parameter_tuning_jobs(NameContains="viahook")
    assert [s["HyperParameterTuningJobName"] for s in listed["HyperParameterTuningJobSummaries"]] == [
        "ViaHook"
    ]


def test_a_stopped_backend_answers_no_more_calls(home: Path) -> None:
    backend = LocalSageMaker(home).start()
    client = make_client(backend.endpoint_url)
    client.list_hyper_parameter_tuning_jobs()  # opens a keep-alive connection
    backend.stop()
    with pytest.raises((ClientError, botocore.exceptions.EndpointConnectionError)):
        client.create_hyper_parameter_tuning_job(**quadratic_request("Late"))
    with LocalSageMaker(home) as again:
        listed = make_client(again.endpoint_url).list_hyper_parameter_tuning_jobs()
        assert listed["HyperParameterTuningJobSummaries"] == []
