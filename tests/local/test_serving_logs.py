"""CloudWatch Logs of endpoints and transform jobs on the local backend: what the inference script
printed, read with a real boto3 ``logs`` client from SageMaker's log groups and streams."""

from __future__ import annotations

import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from airflow_hpt.local import LocalSageMaker
from tests.local.conftest import backend_client, s3_client
from tests.local.test_invoke import constant_model, deploy, eventually, runtime_client
from tests.local.test_transform import transform

TRANSFORM_GROUP = "/aws/sagemaker/TransformJobs"


def messages(logs: Any, group: str, stream: str) -> list[str]:
    """Every event of the stream, read from the head until nextForwardToken comes back unchanged."""
    found: list[str] = []
    answer = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True, limit=2)
    for _ in range(1000):
        found += [event["message"] for event in answer["events"]]
        token = answer["nextForwardToken"]
        answer = logs.get_log_events(logGroupName=group, logStreamName=stream, nextToken=token, limit=2)
        if answer["nextForwardToken"] == token:
            return found
    raise AssertionError("nextForwardToken never settled")


def error_code(call: Any, **arguments: Any) -> str:
    with pytest.raises(ClientError) as raised:
        call(**arguments)
    return str(raised.value.response["Error"]["Code"])


def test_endpoint_stream_holds_what_the_script_printed_during_an_invocation(
    backend: LocalSageMaker, client: Any
) -> None:
    deploy(client, "Printing", constant_model(backend, 3, "printing"))
    logs = backend_client(backend, "logs")
    group = "/aws/sagemaker/Endpoints/Printing"  # the endpoint's name as spelled at creation

    def streams() -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = logs.describe_log_streams(logGroupName=group)["logStreams"]
        return answer

    (stream,) = eventually(streams, "the model server's stream listed")
    name = stream["logStreamName"]
    assert re.fullmatch(r"AllTraffic/i-[0-9a-f]{17}", name), name
    eventually(lambda: any(m.startswith("Serving ") for m in messages(logs, group, name)), "serving")
    assert not any("answering 7 rows" in message for message in messages(logs, group, name))

    runtime_client(backend).invoke_endpoint(
        EndpointName="Printing", Body="\n".join(["1,2"] * 7), ContentType="text/csv"
    )
    eventually(
        lambda: "serve_constant: answering 7 rows" in messages(logs, group, name), "the printed line logged"
    )
    filtered = logs.filter_log_events(logGroupName=group, filterPattern='"answering 7 rows"')["events"]
    assert [(event["logStreamName"], event["message"]) for event in filtered] == [
        (name, "serve_constant: answering 7 rows")
    ]
    (described,) = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)[
        "logStreams"
    ]
    assert described["firstEventTimestamp"] <= described["lastEventTimestamp"]
    groups = logs.describe_log_groups(logGroupNamePrefix="/aws/sagemaker/Endpoints/")["logGroups"]
    assert [found["logGroupName"] for found in groups] == [group]

    assert error_code(logs.describe_log_streams, logGroupName="/aws/sagemaker/Endpoints/Nothing") == (
        "ResourceNotFoundException"
    )
    assert error_code(logs.get_log_events, logGroupName=group, logStreamName="AllTraffic/i-0") == (
        "ResourceNotFoundException"
    )
    assert error_code(logs.filter_log_events, logGroupName="/aws/sagemaker/Nothing") == (
        "ResourceNotFoundException"
    )


def test_transform_job_stream_holds_what_the_script_printed(backend: LocalSageMaker, client: Any) -> None:
    s3 = s3_client(backend)
    s3.create_bucket(Bucket="scoring")
    s3.put_object(Bucket="scoring", Key="input/rows.csv", Body="\n".join(["1,2"] * 5).encode())
    client.create_model(
        ModelName="printing",
        PrimaryContainer={
            "Image": "local/sklearn:latest",
            "ModelDataUrl": constant_model(backend, 3, "printing"),
        },
        ExecutionRoleArn="arn:aws:iam::123456789012:role/Role",
    )
    logs = backend_client(backend, "logs")
    assert error_code(logs.describe_log_streams, logGroupName=TRANSFORM_GROUP) == "ResourceNotFoundException"

    job = transform(client, "Scoring", "printing", TransformOutput={"Accept": "application/json"})
    assert job["TransformJobStatus"] == "Completed", job.get("FailureReason")
    # as the SageMaker SDK's logs_for_transform_job lists a one-instance job's streams
    (stream,) = logs.describe_log_streams(
        logGroupName=TRANSFORM_GROUP, logStreamNamePrefix="Scoring/", orderBy="LogStreamName", limit=1
    )["logStreams"]
    name = stream["logStreamName"]
    assert re.fullmatch(r"Scoring/i-[0-9a-f]{17}-\d{10}", name), name
    eventually(
        lambda: "serve_constant: answering 5 rows" in messages(logs, TRANSFORM_GROUP, name),
        "the printed line logged",
    )
    assert error_code(logs.get_log_events, logGroupName=TRANSFORM_GROUP, logStreamName="Scoring/i-0-1") == (
        "ResourceNotFoundException"
    )
