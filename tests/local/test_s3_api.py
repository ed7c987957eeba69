"""S3 on the local backend's endpoint: real boto3, urllib on presigned URLs, the AWS CLI, S3Hook."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import botocore.auth
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from airflow_hpt.local import LocalSageMaker
from tests.local.conftest import REGION, make_client

MIB = 1024 * 1024


def s3_client(endpoint_url: str, secret: str = "testing", **config: Any) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key=secret,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}, **config),
    )


@pytest.fixture
def s3(backend: LocalSageMaker) -> Any:
    client = s3_client(backend.endpoint_url)
    client.create_bucket(Bucket="data")
    return client


def error_of(call: Any, **params: Any) -> tuple[str, int, dict[str, Any]]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]


def test_buckets(backend: LocalSageMaker) -> None:
    s3 = s3_client(backend.endpoint_url)
    s3.create_bucket(Bucket="alpha")
    s3.create_bucket(Bucket="beta", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]] == ["alpha", "beta"]
    assert s3.head_bucket(Bucket="alpha")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_bucket_location(Bucket="alpha")["LocationConstraint"] is None
    assert s3.get_bucket_location(Bucket="beta")["LocationConstraint"] == "eu-west-1"
    assert error_of(s3.create_bucket, Bucket="alpha")[:2] == ("BucketAlreadyOwnedByYou", 409)
    assert error_of(s3.create_bucket, Bucket="Not_Valid")[:2] == ("InvalidBucketName", 400)
    # HEAD: the status alone, which botocore reports as the code
    assert error_of(s3.head_bucket, Bucket="missing")[:2] == ("404", 404)
    code, status, error = error_of(s3.list_objects_v2, Bucket="missing")
    assert (code, status, error["BucketName"]) == ("NoSuchBucket", 404, "missing")
    s3.put_object(Bucket="beta", Key="k", Body=b"x")
    assert error_of(s3.delete_bucket, Bucket="beta")[:2] == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket="beta", Key="k")
    s3.delete_bucket(Bucket="beta")
    assert [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]] == ["alpha"]


def test_put_get_head_delete(s3: Any) -> None:
    body = b"hello local s3"
    put = s3.put_object(
        Bucket="data", Key="dir/file one.txt", Body=body, ContentType="text/plain", Metadata={"owner": "me"}
    )
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    got = s3.get_object(Bucket="data", Key="dir/file one.txt")
    assert got["Body"].read() == body
    assert (got["ContentType"], got["Metadata"], got["ETag"]) == ("text/plain", {"owner": "me"}, put["ETag"])
    head = s3.head_object(Bucket="data", Key="dir/file one.txt")
    assert (head["ContentLength"], head["ETag"]) == (len(body), put["ETag"])
    code, status, error = error_of(s3.get_object, Bucket="data", Key="dir/missing")
    assert (code, status, error["Key"]) == ("NoSuchKey", 404, "dir/missing")
    assert error_of(s3.head_object, Bucket="data", Key="dir/missing")[:2] == ("404", 404)
    s3.delete_object(Bucket="data", Key="dir/file one.txt")
    s3.delete_object(Bucket="data", Key="dir/file one.txt")  # deleting a missing key succeeds, as on S3
    assert error_of(s3.get_object, Bucket="data", Key="dir/file one.txt")[0] == "NoSuchKey"
    # a key the store cannot hold (a folder marker) exists nowhere: 404 as on S3, as the amazon
    # provider's S3Hook.check_for_key expects for an input prefix `s3://bucket/train/`
    code, status, error = error_of(s3.get_object, Bucket="data", Key="dir/")
    assert (code, status, error["Key"]) == ("NoSuchKey", 404, "dir/")
    assert error_of(s3.head_object, Bucket="data", Key="dir/")[:2] == ("404", 404)
    s3.delete_object(Bucket="data", Key="dir/")
    assert error_of(s3.put_object, Bucket="data", Key="dir/", Body=b"")[:2] == ("InvalidArgument", 400)


def test_ranges(s3: Any) -> None:
    s3.put_object(Bucket="data", Key="digits", Body=b"0123456789")
    for requested, expected, content_range in [
        ("bytes=2-5", b"2345", "bytes 2-5/10"),
        ("bytes=7-", b"789", "bytes 7-9/10"),
        ("bytes=-3", b"789", "bytes 7-9/10"),
        ("bytes=8-100", b"89", "bytes 8-9/10"),
    ]:
        got = s3.get_object(Bucket="data", Key="digits", Range=requested)
        assert (got["Body"].read(), got["ContentRange"]) == (expected, content_range)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert error_of(s3.get_object, Bucket="data", Key="digits", Range="bytes=20-30")[:2] == (
        "InvalidRange",
        416,
    )


def test_list_objects_v2_prefix_delimiter_paging(s3: Any) -> None:
    keys = [f"train/part-{index:02d}.csv" for index in range(7)] + [
        "train/sub/a.csv",
        "train/sub/b.csv",
        "train/other/c.csv",
        "test/x.csv",
        "top.txt",
    ]
    for key in keys:
        s3.put_object(Bucket="data", Key=key, Body=key.encode())
    everything = s3.get_paginator("list_objects_v2").paginate(Bucket="data", PaginationConfig={"PageSize": 3})
    pages = list(everything)
    assert len(pages) == 4  # 12 keys, 3 a page
    assert [item["Key"] for page in pages for item in page.get("Contents", [])] == sorted(keys)
    assert all(page["KeyCount"] <= 3 for page in pages)

    top = s3.list_objects_v2(Bucket="data", Delimiter="/")
    assert [item["Prefix"] for item in top["CommonPrefixes"]] == ["test/", "train/"]
    assert [item["Key"] for item in top["Contents"]] == ["top.txt"]

    paged = s3.get_paginator("list_objects_v2").paginate(
        Bucket="data", Prefix="train/", Delimiter="/", PaginationConfig={"PageSize": 2}
    )
    contents, prefixes = [], []
    for page in paged:
        contents += [item["Key"] for item in page.get("Contents", [])]
        prefixes += [item["Prefix"] for item in page.get("CommonPrefixes", [])]
    assert contents == [f"train/part-{index:02d}.csv" for index in range(7)]
    assert prefixes == ["train/other/", "train/sub/"]

    one = s3.list_objects_v2(Bucket="data", Prefix="train/sub/", MaxKeys=1)
    assert (one["IsTruncated"], one["KeyCount"], one["Contents"][0]["Key"]) == (True, 1, "train/sub/a.csv")
    assert one["Contents"][0]["Size"] == len(b"train/sub/a.csv")
    rest = s3.list_objects_v2(
        Bucket="data", Prefix="train/sub/", ContinuationToken=one["NextContinuationToken"]
    )
    assert [item["Key"] for item in rest["Contents"]] == ["train/sub/b.csv"]
    assert s3.list_objects_v2(Bucket="data", Prefix="nothing/")["KeyCount"] == 0
    # ListObjects (version 1), marker paging
    v1 = list(
        s3.get_paginator("list_objects").paginate(
            Bucket="data", Delimiter="/", PaginationConfig={"PageSize": 1}
        )
    )
    assert [item["Prefix"] for page in v1 for item in page.get("CommonPrefixes", [])] == ["test/", "train/"]
    assert [item["Key"] for page in v1 for item in page.get("Contents", [])] == ["top.txt"]


def test_delete_objects_and_copy(s3: Any) -> None:
    for key in ("a", "b", "c"):
        s3.put_object(Bucket="data", Key=key, Body=key.encode(), Metadata={"name": key})
    copied = s3.copy_object(Bucket="data", Key="copies/a", CopySource={"Bucket": "data", "Key": "a"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"a").hexdigest()}"'
    assert s3.get_object(Bucket="data", Key="copies/a")["Metadata"] == {"name": "a"}
    s3.copy_object(
        Bucket="data", Key="copies/b", CopySource="data/b", MetadataDirective="REPLACE", Metadata={"new": "1"}
    )
    assert s3.head_object(Bucket="data", Key="copies/b")["Metadata"] == {"new": "1"}
    assert error_of(s3.copy_object, Bucket="data", Key="a", CopySource="data/a")[0] == "InvalidRequest"
    assert error_of(s3.copy_object, Bucket="data", Key="z", CopySource="data/missing")[0] == "NoSuchKey"

    deleted = s3.delete_objects(
        Bucket="data", Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "nope"}]}
    )
    assert sorted(item["Key"] for item in deleted["Deleted"]) == ["a", "b", "nope"]
    remaining = s3.list_objects_v2(Bucket="data")["Contents"]
    assert [item["Key"] for item in remaining] == ["c", "copies/a", "copies/b"]


def test_multipart_upload(s3: Any, backend: LocalSageMaker) -> None:
    parts_data = [b"a" * (5 * MIB), b"b" * (5 * MIB), b"tail"]
    upload = s3.create_multipart_upload(Bucket="data", Key="big/model.bin", ContentType="application/x-model")
    upload_id = upload["UploadId"]
    parts = [
        {
            "PartNumber": number,
            "ETag": s3.upload_part(
                Bucket="data", Key="big/model.bin", UploadId=upload_id, PartNumber=number, Body=data
            )["ETag"],
        }
        for number, data in enumerate(parts_data, start=1)
    ]
    # nothing visible before completion, in the listing or the training jobs' folder
    assert s3.list_objects_v2(Bucket="data")["KeyCount"] == 0
    assert not (backend.home / "s3" / "data" / "big").exists()
    done = s3.complete_multipart_upload(
        Bucket="data", Key="big/model.bin", UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    digests = b"".join(hashlib.md5(data).digest() for data in parts_data)
    assert done["ETag"] == f'"{hashlib.md5(digests).hexdigest()}-3"'
    got = s3.get_object(Bucket="data", Key="big/model.bin")
    assert got["Body"].read() == b"".join(parts_data)
    assert (got["ETag"], got["ContentType"]) == (done["ETag"], "application/x-model")
    assert error_of(
        s3.upload_part, Bucket="data", Key="big/model.bin", UploadId=upload_id, PartNumber=1, Body=b"x"
    )[:2] == ("NoSuchUpload", 404)

    small = s3.create_multipart_upload(Bucket="data", Key="small")["UploadId"]
    small_parts = [
        {
            "PartNumber": number,
            "ETag": s3.upload_part(
                Bucket="data", Key="small", UploadId=small, PartNumber=number, Body=b"tiny"
            )["ETag"],
        }
        for number in (1, 2)
    ]
    assert (
        error_of(
            s3.complete_multipart_upload,
            Bucket="data",
            Key="small",
            UploadId=small,
            MultipartUpload={"Parts": small_parts},
        )[0]
        == "EntityTooSmall"
    )
    wrong = [{"PartNumber": 1, "ETag": '"' + "0" * 32 + '"'}]
    assert (
        error_of(
            s3.complete_multipart_upload,
            Bucket="data",
            Key="small",
            UploadId=small,
            MultipartUpload={"Parts": wrong},
        )[0]
        == "InvalidPart"
    )
    s3.abort_multipart_upload(Bucket="data", Key="small", UploadId=small)
    assert error_of(s3.abort_multipart_upload, Bucket="data", Key="small", UploadId=small)[:2] == (
        "NoSuchUpload",
        404,
    )
    assert not list((backend.home / "s3meta").glob("buckets/data/uploads/*"))


def test_aws_chunked_upload_with_trailing_checksum(s3: Any) -> None:
    """botocore's streaming upload: over HTTPS it sends PutObject and UploadPart as aws-chunked with
    a CRC32 trailer and STREAMING-UNSIGNED-PAYLOAD-TRAILER; over HTTP it puts the checksum in a
    header. The backend has no TLS, so the checksum's location is set to the trailer, as botocore
    resolves it for HTTPS, through botocore's public before-call event."""
    sent: list[dict[str, str | bytes]] = []

    def to_trailer(params: dict[str, Any], **kwargs: Any) -> None:
        params["context"]["checksum"]["request_algorithm"]["in"] = "trailer"

    def record(request: Any, **kwargs: Any) -> None:
        sent.append(dict(request.headers.items()))

    s3.meta.events.register("before-call.s3.PutObject", to_trailer)
    s3.meta.events.register("before-send.s3.PutObject", record)
    body = os.urandom(200_000)
    s3.put_object(Bucket="data", Key="chunked.bin", Body=body)
    headers = {
        name.lower(): value.decode() if isinstance(value, bytes) else value
        for name, value in sent[-1].items()
    }
    assert headers["content-encoding"] == "aws-chunked"
    assert headers["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert headers["x-amz-trailer"] == "x-amz-checksum-crc32"
    assert s3.get_object(Bucket="data", Key="chunked.bin")["Body"].read() == body
    # the default over HTTP: a CRC32 header, checked
    plain = s3_client(s3.meta.endpoint_url)
    plain.put_object(Bucket="data", Key="plain.bin", Body=body, ChecksumAlgorithm="SHA256")
    assert plain.get_object(Bucket="data", Key="plain.bin")["Body"].read() == body


def test_wrong_checksum_is_refused(s3: Any) -> None:
    code, status, _ = error_of(s3.put_object, Bucket="data", Key="k", Body=b"data", ChecksumCRC32="AAAAAA==")
    assert (code, status) == ("BadDigest", 400)
    assert error_of(s3.head_object, Bucket="data", Key="k")[0] == "404"


def test_presigned_get_and_put(s3: Any, backend: LocalSageMaker) -> None:
    v4 = s3_client(backend.endpoint_url, signature_version="s3v4")
    put_url = v4.generate_presigned_url("put_object", Params={"Bucket": "data", "Key": "up/loaded.txt"})
    request = urllib.request.Request(put_url, data=b"via presigned PUT", method="PUT")
    with urllib.request.urlopen(request) as response:
        assert response.status == 200
    for client in (s3, v4):  # botocore's default presigner for S3 (signature version 2), and s3v4
        get_url = client.generate_presigned_url(
            "get_object", Params={"Bucket": "data", "Key": "up/loaded.txt"}
        )
        with urllib.request.urlopen(get_url) as response:
            assert response.read() == b"via presigned PUT"
        tampered = get_url.replace("up/loaded.txt", "up/other.txt")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(tampered)
        assert refused.value.code == 403
        assert b"<Code>SignatureDoesNotMatch</Code>" in refused.value.read()


def test_expired_presigned_url_is_refused(
    s3: Any, backend: LocalSageMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.put_object(Bucket="data", Key="k", Body=b"v")
    v4 = s3_client(backend.endpoint_url, signature_version="s3v4")
    two_hours_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=2)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: two_hours_ago)
    url = v4.generate_presigned_url("get_object", Params={"Bucket": "data", "Key": "k"}, ExpiresIn=3600)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url)
    body = refused.value.read()
    assert refused.value.code == 403
    assert b"<Code>AccessDenied</Code>" in body and b"Request has expired" in body


