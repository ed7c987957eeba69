"""ListModels, ListEndpointConfigs and ListEndpoints with SageMaker's filters, order and paging, from
real boto3 clients and the AWS CLI (`aws sagemaker list-models --name-contains`)."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow_hpt.local import LocalSageMaker
from airflow_hpt.local.state.listing import filtered
from tests.local.test_aws_cli import aws_cli
from tests.local.test_invoke import constant_model, create_model, deploy, deploy_config, wait_endpoint
from tests.waiting import wait_until


def after_the_second_of(moment: datetime) -> datetime:
    """The next whole second after ``moment``, once the clock has passed it: timestamps reach the
    backend in whole seconds (botocore), so resources made on either side of it are told apart."""
    boundary = math.floor(moment.timestamp()) + 1
    wait_until("the clock to pass a whole second", lambda: time.time() > boundary)
    return datetime.fromtimestamp(boundary, tz=UTC)


def names(answer: dict[str, Any], member: str, name_key: str) -> list[str]:
    return [summary[name_key] for summary in answer[member]]


def test_list_models_filters_sorts_and_pages(backend: LocalSageMaker, client: Any, tmp_path: Path) -> None:
    url = "s3://models/any/model.tar.gz"
    create_model(client, "digits-a", url)
    create_model(client, "Digits-b", url)
    boundary = after_the_second_of(client.describe_model(ModelName="Digits-b")["CreationTime"])
    create_model(client, "iris", url)

    listed = client.list_models()
    # SageMaker's defaults: newest first
    assert names(listed, "Models", "ModelName")[0] == "iris"
    assert set(listed["Models"][0]) == {"ModelName", "ModelArn", "CreationTime"}
    assert listed["Models"][0]["ModelArn"].endswith(":model/iris")
    by_name = client.list_models(SortBy="Name", SortOrder="Ascending")
    assert names(by_name, "Models", "ModelName") == ["Digits-b", "digits-a", "iris"]
    assert names(client.list_models(NameContains="digits", SortBy="Name"), "Models", "ModelName") == [
        "digits-a",
        "Digits-b",
    ]  # case-insensitive, as the other Lists of the backend; Descending by default
    assert names(client.list_models(CreationTimeAfter=boundary), "Models", "ModelName") == ["iris"]
    before = client.list_models(CreationTimeBefore=boundary, SortBy="CreationTime", SortOrder="Ascending")
    assert names(before, "Models", "ModelName") == ["digits-a", "Digits-b"]

    first = client.list_models(MaxResults=2, SortBy="Name", SortOrder="Ascending")
    assert names(first, "Models", "ModelName") == ["Digits-b", "digits-a"]
    rest = client.list_models(
        MaxResults=2, SortBy="Name", SortOrder="Ascending", NextToken=first["NextToken"]
    )
    assert names(rest, "Models", "ModelName") == ["iris"] and "NextToken" not in rest
    pages = client.get_paginator("list_models").paginate(PaginationConfig={"PageSize": 1})
    assert sorted(model["ModelName"] for page in pages for model in page["Models"]) == [
        "Digits-b",
        "digits-a",
        "iris",
    ]

    aws = aws_cli(backend, tmp_path)
    found = aws("sagemaker", "list-models", "--name-contains", "digits", "--sort-by", "Name")["Models"]
    assert [model["ModelName"] for model in found] == ["digits-a", "Digits-b"]


def test_list_endpoint_configs(backend: LocalSageMaker, client: Any, tmp_path: Path) -> None:
    deploy_config(client, "blue", "s3://models/any/model.tar.gz")
    boundary = after_the_second_of(client.describe_endpoint_config(EndpointConfigName="blue")["CreationTime"])
    deploy_config(client, "green", "s3://models/any/model.tar.gz")

    listed = client.list_endpoint_configs()
    assert names(listed, "EndpointConfigs", "EndpointConfigName") == ["green", "blue"]
    assert set(listed["EndpointConfigs"][0]) == {"EndpointConfigName", "EndpointConfigArn", "CreationTime"}
    ascending = client.list_endpoint_configs(SortOrder="Ascending")
    assert names(ascending, "EndpointConfigs", "EndpointConfigName") == ["blue", "green"]
    before = client.list_endpoint_configs(CreationTimeBefore=boundary)
    assert names(before, "EndpointConfigs", "EndpointConfigName") == ["blue"]
    assert names(
        client.list_endpoint_configs(NameContains="re"), "EndpointConfigs", "EndpointConfigName"
    ) == ["green"]
    page = client.list_endpoint_configs(MaxResults=1)
    assert len(page["EndpointConfigs"]) == 1 and page["NextToken"]

    aws = aws_cli(backend, tmp_path)
    found = aws("sagemaker", "list-endpoint-configs", "--creation-time-after", boundary.isoformat())
    assert [config["EndpointConfigName"] for config in found["EndpointConfigs"]] == ["green"]


def test_list_endpoints_by_status_and_times(backend: LocalSageMaker, client: Any, tmp_path: Path) -> None:
    deploy(client, "serving", constant_model(backend, 1, "listed"))
    # a model whose artifact does not exist: its endpoint ends Failed
    deploy_config(client, "broken", "s3://models/missing/model.tar.gz")
    client.create_endpoint(EndpointName="broken", EndpointConfigName="broken")
    assert wait_endpoint(client, "broken")["EndpointStatus"] == "Failed"

    listed = client.list_endpoints()
    assert names(listed, "Endpoints", "EndpointName") == ["broken", "serving"]
    assert set(listed["Endpoints"][0]) == {
        "EndpointName",
        "EndpointArn",
        "CreationTime",
        "LastModifiedTime",
        "EndpointStatus",
    }
    assert names(client.list_endpoints(StatusEquals="InService"), "Endpoints", "EndpointName") == ["serving"]
    assert names(client.list_endpoints(StatusEquals="Failed"), "Endpoints", "EndpointName") == ["broken"]
    assert client.list_endpoints(StatusEquals="Creating")["Endpoints"] == []
    by_status = client.list_endpoints(SortBy="Status", SortOrder="Ascending")
    assert [e["EndpointStatus"] for e in by_status["Endpoints"]] == ["Failed", "InService"]

    latest = max(e["LastModifiedTime"] for e in listed["Endpoints"])
    boundary = after_the_second_of(latest)
    assert client.list_endpoints(LastModifiedTimeAfter=boundary)["Endpoints"] == []
    before = client.list_endpoints(LastModifiedTimeBefore=boundary, SortBy="Name")
    assert names(before, "Endpoints", "EndpointName") == ["serving", "broken"]

    aws = aws_cli(backend, tmp_path)
    found = aws("sagemaker", "list-endpoints", "--status-equals", "InService")["Endpoints"]
    assert [(e["EndpointName"], e["EndpointStatus"]) for e in found] == [("serving", "InService")]


def test_creation_time_after_keeps_its_bound_for_deployments_only() -> None:
    """The API reference: models, endpoint configurations and endpoints "with a creation time greater
    than or equal to" CreationTimeAfter; the jobs' Lists, created "after" it."""
    records = [{"ModelName": "on-the-second", "CreationTime": 100.0}]
    body = {"CreationTimeAfter": 100}
    assert (
        filtered(records, body, name_key="ModelName", status_key=None, created_after_inclusive=True)
        == records
    )
    assert filtered(records, body, name_key="ModelName", status_key=None) == []
