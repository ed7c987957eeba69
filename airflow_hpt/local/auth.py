"""AWS Signature Version 4 verification for the local backend.

Every request must be signed with the one access key the backend was started with. The expected
signature is computed by botocore's own signer (``SigV4Auth``) over a request rebuilt from what
was received: its method, path, the headers the client says it signed, its ``X-Amz-Date``, its
body, and the region of its credential scope. Reusing the client library's signer means the
canonical request is built exactly as the clients build it; only the comparison is ours.

Errors are the ones SageMaker (an ``awsJson1_1`` service) answers with, so that botocore raises a
``ClientError`` carrying the same code as against AWS. SageMaker sends them with HTTP 400; the
local backend uses 403 (refused access), which no client retries either.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.datastructures import Headers

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "sagemaker"
# AWS refuses a signature whose X-Amz-Date is more than 15 minutes off its clock, either way.
MAX_SKEW = timedelta(minutes=15)
# Headers a signature must cover, or a captured request could be replayed with them changed.
REQUIRED_SIGNED_HEADERS = ("host", "x-amz-date")

MISSING_TOKEN = "MissingAuthenticationTokenException"
INCOMPLETE = "IncompleteSignatureException"
UNRECOGNIZED = "UnrecognizedClientException"
INVALID_SIGNATURE = "InvalidSignatureException"
STATUS = 403


class AuthError(Exception):
    """A request refused before it reaches an operation: an AWS error code and its message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class _Authorization:
    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


class SigV4Verifier:
    """Checks that requests are signed with ``access_key_id`` / ``secret_access_key``."""

    def __init__(
        self, access_key_id: str, secret_access_key: str, services: Collection[str] = (SERVICE,)
    ) -> None:
        if not access_key_id or not secret_access_key:
            raise ValueError("the local backend needs a non-empty access key id and secret access key")
        self.access_key_id = access_key_id
        self._credentials = Credentials(access_key_id, secret_access_key)
        self.services = frozenset(services)

    def __repr__(self) -> str:  # never show the secret, even in a traceback's locals
        return f"SigV4Verifier(access_key_id={self.access_key_id!r})"

    def verify(
        self,
        method: str,
        url: str,
        headers: Headers,
        body: bytes,
    ) -> str:
        """Raise :class:`AuthError` unless the request is signed with this backend's credentials;
        the service of the credential scope (one of ``services``) when it is.

        ``url`` is the request's URL as the client addressed it (scheme, ``Host`` header, raw
        path and query string).
        """
        authorization = _parse(headers.get("Authorization"))
        if authorization.access_key_id != self.access_key_id:
            raise AuthError(UNRECOGNIZED, "The security token included in the request is invalid.")
        if authorization.service not in self.services:
            raise AuthError(
                INVALID_SIGNATURE, f"Credential should be scoped to correct service: '{SERVICE}'."
            )
        amz_date = headers.get("X-Amz-Date", "")
        signed_at = _timestamp(amz_date)
        if amz_date[:8] != authorization.date:
            raise AuthError(
                INVALID_SIGNATURE,
                f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
                f"'{authorization.date}' != '{amz_date[:8]}', from '{amz_date}'.",
            )
        _check_fresh(signed_at, datetime.now(UTC))
        content_sha256 = headers.get("X-Amz-Content-SHA256")
        # botocore signs this header's value instead of hashing the body: it must be the body's hash
        if content_sha256 is not None and not hmac.compare_digest(
            content_sha256.encode(), hashlib.sha256(body).hexdigest().encode()
        ):
            raise AuthError(
                INVALID_SIGNATURE, "The provided 'x-amz-content-sha256' header does not match the body."
            )
        signed: dict[str, str] = {}
        for name in authorization.signed_headers:
            if name not in headers:
                raise AuthError(INCOMPLETE, f"Header {name!r} is listed in SignedHeaders but was not sent.")
            signed[name] = headers[name]
        request = AWSRequest(method=method, url=url, headers=signed, data=body)
        request.context["timestamp"] = amz_date
        signer = SigV4Auth(self._credentials, authorization.service, authorization.region)
        expected = signer.signature(
            signer.string_to_sign(request, signer.canonical_request(request)), request
        )
        if not hmac.compare_digest(expected.encode(), authorization.signature.encode()):
            raise AuthError(
                INVALID_SIGNATURE,
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method. "
                "Consult the service documentation for details.",
            )
        return authorization.service


def _parse(header: str | None) -> _Authorization:
    """The parts of an ``Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...``."""
    if not header:
        raise AuthError(MISSING_TOKEN, "Missing Authentication Token")
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise AuthError(
            INCOMPLETE, f"Unsupported authorization algorithm {algorithm!r}: expected {ALGORITHM}."
        )
    fields: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            fields[key] = value
    missing = [key for key in ("Credential", "SignedHeaders", "Signature") if not fields.get(key)]
    if missing:
        raise AuthError(
            INCOMPLETE,
            f"Authorization header requires {', '.join(repr(key) for key in missing)} parameter(s). "
            f"Authorization={ALGORITHM} {rest}",
        )
    scope = fields["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise AuthError(
            INCOMPLETE,
            "Credential should be scoped to a valid region, service and date: "
            "<access key>/<YYYYMMDD>/<region>/<service>/aws4_request.",
        )
    signed_headers = tuple(fields["SignedHeaders"].lower().split(";"))
    unsigned = [name for name in REQUIRED_SIGNED_HEADERS if name not in signed_headers]
    if unsigned:
        raise AuthError(INCOMPLETE, f"SignedHeaders must include {', '.join(unsigned)}.")
    access_key_id, date, region, service, _ = scope
    return _Authorization(access_key_id, date, region, service, signed_headers, fields["Signature"])


def _timestamp(amz_date: str) -> datetime:
    try:
        return datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise AuthError(
            INCOMPLETE, f"X-Amz-Date {amz_date!r} is not an ISO-8601 basic timestamp (YYYYMMDD'T'HHMMSS'Z')."
        ) from None


def _check_fresh(signed_at: datetime, now: datetime) -> None:
    stamp = signed_at.strftime(SIGV4_TIMESTAMP)
    if signed_at < now - MAX_SKEW:
        raise AuthError(
            INVALID_SIGNATURE,
            f"Signature expired: {stamp} is now earlier than {(now - MAX_SKEW).strftime(SIGV4_TIMESTAMP)} "
            f"({now.strftime(SIGV4_TIMESTAMP)} - 15 min.)",
        )
    if signed_at > now + MAX_SKEW:
        raise AuthError(
            INVALID_SIGNATURE,
            f"Signature not yet current: {stamp} is still later than "
            f"{(now + MAX_SKEW).strftime(SIGV4_TIMESTAMP)} ({now.strftime(SIGV4_TIMESTAMP)} + 15 min.)",
        )
