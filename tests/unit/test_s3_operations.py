"""One table classifies each S3 request, for dispatch and for IAM alike."""

from __future__ import annotations

import pytest

from airflow_hpt.local.iam.actions import ANY
from airflow_hpt.local.s3.operations import s3_operation


@pytest.mark.parametrize(
    ("method", "bucket", "key", "args", "copying", "name"),
    [
        ("GET", "", "", {}, False, "ListBuckets"),
        ("GET", "b", "", {"list-type": "2"}, False, "ListObjects"),
        ("GET", "b", "", {"location": ""}, False, "GetBucketLocation"),
        ("POST", "b", "", {"delete": ""}, False, "DeleteObjects"),
        ("PUT", "b", "k", {"uploadId": "u", "partNumber": "1"}, True, "UploadPart"),
        ("PUT", "b", "k", {}, True, "CopyObject"),
        ("PUT", "b", "k", {}, False, "PutObject"),
        ("HEAD", "b", "k", {}, False, "HeadObject"),
        ("DELETE", "b", "k", {"uploadId": "u"}, False, "AbortMultipartUpload"),
        ("POST", "b", "k", {"uploads": ""}, False, "CreateMultipartUpload"),
        ("POST", "b", "k", {"uploadId": "u"}, False, "CompleteMultipartUpload"),
    ],
)
def test_a_request_is_one_operation(
    method: str, bucket: str, key: str, args: dict[str, str], copying: bool, name: str
) -> None:
    operation = s3_operation(method, bucket, key, args, copying)
    assert operation is not None
    assert operation.name == name


@pytest.mark.parametrize(
    ("method", "bucket", "key", "args"),
    [
        ("PUT", "", "", {}),
        ("PUT", "b", "", {"location": ""}),
        ("POST", "b", "", {}),
        ("GET", "b", "k", {"uploadId": "u"}),
        ("POST", "b", "k", {}),
    ],
)
def test_a_request_the_backend_does_not_serve_is_no_operation(
    method: str, bucket: str, key: str, args: dict[str, str]
) -> None:
    assert s3_operation(method, bucket, key, args, copy_source=False) is None


def test_the_same_row_names_the_actions_and_resources() -> None:
    listing = s3_operation("GET", "", "", {}, copy_source=False)
    assert listing is not None and listing.needs("", "") == [("s3:ListAllMyBuckets", (ANY,))]
    copy = s3_operation("PUT", "b", "k", {}, copy_source=True)
    assert copy is not None
    assert copy.needs("b", "k", ("a", "src")) == [
        ("s3:GetObject", ("arn:aws:s3:::a/src",)),
        ("s3:PutObject", ("arn:aws:s3:::b/k",)),
    ]
    objects = s3_operation("POST", "b", "", {"delete": ""}, copy_source=False)
    assert objects is not None and objects.needs("b", "") == []
