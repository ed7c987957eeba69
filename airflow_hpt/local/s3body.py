"""Request bodies as S3 receives them: ``aws-chunked`` decoding and integrity checks.

botocore uploads a streaming body (PutObject, UploadPart) as ``Content-Encoding: aws-chunked``
with ``x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER`` and its checksum in a trailer
(over HTTPS by default; over HTTP it sends the checksum as a header and signs the body instead).
The chunks are ``<hex size>\\r\\n<bytes>\\r\\n``, ended by a zero-size chunk and the trailer lines.
Whichever way a checksum comes (``x-amz-checksum-<algorithm>`` header or trailer, ``Content-MD5``),
the body must match it, or the request is refused as S3 refuses it (``BadDigest``).
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable

from werkzeug.wrappers import Request

from airflow_hpt.local.s3store import S3Error

# checksums computed with the standard library; others (CRC32C, CRC64NVME) are accepted unchecked
_CHECKSUMS: dict[str, Callable[[bytes], bytes]] = {
    "crc32": lambda data: zlib.crc32(data).to_bytes(4, "big"),
    "sha1": lambda data: hashlib.sha1(data).digest(),
    "sha256": lambda data: hashlib.sha256(data).digest(),
}
CHECKSUM_PREFIX = "x-amz-checksum-"


def decode_body(request: Request) -> bytes:
    """The payload of ``request``, aws-chunked decoded, after checking every checksum it carries."""
    body = request.get_data()
    checksums = {
        name.lower(): value
        for name, value in request.headers.items()
        if name.lower().startswith(CHECKSUM_PREFIX)
    }
    encodings = [part.strip() for part in request.headers.get("Content-Encoding", "").split(",")]
    if "aws-chunked" in encodings:
        body, trailer = _dechunk(body)
        checksums.update(trailer)
        declared = request.headers.get("X-Amz-Decoded-Content-Length")
        if declared is not None and declared != str(len(body)):
            raise S3Error(
                "IncompleteBody",
                "You did not provide the number of bytes specified by the "
                "X-Amz-Decoded-Content-Length HTTP header",
                400,
            )
    md5 = request.headers.get("Content-MD5")
    if md5 is not None and md5 != base64.b64encode(hashlib.md5(body).digest()).decode():
        raise S3Error("BadDigest", "The Content-MD5 you specified did not match what we received.", 400)
    for name, value in checksums.items():
        algorithm = name.removeprefix(CHECKSUM_PREFIX)
        compute = _CHECKSUMS.get(algorithm)
        if compute is not None and value != base64.b64encode(compute(body)).decode():
            raise S3Error(
                "BadDigest",
                f"The {algorithm.upper()} you specified did not match the calculated checksum.",
                400,
            )
    return body


def _dechunk(body: bytes) -> tuple[bytes, dict[str, str]]:
    """The payload and the trailer headers of an aws-chunked body."""
    payload = bytearray()
    position = 0
    while True:
        line_end = body.find(b"\r\n", position)
        if line_end < 0:
            raise _malformed("a chunk header is not terminated")
        size_field = body[position:line_end].split(b";", 1)[0]
        try:
            size = int(size_field, 16)
        except ValueError:
            raise _malformed(f"chunk size {size_field[:20]!r} is not hexadecimal") from None
        start = line_end + 2
        if size == 0:
            position = start
            break
        if body[start + size : start + size + 2] != b"\r\n":
            raise _malformed("a chunk is shorter than its declared size")
        payload += body[start : start + size]
        position = start + size + 2
    trailer: dict[str, str] = {}
    for line in body[position:].split(b"\r\n"):
        if line.strip():
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise _malformed(f"trailer line {line[:40]!r} is not 'name:value'")
            trailer[name.strip().lower()] = value.strip()
    return bytes(payload), trailer


def _malformed(reason: str) -> S3Error:
    return S3Error("IncompleteBody", f"The aws-chunked body is malformed: {reason}.", 400)
