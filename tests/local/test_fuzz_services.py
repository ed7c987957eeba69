"""Property-based fuzzing of every served operation (Hypothesis), on a backend running as its own
process: requests drawn from botocore's service models, then mutated (members of the wrong type,
missing, unknown, huge or deep), and bodies no parser should take. Every answer must be the
service's own 4xx (or a 200): never a 500, never HTML; the backend stays up, its memory bounded, no
file appears outside its home and no temporary file is left behind.

The budget is fixed and the examples derandomized: the same requests on every run, in about a minute.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import boto3
import cbor2
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.local.fuzzing import (
    ACCESS_KEY,
    BAD_BODIES,
    REGION,
    SECRET_KEY,
    WRONG,
    Answer,
    BackendProcess,
    json_encode,
    mutated,
    send_signed,
    service_model,
    wait_alive,
)

# what the server may grow by over the whole module (it starts at about 70 MiB; bodies are capped at 6 MiB)
MEMORY_HEADROOM_MIB = 150
FUZZ = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    # a failure is reported as drawn: shrinking a request through a live backend takes minutes
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
LOGS_OPERATIONS = ("DescribeLogGroups", "DescribeLogStreams", "GetLogEvents", "FilterLogEvents")
METRICS_OPERATION = "GetMetricStatistics"


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendProcess]:
    root = tmp_path_factory.mktemp("fuzz")
    started = BackendProcess(root / "home").start()
    wait_alive(started)
    started.baseline_mib = started.rss_mib()
    yield started
    try:
        assert started.alive, "".join(started.output)
        wait_alive(started)
        assert started.rss_mib() < started.baseline_mib + MEMORY_HEADROOM_MIB
        assert sorted(path.name for path in root.iterdir()) == ["home"], "a file outside the home"
        assert not any((started.home / "s3meta" / "tmp").iterdir()), "a temporary file was left behind"
    finally:
        started.stop()


def check_json_answer(answer: Answer) -> None:
    """A 2xx, or a 4xx in the JSON protocols' error shape; never a 5xx, never HTML."""
    assert answer.status < 500, (answer.status, answer.body[:500])
    assert b"<html" not in answer.body[:200].lower()
    if answer.status >= 400:
        error = json.loads(answer.body)
        assert error["__type"] and "message" in error, error


@pytest.fixture(scope="module")
def sagemaker_operations(backend: BackendProcess) -> list[str]:
    """The SageMaker operations the backend serves: those not answered UnknownOperationException."""
    served = []
    for operation in service_model("sagemaker").operation_names:
        answer = sagemaker_call(backend, operation, b"{}")
        check_json_answer(answer)
        if answer.status != 400 or json.loads(answer.body)["__type"] != "UnknownOperationException":
            served.append(operation)
    assert len(served) >= 25, served  # tuning, training, transform, models, endpoints, tags...
    return served


def sagemaker_call(backend: BackendProcess, operation: str, body: bytes) -> Answer:
    headers = {"X-Amz-Target": f"SageMaker.{operation}", "Content-Type": "application/x-amz-json-1.1"}
    return send_signed(backend.port, "sagemaker", "/", body, headers)


def test_sagemaker_operations_under_mutated_requests(
    backend: BackendProcess, sagemaker_operations: list[str]
) -> None:
    model = service_model("sagemaker")

    @settings(FUZZ, max_examples=450)  # about 17 per served operation
    @given(st.data())
    def fuzz(data: st.DataObject) -> None:
        operation = data.draw(st.sampled_from(sagemaker_operations), label="operation")
        request = data.draw(mutated(model.operation_model(operation).input_shape), label="request")
        check_json_answer(sagemaker_call(backend, operation, json_encode(request)))

    fuzz()


@pytest.mark.parametrize("body", BAD_BODIES, ids=range(len(BAD_BODIES)))
def test_bodies_no_parser_takes_are_refused_4xx(backend: BackendProcess, body: bytes) -> None:
    answer = sagemaker_call(backend, "ListTrainingJobs", body)
    check_json_answer(answer)
    assert answer.status == 400
    assert json.loads(answer.body)["__type"] == "SerializationException"
    logs = send_signed(backend.port, "logs", "/", body, {"X-Amz-Target": "Logs_20140328.GetLogEvents"})
    check_json_answer(logs)
    assert logs.status == 400