def test_wrong_signature_and_traversal_are_refused(s3: Any, backend: LocalSageMaker) -> None:
    code, status, _ = error_of(s3_client(backend.endpoint_url, secret="wrong").list_buckets)
    assert (code, status) == ("SignatureDoesNotMatch", 403)
    assert (
        error_of(
            s3_client(backend.endpoint_url, secret="wrong").put_object, Bucket="data", Key="x", Body=b"x"
        )[0]
        == "SignatureDoesNotMatch"
    )
    unsigned = urllib.request.Request(f"{backend.endpoint_url}/data/x", method="GET")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(unsigned)
    assert refused.value.code == 403
    outside = backend.home / "outside.txt"
    for key in ("../outside.txt", "a/../../outside.txt", "/etc/passwd"):
        assert error_of(s3.put_object, Bucket="data", Key=key, Body=b"escape")[:2] == ("InvalidArgument", 400)
    assert not outside.exists()
    assert error_of(s3.get_object, Bucket="data", Key="../../state")[0] == "InvalidArgument"


def test_objects_are_the_training_jobs_files_and_survive_a_restart(home: Path) -> None:
    with LocalSageMaker(home) as backend:
        assert backend.s3 is not None
        s3 = s3_client(backend.endpoint_url)
        s3.create_bucket(Bucket="shared")
        s3.put_object(Bucket="shared", Key="train/data.csv", Body=b"x,y\n1,2\n", Metadata={"kind": "csv"})
        # what a training job reads: the file itself, and no metadata beside it in the bucket
        assert backend.s3.object_path("s3://shared/train/data.csv").read_bytes() == b"x,y\n1,2\n"
        assert sorted(p.name for p in (home / "s3" / "shared").rglob("*")) == ["data.csv", "train"]
        # what a training job writes is an object
        artifact = backend.s3.object_path("s3://shared/model/output/model.tar.gz")
        artifact.parent.mkdir(parents=True)
        artifact.write_bytes(b"model bytes")
        head = s3.head_object(Bucket="shared", Key="model/output/model.tar.gz")
        assert head["ETag"] == f'"{hashlib.md5(b"model bytes").hexdigest()}"'
        etag = s3.head_object(Bucket="shared", Key="train/data.csv")["ETag"]
    with LocalSageMaker(home) as restarted:
        s3 = s3_client(restarted.endpoint_url)
        assert [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]] == ["shared"]
        got = s3.get_object(Bucket="shared", Key="train/data.csv")
        assert (got["Body"].read(), got["Metadata"], got["ETag"]) == (b"x,y\n1,2\n", {"kind": "csv"}, etag)
        assert (
            s3.get_object(Bucket="shared", Key="model/output/model.tar.gz")["Body"].read() == b"model bytes"
        )
        # the SageMaker front on the same endpoint is unchanged
        assert make_client(restarted.endpoint_url).list_training_jobs()["TrainingJobSummaries"] == []


