"""S3's errors as its REST-XML protocol answers them: a code, a message, a status and named members."""

from __future__ import annotations


class S3Error(Exception):
    """An S3 error: its code, message, HTTP status and the members S3 adds (``Key``, ``BucketName``...)."""

    def __init__(self, code: str, message: str, status: int, **members: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.members = members


def no_such_bucket(bucket: str) -> S3Error:
    return S3Error("NoSuchBucket", "The specified bucket does not exist", 404, BucketName=bucket)


def no_such_key(key: str) -> S3Error:
    return S3Error("NoSuchKey", "The specified key does not exist.", 404, Key=key)


def no_such_upload(upload_id: str) -> S3Error:
    return S3Error(
        "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been "
        "aborted or completed.",
        404,
        UploadId=upload_id,
    )