@pytest.mark.parametrize(
    ("operation", "request_body", "member"),
    [
        ("ListTrainingJobs", {"NextToken": 5}, "NextToken"),
        ("ListTrainingJobs", {"NameContains": 5}, "NameContains"),
        ("ListTrainingJobs", {"CreationTimeAfter": "abc"}, "CreationTimeAfter"),
        ("ListTrainingJobs", {"CreationTimeAfter": [1]}, "CreationTimeAfter"),
        ("ListTrainingJobs", {"MaxResults": True}, "MaxResults"),
        ("ListTrainingJobs", {"MaxResults": 1.5}, "MaxResults"),
        ("DescribeTrainingJob", {"TrainingJobName": {"a": 1}}, "TrainingJobName"),
        ("AddTags", {"ResourceArn": "arn", "Tags": {"Key": "k"}}, "Tags"),
        ("AddTags", {"ResourceArn": "arn", "Tags": [{"Key": 1, "Value": "v"}]}, "Tags[0].Key"),
        ("CreateModel", {"ModelName": "m", "PrimaryContainer": {"Environment": {"A": 1}}}, "Environment"),
    ],
)
def test_members_of_the_wrong_type_are_named(
    backend: BackendProcess, operation: str, request_body: dict[str, Any], member: str
) -> None:
    answer = sagemaker_call(backend, operation, json_encode(request_body))
    assert answer.status == 400, answer.body
    error = json.loads(answer.body)
    assert error["__type"] == "SerializationException"
    assert member in error["message"]


def test_logs_operations_under_mutated_requests(backend: BackendProcess) -> None:
    model = service_model("logs")

    @FUZZ
    @given(st.data())
    def fuzz(data: st.DataObject) -> None:
        operation = data.draw(st.sampled_from(LOGS_OPERATIONS), label="operation")
        request = data.draw(mutated(model.operation_model(operation).input_shape), label="request")
        headers = {"X-Amz-Target": f"Logs_20140328.{operation}", "Content-Type": "application/x-amz-json-1.1"}
        check_json_answer(send_signed(backend.port, "logs", "/", json_encode(request), headers))

    fuzz()


def test_logs_refuses_a_number_for_a_list(backend: BackendProcess) -> None:
    body = json_encode({"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamNames": 5})
    answer = send_signed(backend.port, "logs", "/", body, {"X-Amz-Target": "Logs_20140328.FilterLogEvents"})
    assert answer.status == 400
    assert "logStreamNames" in json.loads(answer.body)["message"]


def _query_form(request: Any) -> dict[str, str]:
    """A request flattened as the query protocol sends it (members as given, wrong or not)."""
    form: dict[str, str] = {}

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{prefix}{key}.")
        elif isinstance(value, list):
            for index, item in enumerate(value, 1):
                walk(item, f"{prefix}member.{index}.")
        else:
            form[prefix.rstrip(".")] = str(value)

    walk(request, "")
    return form


def test_cloudwatch_protocols_under_mutated_requests(backend: BackendProcess) -> None:
    shape = service_model("cloudwatch").operation_model(METRICS_OPERATION).input_shape

    @FUZZ
    @given(st.data())
    def fuzz(data: st.DataObject) -> None:
        request = data.draw(mutated(shape), label="request")
        protocol = data.draw(st.sampled_from(["cbor", "json", "query"]), label="protocol")
        if protocol == "cbor":
            path = f"/service/GraniteServiceVersion20100801/operation/{METRICS_OPERATION}"
            headers = {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}
            answer = send_signed(backend.port, "monitoring", path, cbor2.dumps(request), headers)
        elif protocol == "json":
            headers = {"X-Amz-Target": f"GraniteServiceVersion20100801.{METRICS_OPERATION}"}
            answer = send_signed(backend.port, "monitoring", "/", json_encode(request), headers)
        else:
            form = {"Action": METRICS_OPERATION, "Version": "2010-08-01", **_query_form(request)}
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            answer = send_signed(backend.port, "monitoring", "/", urlencode(form).encode(), headers)
        assert answer.status < 500, (protocol, answer.status, answer.body[:500])
        assert b"<html" not in answer.body[:200].lower()

    fuzz()


def test_cloudwatch_query_refuses_a_bad_timestamp(backend: BackendProcess) -> None:
    form = {
        "Action": METRICS_OPERATION,
        "Version": "2010-08-01",
        "Namespace": "/aws/sagemaker/TrainingJobs",
        "MetricName": "loss",
        "StartTime": "abc",
        "EndTime": "2030-01-01T00:00:00Z",
        "Period": "60",
        "Statistics.member.1": "Average",
    }
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = send_signed(backend.port, "monitoring", "/", urlencode(form).encode(), headers)
    assert answer.status == 400
    assert b"<Code>InvalidParameterValue</Code>" in answer.body


# --- S3, through boto3 with its own parameter validation off --------------------------------

S3_BUCKET = "fuzz-bucket"
KEYS = st.one_of(
    st.text(min_size=1, max_size=40),
    st.builds("/".join, st.lists(st.text("ab./-~é", min_size=1, max_size=300), min_size=1, max_size=4)),
    st.just("a" * 1024),
    st.just("a" * 1025),
    st.just("../../outside"),
    st.just("x/../../../outside"),
)


@pytest.fixture(scope="module")
def s3(backend: BackendProcess) -> Any:
    client = boto3.client(
        "s3",
        endpoint_url=backend.url,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(parameter_validation=False, retries={"total_max_attempts": 1}),
    )
    client.create_bucket(Bucket=S3_BUCKET)
    return client


