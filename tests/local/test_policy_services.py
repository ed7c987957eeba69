"""The IAM policy on every service of the backend: S3 (IAM's action names, object and bucket ARNs), the
runtime's InvokeEndpoint, CloudWatch Logs, and Resource-scoped SageMaker statements."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from airflow_hpt.local import LocalSageMaker, Policy
from tests.local.conftest import backend_client, make_client, quadratic_request, s3_client, wait_for

BUCKET_A = "arn:aws:s3:::bucket-a"
BUCKET_B = "arn:aws:s3:::bucket-b"
JOB_ARN = "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/{}"


def _allow(actions: list[str], resources: list[str] | str = "*") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    started: list[LocalSageMaker] = []

    def start(*statements: dict[str, Any]) -> LocalSageMaker:
        backend = LocalSageMaker(tmp_path / "sagemaker", policy=Policy({"Statement": list(statements)}))
        started.append(backend.start())
        return backend

    yield start
    for backend in started:
        backend.stop()


def _code(error: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = error.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_an_upload_without_put_object_is_denied_and_writes_nothing(start: Any) -> None:
    backend = start(
        _allow(["s3:CreateBucket", "s3:ListBucket"], BUCKET_A),
        _allow(["s3:GetObject"], f"{BUCKET_A}/*"),
    )
    s3 = s3_client(backend)
    s3.create_bucket(Bucket="bucket-a")
    with pytest.raises(ClientError) as denied:
        s3.upload_fileobj(io.BytesIO(b"rows"), "bucket-a", "data/train.csv")
    assert _code(denied) == ("AccessDenied", 403)
    message = denied.value.response["Error"]["Message"]
    assert message == (
        "User: arn:aws:iam::123456789012:user/testing is not authorized to perform: s3:PutObject on "
        "resource: arn:aws:s3:::bucket-a/data/train.csv because no identity-based policy allows the "
        "s3:PutObject action"
    )
    # the multipart path needs s3:PutObject too
    with pytest.raises(ClientError) as multipart:
        s3.create_multipart_upload(Bucket="bucket-a", Key="data/big.csv")
    assert _code(multipart) == ("AccessDenied", 403)
    assert s3.list_objects_v2(Bucket="bucket-a")["KeyCount"] == 0
    with pytest.raises(ClientError, match="NoSuchKey"):
        s3.get_object(Bucket="bucket-a", Key="data/train.csv")
    assert backend.requests.denied["s3:PutObject"] == 2
    assert {"s3:CreateBucket", "s3:ListBucket", "s3:GetObject"} <= backend.requests.actions


def test_get_object_scoped_to_one_bucket(start: Any) -> None:
    backend = start(
        _allow(["s3:CreateBucket", "s3:PutObject"], "arn:aws:s3:::bucket-?*"),
        _allow(["s3:GetObject"], f"{BUCKET_A}/*"),
    )
    s3 = s3_client(backend)
    for bucket in ("bucket-a", "bucket-b"):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="rows.csv", Body=bucket.encode())
    assert s3.get_object(Bucket="bucket-a", Key="rows.csv")["Body"].read() == b"bucket-a"
    with pytest.raises(ClientError) as denied:
        s3.get_object(Bucket="bucket-b", Key="rows.csv")
    assert _code(denied) == ("AccessDenied", 403)
    assert "on resource: arn:aws:s3:::bucket-b/rows.csv" in denied.value.response["Error"]["Message"]
    # HeadObject is s3:GetObject too (a failed HEAD has the status alone)
    with pytest.raises(ClientError) as head:
        s3.head_object(Bucket="bucket-b", Key="rows.csv")
    assert head.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # a copy needs s3:GetObject on its source as well as s3:PutObject on its target
    s3.copy_object(Bucket="bucket-b", Key="copy.csv", CopySource={"Bucket": "bucket-a", "Key": "rows.csv"})
    with pytest.raises(ClientError) as copy:
        s3.copy_object(
            Bucket="bucket-a", Key="copy.csv", CopySource={"Bucket": "bucket-b", "Key": "rows.csv"}
        )
    assert _code(copy) == ("AccessDenied", 403)
    # listing is s3:ListBucket, not granted here; listing buckets is s3:ListAllMyBuckets
    with pytest.raises(ClientError, match="s3:ListBucket on resource: arn:aws:s3:::bucket-a "):
        s3.list_objects_v2(Bucket="bucket-a")
    with pytest.raises(ClientError, match="s3:ListAllMyBuckets because"):
        s3.list_buckets()


def test_an_explicit_deny_on_a_prefix_wins(start: Any) -> None:
    backend = start(
        _allow(["s3:*"], "*"),
        {"Effect": "Deny", "Action": "s3:DeleteObject", "Resource": f"{BUCKET_A}/models/*"},
    )
    s3 = s3_client(backend)
    s3.create_bucket(Bucket="bucket-a")
    s3.put_object(Bucket="bucket-a", Key="models/m.tar.gz", Body=b"m")
    s3.put_object(Bucket="bucket-a", Key="tmp/x", Body=b"x")
    s3.delete_object(Bucket="bucket-a", Key="tmp/x")
    with pytest.raises(ClientError) as denied:
        s3.delete_object(Bucket="bucket-a", Key="models/m.tar.gz")
    assert _code(denied) == ("AccessDenied", 403)
    assert "with an explicit deny in an identity-based policy" in denied.value.response["Error"]["Message"]
    # DeleteObjects answers per key, as S3 does: the allowed key is deleted, the denied one reported
    s3.put_object(Bucket="bucket-a", Key="tmp/y", Body=b"y")
    answer = s3.delete_objects(
        Bucket="bucket-a", Delete={"Objects": [{"Key": "tmp/y"}, {"Key": "models/m.tar.gz"}]}
    )
    assert [deleted["Key"] for deleted in answer["Deleted"]] == ["tmp/y"]
    assert [(error["Key"], error["Code"]) for error in answer["Errors"]] == [
        ("models/m.tar.gz", "AccessDenied")
    ]
    assert s3.get_object(Bucket="bucket-a", Key="models/m.tar.gz")["Body"].read() == b"m"
    assert s3.list_objects_v2(Bucket="bucket-a", Prefix="tmp/")["KeyCount"] == 0


def test_invoke_endpoint_needs_its_own_action(start: Any) -> None:
    backend = start(_allow(["sagemaker:Describe*", "sagemaker:List*"], "*"))
    runtime = backend_client(backend, "sagemaker-runtime")
    with pytest.raises(ClientError) as denied:
        runtime.invoke_endpoint(EndpointName="champion", Body=b"1,2", ContentType="text/csv")
    assert _code(denied) == ("AccessDeniedException", 400)
    assert denied.value.response["Error"]["Message"] == (
        "User: arn:aws:iam::123456789012:user/testing is not authorized to perform: "
        "sagemaker:InvokeEndpoint on resource: arn:aws:sagemaker:us-east-1:123456789012:endpoint/champion "
        "because no identity-based policy allows the sagemaker:InvokeEndpoint action"
    )
    assert dict(backend.requests.denied) == {"sagemaker:InvokeEndpoint": 1}


def test_invoke_endpoint_scoped_to_an_endpoint(start: Any) -> None:
    backend = start(
        _allow(["sagemaker:InvokeEndpoint"], "arn:aws:sagemaker:*:*:endpoint/champion"),
    )
    runtime = backend_client(backend, "sagemaker-runtime")
    # allowed: the call reaches the runtime, which has no such endpoint
    with pytest.raises(ClientError) as allowed:
        runtime.invoke_endpoint(EndpointName="champion", Body=b"1,2", ContentType="text/csv")
    assert _code(allowed)[0] == "ValidationError"
    with pytest.raises(ClientError) as denied:
        runtime.invoke_endpoint(EndpointName="challenger", Body=b"1,2", ContentType="text/csv")
    assert _code(denied)[0] == "AccessDeniedException"


def test_a_resource_scoped_statement_allows_its_job_only(start: Any) -> None:
    backend = start(_allow(["sagemaker:DescribeHyperParameterTuningJob"], JOB_ARN.format("weekly-*")))
    client = make_client(backend.endpoint_url)
    # allowed: the call reaches the API, which has no such job
    with pytest.raises(ClientError, match="ResourceNotFound"):
        client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="weekly-2026-01")
    with pytest.raises(ClientError) as denied:
        client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="daily-2026-01")
    assert _code(denied) == ("AccessDeniedException", 400)
    assert f"on resource: {JOB_ARN.format('daily-2026-01')} " in denied.value.response["Error"]["Message"]
    # a List names no resource: only "Resource": "*" allows it
    with pytest.raises(ClientError, match="sagemaker:ListHyperParameterTuningJobs because"):
        client.list_hyper_parameter_tuning_jobs()


def test_logs_are_checked_and_caller_identity_needs_no_permission(start: Any) -> None:
    backend = start(
        _allow(["logs:DescribeLogStreams"], "*"),
        {"Effect": "Deny", "Action": "*", "Resource": "*", "Sid": "NothingElse"},
    )
    logs = backend_client(backend, "logs")
    group = "/aws/sagemaker/TrainingJobs"
    with pytest.raises(ClientError) as denied:
        logs.describe_log_groups(logGroupNamePrefix=group)
    assert _code(denied) == ("AccessDeniedException", 400)
    assert "logs:DescribeLogGroups" in denied.value.response["Error"]["Message"]
    # the explicit Deny of everything wins over the Allow
    with pytest.raises(ClientError, match="explicit deny"):
        logs.describe_log_streams(logGroupName=group)
    # as on AWS: no policy can refuse GetCallerIdentity
    assert backend_client(backend, "sts").get_caller_identity()["Account"] == "123456789012"
    assert backend.requests.actions == {"sts:GetCallerIdentity"}
    assert set(backend.requests.denied) == {"logs:DescribeLogGroups", "logs:DescribeLogStreams"}
    lines = (backend.home / "requests.log").read_text().split()
    assert "sts:GetCallerIdentity" in lines and "logs:DescribeLogGroups" in lines


def test_logs_are_scoped_to_log_groups_and_streams(start: Any) -> None:
    training = "/aws/sagemaker/TrainingJobs"
    backend = start(
        # the form CloudWatch Logs' documentation gives IAM policies: the group's ARN with ":*"
        _allow(
            ["logs:DescribeLogStreams", "logs:FilterLogEvents"], f"arn:aws:logs:*:*:log-group:{training}:*"
        ),
        _allow(["logs:GetLogEvents"], f"arn:aws:logs:*:*:log-group:{training}:log-stream:tune-*"),
    )
    logs = backend_client(backend, "logs")
    assert logs.describe_log_streams(logGroupName=training)["logStreams"] == []
    assert (
        logs.filter_log_events(
            logGroupIdentifier=f"arn:aws:logs:us-east-1:123456789012:log-group:{training}"
        )["events"]
        == []
    )
    with pytest.raises(ClientError) as denied:
        logs.describe_log_streams(logGroupName="/aws/sagemaker/Endpoints/champion")
    assert (
        "logs:DescribeLogStreams on resource: "
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/champion:* "
    ) in denied.value.response["Error"]["Message"]
    # allowed: the call reaches the service, which has no such stream
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        logs.get_log_events(logGroupName=training, logStreamName="tune-001-abc/algo-1-1")
    with pytest.raises(ClientError, match="AccessDeniedException"):
        logs.get_log_events(logGroupName=training, logStreamName="other/algo-1-1")
    # a listing of groups names none: only "Resource": "*" would allow it
    with pytest.raises(ClientError, match="logs:DescribeLogGroups because"):
        logs.describe_log_groups()


def test_a_condition_on_an_action_the_backend_never_checks_is_kept() -> None:
    policy = Policy(
        {
            "Statement": [
                _allow(["s3:GetObject"], f"{BUCKET_B}/*"),
                {
                    "Effect": "Allow",
                    "Action": "ec2:RunInstances",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"ec2:InstanceType": "t3.micro"}},
                },
            ]
        }
    )
    assert policy.allows("s3:GetObject", f"{BUCKET_B}/k")
    assert not policy.allows("s3:GetObject", f"{BUCKET_A}/k")
    assert not policy.allows("s3:GetObject", BUCKET_B)  # the bucket is not an object in it
    assert not policy.allows("s3:GetObject")  # "*": a statement scoped to ARNs does not match it


def _pass_role(role: str, service: str) -> dict[str, Any]:
    return {
        "Effect": "Allow",
        "Action": "iam:PassRole",
        "Resource": f"arn:aws:iam::*:role/{role}",
        "Condition": {"StringEquals": {"iam:PassedToService": service}},
    }


@pytest.mark.parametrize(
    "pass_role",
    [
        None,
        _pass_role("OtherRole", "sagemaker.amazonaws.com"),
        _pass_role("SageMakerRole", "ec2.amazonaws.com"),
    ],
    ids=["no PassRole", "another role", "to another service"],
)
def test_a_create_needs_pass_role_on_its_execution_role(start: Any, pass_role: dict[str, Any] | None) -> None:
    backend = start(_allow(["sagemaker:*"], "*"), *([pass_role] if pass_role else []))
    client = make_client(backend.endpoint_url)
    with pytest.raises(ClientError) as denied:
        client.create_hyper_parameter_tuning_job(**quadratic_request("passes-role", max_jobs=1, parallel=1))
    assert _code(denied) == ("AccessDeniedException", 400)
    assert denied.value.response["Error"]["Message"] == (
        "User: arn:aws:iam::123456789012:user/testing is not authorized to perform: iam:PassRole on "
        "resource: arn:aws:iam::123456789012:role/SageMakerRole because no identity-based policy allows "
        "the iam:PassRole action"
    )
    with pytest.raises(ClientError, match="ResourceNotFound"):
        client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="passes-role")


def test_a_create_with_its_role_passed_to_sagemaker_is_allowed(start: Any) -> None:
    backend = start(_allow(["sagemaker:*"], "*"), _pass_role("SageMakerRole", "sagemaker.amazonaws.com"))
    client = make_client(backend.endpoint_url)
    client.create_hyper_parameter_tuning_job(**quadratic_request("passes-role", max_jobs=1, parallel=1))
    assert "iam:PassRole" in backend.requests.actions
    wait_for(client, "passes-role")
