"""The S3 REST operations the local backend serves, in one table: how a request is recognized (its
method, whether it names a bucket and a key, its sub-resource query parameters, a copy source),
and the IAM action it needs on which resource.

The front dispatches on the row's ``name`` and authorizes with the same row, so a request is
classified once. S3 (the REST operation -> IAM action): ListBuckets -> ``s3:ListAllMyBuckets`` on
``*``; ListObjects(V2) and HeadBucket -> ``s3:ListBucket``, GetBucketLocation ->
``s3:GetBucketLocation``, CreateBucket / DeleteBucket -> ``s3:CreateBucket`` / ``s3:DeleteBucket``,
all on ``arn:aws:s3:::<bucket>``; GetObject and HeadObject -> ``s3:GetObject``, PutObject and the
multipart upload calls (create, part, complete) -> ``s3:PutObject``, AbortMultipartUpload ->
``s3:AbortMultipartUpload``, DeleteObject and each key of DeleteObjects (on its own, as S3 answers
per key) -> ``s3:DeleteObject``, all on ``arn:aws:s3:::<bucket>/<key>``; CopyObject ->
``s3:GetObject`` on the source and ``s3:PutObject`` on the target.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import Literal

from airflow_hpt.local.iam.actions import ANY, Need, bucket_arn, object_arn

Scope = Literal["service", "bucket", "object"]

# The condition keys a listing carries (s3:prefix, s3:delimiter, s3:max-keys)
_LISTING_CONDITIONS = ("prefix", "delimiter", "max-keys")


@dataclass(frozen=True)
class S3Operation:
    """One row: the request it recognizes and the IAM action it needs."""

    name: str
    method: str
    scope: Scope
    # None: the operation as a whole needs nothing (DeleteObjects: each key needs s3:DeleteObject)
    action: str | None
    query: frozenset[str] = frozenset()  # sub-resources the request carries
    without: frozenset[str] = frozenset()  # sub-resources it must not carry
    copies: bool = False  # carries x-amz-copy-source; its source needs source_action
    source_action: str | None = None
    conditions: tuple[str, ...] = ()  # query parameters that are IAM condition keys (s3:<name>)

    def matches(self, method: str, scope: Scope, args: Container[str], copy_source: bool) -> bool:
        return (
            method == self.method
            and scope == self.scope
            and all(name in args for name in self.query)
            and not any(name in args for name in self.without)
            and (copy_source or not self.copies)
        )

    def needs(self, bucket: str, key: str, copy_source: tuple[str, str] | None = None) -> list[Need]:
        """The IAM actions and resources this request needs (``copy_source``: its (bucket, key))."""
        if self.action is None:
            return []
        resource = {"service": ANY, "bucket": bucket_arn(bucket), "object": object_arn(bucket, key)}[
            self.scope
        ]
        needs: list[Need] = [(self.action, (resource,))]
        if self.source_action is not None and copy_source is not None:
            needs.insert(0, (self.source_action, (object_arn(*copy_source),)))
        return needs

    def context(self, args: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
        """The condition keys of the request (a listing's prefix, delimiter and max-keys)."""
        return {f"s3:{name}": (args[name],) for name in self.conditions if name in args}


_LOCATION = frozenset({"location"})
_UPLOAD = frozenset({"uploadId"})

# First match wins: UploadPart before CopyObject before PutObject.
OPERATIONS = (
    S3Operation("ListBuckets", "GET", "service", "s3:ListAllMyBuckets"),
    S3Operation("GetBucketLocation", "GET", "bucket", "s3:GetBucketLocation", query=_LOCATION),
    S3Operation("ListObjects", "GET", "bucket", "s3:ListBucket", conditions=_LISTING_CONDITIONS),
    S3Operation("HeadBucket", "HEAD", "bucket", "s3:ListBucket", without=_LOCATION),
    S3Operation("CreateBucket", "PUT", "bucket", "s3:CreateBucket", without=_LOCATION),
    S3Operation("DeleteBucket", "DELETE", "bucket", "s3:DeleteBucket", without=_LOCATION),
    S3Operation("DeleteObjects", "POST", "bucket", None, query=frozenset({"delete"}), without=_LOCATION),
    S3Operation("UploadPart", "PUT", "object", "s3:PutObject", query=_UPLOAD),
    S3Operation("CopyObject", "PUT", "object", "s3:PutObject", copies=True, source_action="s3:GetObject"),
    S3Operation("PutObject", "PUT", "object", "s3:PutObject"),
    S3Operation("GetObject", "GET", "object", "s3:GetObject", without=_UPLOAD),
    S3Operation("HeadObject", "HEAD", "object", "s3:GetObject", without=_UPLOAD),
    S3Operation("AbortMultipartUpload", "DELETE", "object", "s3:AbortMultipartUpload", query=_UPLOAD),
    S3Operation("DeleteObject", "DELETE", "object", "s3:DeleteObject"),
    S3Operation("CreateMultipartUpload", "POST", "object", "s3:PutObject", query=frozenset({"uploads"})),
    S3Operation("CompleteMultipartUpload", "POST", "object", "s3:PutObject", query=_UPLOAD),
)


def s3_operation(
    method: str, bucket: str, key: str, args: Container[str], copy_source: bool
) -> S3Operation | None:
    """The operation a request is, or None if the backend does not serve it (NotImplemented)."""
    scope: Scope = "object" if key else "bucket" if bucket else "service"
    return next((row for row in OPERATIONS if row.matches(method, scope, args, copy_source)), None)