def _s3_call(s3: Any, operation: str, params: dict[str, Any]) -> None:
    try:
        getattr(s3, operation)(**params)
    except ClientError as error:
        status = error.response["ResponseMetadata"]["HTTPStatusCode"]
        assert status < 500 or error.response["Error"]["Code"] == "NotImplemented", error.response
    except HTTPClientError:
        raise  # the backend dropped the connection or did not answer
    except (BotoCoreError, TypeError, ValueError, AttributeError, UnicodeError, KeyError):
        pass  # refused by botocore's serializer before anything was sent


def test_s3_operations_under_mutated_requests(backend: BackendProcess, s3: Any) -> None:
    values = st.one_of(KEYS, WRONG)

    @FUZZ
    @given(st.data())
    def fuzz(data: st.DataObject) -> None:
        key = data.draw(st.one_of(KEYS, KEYS, WRONG), label="key")
        operation, params = data.draw(
            st.sampled_from(
                [
                    (
                        "put_object",
                        {"Bucket": S3_BUCKET, "Key": key, "Body": data.draw(st.binary(max_size=64))},
                    ),
                    ("get_object", {"Bucket": S3_BUCKET, "Key": key}),
                    ("head_object", {"Bucket": S3_BUCKET, "Key": key}),
                    ("delete_object", {"Bucket": S3_BUCKET, "Key": key}),
                    ("list_objects_v2", {"Bucket": S3_BUCKET, "Prefix": key, "MaxKeys": data.draw(values)}),
                    ("list_objects", {"Bucket": S3_BUCKET, "Marker": key, "Delimiter": data.draw(values)}),
                    ("copy_object", {"Bucket": S3_BUCKET, "Key": key, "CopySource": data.draw(values)}),
                    ("create_multipart_upload", {"Bucket": S3_BUCKET, "Key": key}),
                    (
                        "upload_part",
                        {
                            "Bucket": S3_BUCKET,
                            "Key": key,
                            "UploadId": data.draw(values),
                            "PartNumber": data.draw(values),
                            "Body": b"x",
                        },
                    ),
                    (
                        "complete_multipart_upload",
                        {
                            "Bucket": S3_BUCKET,
                            "Key": key,
                            "UploadId": data.draw(values),
                            "MultipartUpload": {
                                "Parts": [{"PartNumber": data.draw(values), "ETag": data.draw(values)}]
                            },
                        },
                    ),
                    (
                        "delete_objects",
                        {
                            "Bucket": S3_BUCKET,
                            "Delete": {"Objects": [{"Key": key}], "Quiet": data.draw(values)},
                        },
                    ),
                    ("create_bucket", {"Bucket": data.draw(values)}),
                    ("head_bucket", {"Bucket": data.draw(values)}),
                ]
            ),
            label="operation",
        )
        _s3_call(s3, operation, params)

    fuzz()


def test_long_keys_are_stored_and_served(backend: BackendProcess, s3: Any) -> None:
    keys = [
        "long/" + "s" * 300 + "/object.txt",  # a segment over the 255 bytes of a file name
        "k" * 1024,  # S3's longest key, in one segment
        "é" * 200 + "/" + "~long-looks-hashed",  # multi-byte, and a name like the hashed ones
    ]
    for index, key in enumerate(keys):
        s3.put_object(Bucket=S3_BUCKET, Key=key, Body=f"body {index}".encode())
        assert s3.get_object(Bucket=S3_BUCKET, Key=key)["Body"].read() == f"body {index}".encode()
        assert s3.head_object(Bucket=S3_BUCKET, Key=key)["ContentLength"] == len(f"body {index}")
    listed = {item["Key"] for item in s3.list_objects_v2(Bucket=S3_BUCKET)["Contents"]}
    assert set(keys) <= listed
    under_long = s3.list_objects_v2(Bucket=S3_BUCKET, Prefix="long/" + "s" * 300 + "/")["Contents"]
    assert [item["Key"] for item in under_long] == [keys[0]]
    for key in keys:
        s3.delete_object(Bucket=S3_BUCKET, Key=key)
        with pytest.raises(ClientError) as missing:
            s3.head_object(Bucket=S3_BUCKET, Key=key)
        assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as too_long:
        s3.put_object(Bucket=S3_BUCKET, Key="k" * 1025, Body=b"x")
    assert too_long.value.response["Error"]["Code"] == "KeyTooLongError"
    assert not any((backend.home / "s3meta" / "tmp").iterdir())


def test_a_failed_write_leaves_no_temporary_file(backend: BackendProcess, s3: Any) -> None:
    s3.put_object(Bucket=S3_BUCKET, Key="folder/file", Body=b"x")
    with pytest.raises(ClientError) as conflict:  # a key that would be a file and a folder at once
        s3.put_object(Bucket=S3_BUCKET, Key="folder/file/inside", Body=b"y" * 100_000)
    assert conflict.value.response["Error"]["Code"] == "InvalidArgument"
    assert not any((backend.home / "s3meta" / "tmp").iterdir())
