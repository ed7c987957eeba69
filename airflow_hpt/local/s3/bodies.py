"""Request bodies as S3 receives them: bounded, streamed to disk, ``aws-chunked`` decoded, checked.

An object's body (PutObject, UploadPart) is never held in memory: :func:`receive_object` streams it,
at most :data:`~airflow_hpt.local.http.limits.MAX_S3_OBJECT_BODY` (5 GiB, S3's cap on a single PUT
and on a part), into a temporary file of the store, hashing it on the way, and the store renames
that file into place. Any failure removes the file. S3's own XML documents are read whole, at most
:data:`~airflow_hpt.local.http.limits.MAX_S3_DOCUMENT_BODY` (:func:`read_document`).

botocore uploads a streaming body as ``Content-Encoding: aws-chunked`` with ``x-amz-content-sha256:
STREAMING-UNSIGNED-PAYLOAD-TRAILER`` and its checksum in a trailer (over HTTPS by default; over HTTP
it sends the checksum as a header and signs the body instead). The chunks are ``<hex size>\\r\\n
<bytes>\\r\\n``, ended by a zero-size chunk and the trailer lines. Whichever way a checksum comes
(``x-amz-checksum-<algorithm>`` header or trailer, ``Content-MD5``), the body must match it, or the
request is refused as S3 refuses it (``BadDigest``); a body signed by its SHA-256 must have it.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request

from airflow_hpt.local.http.auth import AuthError, check_payload_digest
from airflow_hpt.local.http.limits import (
    MAX_CHUNK_LINE,
    MAX_S3_DOCUMENT_BODY,
    MAX_S3_OBJECT_BODY,
    MAX_TRAILER_LINES,
    READ_SIZE,
    BodyError,
    body_stream,
    read_body,
)
from airflow_hpt.local.s3.errors import S3Error

CHECKSUM_PREFIX = "x-amz-checksum-"
_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]{1,16}")


class _Crc32:
    """``zlib.crc32`` behind hashlib's update/digest."""

    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = zlib.crc32(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


# checksums computed with the standard library; others (CRC32C, CRC64NVME) are accepted unchecked
_CHECKSUMS: dict[str, Callable[[], Any]] = {
    "crc32": _Crc32,
    "sha1": hashlib.sha1,
    "sha256": hashlib.sha256,
}


@dataclass(frozen=True)
class ReceivedBody:
    """An object's bytes in a temporary file, and their MD5 (hex): the object's ETag."""

    path: Path
    md5: str
    size: int


def read_document(request: Request) -> bytes:
    """One of S3's XML documents, at most :data:`MAX_S3_DOCUMENT_BODY`, checked against a signed hash."""
    try:
        body = read_body(request.environ, MAX_S3_DOCUMENT_BODY)
    except BodyError as error:
        raise s3_body_error(error, MAX_S3_DOCUMENT_BODY) from None
    _check_signed_digest(request, hashlib.sha256(body).hexdigest())
    checksums = _declared_checksums(request)
    computed = {algorithm: _CHECKSUMS[algorithm]() for algorithm in _CHECKSUMS}
    for digest in computed.values():
        digest.update(body)
    _check_checksums(request, checksums, hashlib.md5(body).digest(), computed)
    return body


def _declared_checksums(request: Request) -> dict[str, str]:
    return {
        name.lower(): value
        for name, value in request.headers.items()
        if name.lower().startswith(CHECKSUM_PREFIX)
    }


def _check_checksums(
    request: Request, checksums: dict[str, str], md5: bytes, computed: dict[str, Any]
) -> None:
    content_md5 = request.headers.get("Content-MD5")
    if content_md5 is not None and content_md5 != base64.b64encode(md5).decode():
        raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.", 400)
    for name, value in checksums.items():
        algorithm = name.removeprefix(CHECKSUM_PREFIX)
        digest = computed.get(algorithm)
        if digest is not None and value != base64.b64encode(digest.digest()).decode():
            raise S3Error(
                "BadDigest",
                f"The {algorithm.upper()} you specified did not match the calculated checksum.",
                400,
            )


def receive_object(request: Request, directory: Path) -> ReceivedBody:
    """Stream an object's body into a new file of ``directory``, decoded and checked; on any
    failure the file is gone."""
    temporary = directory / f"{uuid.uuid4().hex}.receiving"
    try:
        return _receive(request, temporary)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _receive(request: Request, temporary: Path) -> ReceivedBody:
    headers = request.headers
    checksums = _declared_checksums(request)
    aws_chunked = "aws-chunked" in [part.strip() for part in headers.get("Content-Encoding", "").split(",")]
    computed = {
        algorithm: make()
        for algorithm, make in _CHECKSUMS.items()
        if aws_chunked or CHECKSUM_PREFIX + algorithm in checksums
    }
    md5 = hashlib.md5()
    size = 0
    trailer: dict[str, str] = {}
    try:
        raw = _Hashing(body_stream(request.environ, MAX_S3_OBJECT_BODY))
        reader = io.BufferedReader(raw, READ_SIZE)
        pieces = _dechunked(reader, trailer) if aws_chunked else iter(lambda: reader.read(READ_SIZE), b"")
        with temporary.open("wb") as out:
            for piece in pieces:
                out.write(piece)
                md5.update(piece)
                for digest in computed.values():
                    digest.update(piece)
                size += len(piece)
    except BodyError as error:
        raise s3_body_error(error, MAX_S3_OBJECT_BODY) from None
    _check_signed_digest(request, raw.sha256.hexdigest())
    if aws_chunked:
        checksums.update(trailer)
        declared = headers.get("X-Amz-Decoded-Content-Length")
        if declared is not None and declared != str(size):
            raise S3Error(
                "IncompleteBody",
                "You did not provide the number of bytes specified by the "
                "X-Amz-Decoded-Content-Length HTTP header",
                400,
            )
    _check_checksums(request, checksums, md5.digest(), computed)
    return ReceivedBody(temporary, md5.hexdigest(), size)


def _check_signed_digest(request: Request, sha256_hex: str) -> None:
    try:
        check_payload_digest(request.headers.get("X-Amz-Content-SHA256"), sha256_hex)
    except AuthError as refused:
        raise S3Error(refused.s3_code, refused.message, 400) from None


class _Hashing(io.RawIOBase):
    """The raw body, hashed as it is read (what a signed ``x-amz-content-sha256`` covers)."""

    def __init__(self, stream: io.RawIOBase) -> None:
        self._stream = stream
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._stream.readinto(buffer) or 0
        self.sha256.update(memoryview(buffer)[:count])
        return count


def _dechunked(reader: io.BufferedReader[Any], trailer: dict[str, str]) -> Iterator[bytes]:
    """The payload of an aws-chunked body, a piece at a time; its trailer headers go to ``trailer``."""
    while True:
        size_field = _line(reader, "a chunk header").split(b";", 1)[0].strip()
        if not _CHUNK_SIZE.fullmatch(size_field):
            raise _malformed(f"chunk size {size_field[:20]!r} is not hexadecimal")
        remaining = int(size_field, 16)
        if remaining == 0:
            break
        while remaining:
            data = reader.read(min(READ_SIZE, remaining))
            if not data:
                raise _malformed("a chunk is shorter than its declared size")
            remaining -= len(data)
            yield data
        if reader.read(2) != b"\r\n":
            raise _malformed("a chunk is longer than its declared size")
    for _ in range(MAX_TRAILER_LINES):
        line = reader.readline(MAX_CHUNK_LINE + 1)
        if not line.strip():
            return
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or len(line) > MAX_CHUNK_LINE:
            raise _malformed(f"trailer line {line[:40]!r} is not 'name:value'")
        trailer[name.strip().lower()] = value.strip()
    raise _malformed("the trailer is too long")


def _line(reader: io.BufferedReader[Any], what: str) -> bytes:
    line = reader.readline(MAX_CHUNK_LINE + 1)
    if not line.endswith(b"\r\n"):
        raise _malformed(f"{what} is not terminated")
    return line[:-2]


def _malformed(reason: str) -> S3Error:
    return S3Error("IncompleteBody", f"The aws-chunked body is malformed: {reason}.", 400)


def s3_body_error(error: BodyError, cap: int) -> S3Error:
    """A refused body in S3's terms."""
    if error.kind == "too_large":
        return S3Error(
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed object size.",
            400,
            MaxSizeAllowed=str(cap),
        )
    return S3Error("IncompleteBody", error.message, 400)