def test_s3_hook_through_an_airflow_connection(backend: LocalSageMaker, aws_conn_env: Any) -> None:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    aws_conn_env(backend.endpoint_url)
    hook = S3Hook(aws_conn_id="aws_default")
    assert not hook.check_for_bucket("hooked")
    hook.create_bucket("hooked")
    assert hook.check_for_bucket("hooked")
    hook.load_string("payload", key="input/train.csv", bucket_name="hooked")
    assert hook.check_for_key("input/train.csv", bucket_name="hooked")
    assert not hook.check_for_key("input/missing.csv", bucket_name="hooked")
    assert not hook.check_for_key("input/", bucket_name="hooked")
    assert hook.check_for_prefix("input/", delimiter="/", bucket_name="hooked")
    assert hook.read_key("input/train.csv", bucket_name="hooked") == "payload"
    assert hook.list_keys(bucket_name="hooked", prefix="input/") == ["input/train.csv"]


@pytest.mark.slow  # about 25 s: a dozen AWS CLI processes
def test_aws_cli_s3_commands(backend: LocalSageMaker, tmp_path: Path) -> None:
    source = tmp_path / "upload"
    (source / "nested").mkdir(parents=True)
    (source / "a.txt").write_text("a")
    (source / "nested" / "b.txt").write_text("b")
    big = source / "big.bin"
    big.write_bytes(os.urandom(9 * MIB))  # above the CLI's 8 MiB threshold: a multipart upload
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": backend.endpoint_url,
        "AWS_ACCESS_KEY_ID": backend.access_key_id,
        "AWS_SECRET_ACCESS_KEY": backend.secret_access_key,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
    }
    aws = [sys.executable, "-m", "awscli"]

    def run(*args: str) -> str:
        done = subprocess.run([*aws, *args], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("s3", "mb", "s3://cli")
    run("s3", "cp", str(source / "a.txt"), "s3://cli/single/a.txt")
    run("s3", "sync", str(source), "s3://cli/synced")
    listing = run("s3", "ls", "--recursive", "s3://cli/")
    assert sorted(line.split()[-1] for line in listing.splitlines()) == [
        "single/a.txt",
        "synced/a.txt",
        "synced/big.bin",
        "synced/nested/b.txt",
    ]
    assert "PRE synced/" in run("s3", "ls", "s3://cli/")
    run("s3", "cp", "s3://cli/synced/big.bin", str(tmp_path / "back.bin"))
    assert (tmp_path / "back.bin").read_bytes() == big.read_bytes()
    assert (backend.home / "s3" / "cli" / "synced" / "nested" / "b.txt").read_text() == "b"
    run("s3", "rm", "--recursive", "s3://cli/synced")
    assert run("s3", "ls", "--recursive", "s3://cli/").split()[-1] == "single/a.txt"
