"""AWS Signature Version 4 verification for the local backend.

Every request must be signed with the one access key the backend was started with. The expected
signature is computed by botocore's own signers (``SigV4Auth``; for S3 ``S3SigV4Auth``, which
signs the path as sent, and ``S3SigV4QueryAuth`` for presigned URLs) over a request rebuilt from
what was received: its method, path, query, the headers the client says it signed, its
``X-Amz-Date``, its payload hash, and the region of its credential scope. Reusing the client
library's signers means the canonical request is built exactly as the clients build it; only the
comparison is ours.

Errors carry two codes: the one SageMaker (an ``awsJson1_1`` service) answers with, and the one
S3 (rest-xml) answers with, so that each front raises the ``ClientError`` its clients expect. The
JSON front sends them with HTTP 403 (refused access), which no client retries.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit, urlunsplit

from botocore.auth import (
    SIGV4_TIMESTAMP,
    STREAMING_UNSIGNED_PAYLOAD_TRAILER,
    UNSIGNED_PAYLOAD,
    HmacV1QueryAuth,
    S3SigV4Auth,
    S3SigV4QueryAuth,
    SigV4Auth,
)
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.credentials import Credentials
from werkzeug.datastructures import Headers

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "sagemaker"
S3_SERVICE = "s3"
# AWS refuses a signature whose X-Amz-Date is more than 15 minutes off its clock, either way.
MAX_SKEW = timedelta(minutes=15)
# SigV4 query authentication: a presigned URL lives at most seven days.
MAX_PRESIGNED_SECONDS = 7 * 24 * 3600
# Headers a signature must cover, or a captured request could be replayed with them changed.
REQUIRED_SIGNED_HEADERS = ("host", "x-amz-date")
# S3 lets the client leave the payload out of the signature (botocore does for aws-chunked
# uploads); the body is then only as trustworthy as the channel, as on S3.
S3_UNSIGNED_PAYLOADS = (UNSIGNED_PAYLOAD, STREAMING_UNSIGNED_PAYLOAD_TRAILER)

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

MISSING_TOKEN = "MissingAuthenticationTokenException"
INCOMPLETE = "IncompleteSignatureException"
UNRECOGNIZED = "UnrecognizedClientException"
INVALID_SIGNATURE = "InvalidSignatureException"
STATUS = 403

# The S3 code of each failure, unless the failure names a more precise one.
S3_CODES = {
    MISSING_TOKEN: "AccessDenied",
    INCOMPLETE: "AuthorizationHeaderMalformed",
    UNRECOGNIZED: "InvalidAccessKeyId",
    INVALID_SIGNATURE: "SignatureDoesNotMatch",
}


class AuthError(Exception):
    """A request refused before it reaches an operation: an AWS error code and its message.

    ``code`` is the JSON protocol's code, ``s3_code`` S3's for the same failure.
    """

    def __init__(self, code: str, message: str, s3_code: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.s3_code = s3_code or S3_CODES[code]


@dataclass(frozen=True)
class _Scope:
    access_key_id: str
    date: str
    region: str
    service: str


@dataclass(frozen=True)
class _Authorization:
    scope: _Scope
    signed_headers: tuple[str, ...]
    signature: str


def credential_service(authorization: str | None, query_string: str) -> str | None:
    """The service named by a request's credential scope (header or presigned URL), if any.

    Only for routing: the front that serves the service verifies the whole signature.
    """
    credential = ""
    if authorization:
        for item in authorization.partition(" ")[2].split(","):
            key, _, value = item.strip().partition("=")
            if key == "Credential":
                credential = value
    else:
        for pair in query_string.split("&"):
            key, _, value = pair.partition("=")
            if unquote(key) == "X-Amz-Credential":
                credential = unquote(value)
            if unquote(key) == "AWSAccessKeyId":  # signature version 2: presigned S3 URLs only
                return S3_SERVICE
    parts = credential.split("/")
    return parts[3] if len(parts) == 5 and parts[3] else None


class SigV4Verifier:
    """Checks that requests are signed with ``access_key_id`` / ``secret_access_key``."""

    def __init__(self, access_key_id: str, secret_access_key: str) -> None:
        if not access_key_id or not secret_access_key:
            raise ValueError("the local backend needs a non-empty access key id and secret access key")
        self.access_key_id = access_key_id
        self._credentials = Credentials(access_key_id, secret_access_key)

    def __repr__(self) -> str:  # never show the secret, even in a traceback's locals
        return f"SigV4Verifier(access_key_id={self.access_key_id!r})"

    def precheck(self, headers: Headers, service: str = SERVICE) -> None:
        """What can be checked before the body is read: an ``Authorization`` header for this
        backend's access key and ``service``, dated now. Raise :class:`AuthError` otherwise."""
        self._checked_header(headers, service)

    def _checked_header(self, headers: Headers, service: str) -> _Authorization:
        authorization = _parse(headers.get("Authorization"))
        self._check_scope(authorization.scope, service)
        amz_date = headers.get("X-Amz-Date", "")
        signed_at = _timestamp(amz_date)
        _check_date(authorization.scope, amz_date)
        _check_fresh(signed_at, datetime.now(UTC))
        return authorization

    def verify(
        self, method: str, url: str, headers: Headers, body: bytes | None, service: str = SERVICE
    ) -> None:
        """Raise :class:`AuthError` unless the request is signed with this backend's credentials.

        ``url`` is the request's URL as the client addressed it (scheme, ``Host`` header, raw
        path and query string). ``service`` is the signing name the request must be scoped to;
        for ``s3`` the payload hash may be one of S3's unsigned-payload markers.
        ``body=None``: the body is not read yet; the signature is checked over the signed
        ``X-Amz-Content-SHA256`` header (required then), and the caller checks the body against it
        with :func:`check_payload_digest` once read.
        """
        authorization = self._checked_header(headers, service)
        content_sha256 = headers.get("X-Amz-Content-SHA256")
        if body is None:
            if content_sha256 is None:
                raise AuthError(
                    INCOMPLETE,
                    "Missing required header for this request: x-amz-content-sha256",
                    "InvalidRequest",
                )
            _check_payload_marker(content_sha256, service)
        else:
            _check_payload_hash(content_sha256, body, service)
        request = AWSRequest(
            method=method, url=url, headers=_signed(headers, authorization.signed_headers), data=body or b""
        )
        request.context["timestamp"] = headers.get("X-Amz-Date", "")
        signer_class = S3SigV4Auth if service == S3_SERVICE else SigV4Auth
        self._compare(
            signer_class(self._credentials, service, authorization.scope.region),
            request,
            authorization.signature,
        )

    def verify_presigned(self, method: str, url: str, headers: Headers, service: str = S3_SERVICE) -> None:
        """Like :meth:`verify` for a presigned URL: the signature is in the query string (S3 only)."""
        parts = urlsplit(url)
        pairs = [pair.partition("=") for pair in parts.query.split("&") if pair]
        params = {unquote(key): unquote(value) for key, _, value in pairs}
        if params.get("X-Amz-Algorithm") != ALGORITHM:
            raise AuthError(
                INCOMPLETE, f"X-Amz-Algorithm must be {ALGORITHM}.", "AuthorizationQueryParametersError"
            )
        missing = [
            name
            for name in (
                "X-Amz-Credential",
                "X-Amz-Date",
                "X-Amz-Expires",
                "X-Amz-SignedHeaders",
                "X-Amz-Signature",
            )
            if not params.get(name)
        ]
        if missing:
            raise AuthError(
                INCOMPLETE,
                f"Query-string authentication requires the {', '.join(missing)} parameter(s).",
                "AuthorizationQueryParametersError",
            )
        scope = _scope(params["X-Amz-Credential"])
        self._check_scope(scope, service)
        amz_date = params["X-Amz-Date"]
        signed_at = _timestamp(amz_date)
        _check_date(scope, amz_date)
        try:
            expires = int(params["X-Amz-Expires"])
        except ValueError:
            expires = -1
        if not 0 < expires <= MAX_PRESIGNED_SECONDS:
            raise AuthError(
                INCOMPLETE,
                f"X-Amz-Expires must be between 1 and {MAX_PRESIGNED_SECONDS} seconds.",
                "AuthorizationQueryParametersError",
            )
        now = datetime.now(UTC)
        if now > signed_at + timedelta(seconds=expires):
            raise AuthError(INVALID_SIGNATURE, "Request has expired", "AccessDenied")
        if signed_at > now + MAX_SKEW:
            raise AuthError(INVALID_SIGNATURE, "Request is not valid yet", "AccessDenied")
        signed_headers = tuple(params["X-Amz-SignedHeaders"].lower().split(";"))
        if "host" not in signed_headers:
            raise AuthError(
                INCOMPLETE, "X-Amz-SignedHeaders must include host.", "AuthorizationQueryParametersError"
            )
        # the canonical query string is every parameter but the signature, as the client sent them
        unsigned_query = "&".join(
            key + sep + value for key, sep, value in pairs if unquote(key) != "X-Amz-Signature"
        )
        request = AWSRequest(
            method=method,
            url=urlunsplit(parts._replace(query=unsigned_query)),
            headers=_signed(headers, signed_headers),
        )
        request.context["timestamp"] = amz_date
        signer = S3SigV4QueryAuth(self._credentials, service, scope.region, expires=expires)
        self._compare(signer, request, params["X-Amz-Signature"])

    def verify_presigned_v2(self, method: str, url: str, headers: Headers) -> None:
        """A presigned S3 URL in signature version 2 (``AWSAccessKeyId``, ``Expires``, ``Signature``):
        what botocore's ``generate_presigned_url`` makes for S3 unless told ``s3v4``."""
        parts = urlsplit(url)
        params = {
            unquote(key): unquote(value)
            for key, _, value in (pair.partition("=") for pair in parts.query.split("&") if pair)
        }
        if params.get("AWSAccessKeyId") != self.access_key_id:
            raise AuthError(UNRECOGNIZED, "The AWS Access Key Id you provided does not exist in our records.")
        try:
            expires = int(params.get("Expires", ""))
        except ValueError:
            raise AuthError(
                INCOMPLETE, "Query-string authentication requires the Expires parameter.", "AccessDenied"
            ) from None
        if datetime.now(UTC).timestamp() > expires:
            raise AuthError(INVALID_SIGNATURE, "Request has expired", "AccessDenied")
        signer = _PresignedV2Signer(self._credentials, str(expires))
        signed = HTTPHeaders()
        for name, value in headers.items():
            if name.lower() in ("content-md5", "content-type") or name.lower().startswith("x-amz-"):
                signed[name] = value
        expected = signer.get_signature(method, parts, signed)
        if not hmac.compare_digest(expected.encode(), params.get("Signature", "").encode()):
            raise AuthError(
                INVALID_SIGNATURE,
                "The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.",
            )

    def _check_scope(self, scope: _Scope, service: str) -> None:
        if scope.access_key_id != self.access_key_id:
            raise AuthError(
                UNRECOGNIZED,
                "The security token included in the request is invalid."
                if service != S3_SERVICE
                else "The AWS Access Key Id you provided does not exist in our records.",
            )
        if scope.service != service:
            raise AuthError(
                INVALID_SIGNATURE, f"Credential should be scoped to correct service: '{service}'."
            )

    def _compare(self, signer: SigV4Auth, request: AWSRequest, signature: str) -> None:
        expected = signer.signature(
            signer.string_to_sign(request, signer.canonical_request(request)), request
        )
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise AuthError(
                INVALID_SIGNATURE,
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method. "
                "Consult the service documentation for details.",
            )


class _PresignedV2Signer(HmacV1QueryAuth):
    """botocore's signature version 2 query signer, with the URL's ``Expires`` as its date."""

    def __init__(self, credentials: Credentials, expires: str) -> None:
        super().__init__(credentials)
        self._expires_at = expires

    def _get_date(self) -> str:
        return self._expires_at


def _signed(headers: Headers, names: tuple[str, ...]) -> dict[str, str]:
    signed: dict[str, str] = {}
    for name in names:
        if name not in headers:
            raise AuthError(INCOMPLETE, f"Header {name!r} is listed in SignedHeaders but was not sent.")
        signed[name] = headers[name]
    return signed


def _check_payload_marker(content_sha256: str, service: str) -> None:
    """The ``X-Amz-Content-SHA256`` header names a hash or, on S3, a supported marker."""
    if service == S3_SERVICE and content_sha256 in S3_UNSIGNED_PAYLOADS:
        return
    if service == S3_SERVICE and content_sha256.startswith("STREAMING-"):
        raise AuthError(
            INCOMPLETE,
            f"x-amz-content-sha256 {content_sha256!r} (signed chunks) is not supported by the local "
            f"backend; send {UNSIGNED_PAYLOAD}, {STREAMING_UNSIGNED_PAYLOAD_TRAILER} or the body's hash.",
            "NotImplemented",
        )
    if not _SHA256_HEX.fullmatch(content_sha256):
        raise AuthError(
            INVALID_SIGNATURE,
            "The provided 'x-amz-content-sha256' header is not a SHA-256 hash.",
            "InvalidArgument",
        )


def check_payload_digest(content_sha256: str | None, digest: str) -> None:
    """The body whose SHA-256 is ``digest`` (hex) is the one the signed header names, if it names one."""
    if content_sha256 is None or content_sha256 in S3_UNSIGNED_PAYLOADS:
        return
    if not hmac.compare_digest(content_sha256.encode(), digest.encode()):
        raise AuthError(
            INVALID_SIGNATURE,
            "The provided 'x-amz-content-sha256' header does not match the body.",
            "XAmzContentSHA256Mismatch",
        )


def _check_payload_hash(content_sha256: str | None, body: bytes, service: str) -> None:
    """botocore signs the ``X-Amz-Content-SHA256`` value instead of hashing the body: it must be
    the body's hash, or (S3) one of the unsigned-payload markers."""
    if service == S3_SERVICE and content_sha256 is None:
        raise AuthError(
            INCOMPLETE, "Missing required header for this request: x-amz-content-sha256", "InvalidRequest"
        )
    if content_sha256 is not None:
        _check_payload_marker(content_sha256, service)
        check_payload_digest(content_sha256, hashlib.sha256(body).hexdigest())


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
    scope = _scope(fields["Credential"])
    signed_headers = tuple(fields["SignedHeaders"].lower().split(";"))
    unsigned = [name for name in REQUIRED_SIGNED_HEADERS if name not in signed_headers]
    if unsigned:
        raise AuthError(INCOMPLETE, f"SignedHeaders must include {', '.join(unsigned)}.")
    return _Authorization(scope, signed_headers, fields["Signature"])


def _scope(credential: str) -> _Scope:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        raise AuthError(
            INCOMPLETE,
            "Credential should be scoped to a valid region, service and date: "
            "<access key>/<YYYYMMDD>/<region>/<service>/aws4_request.",
        )
    return _Scope(*parts[:4])


def _timestamp(amz_date: str) -> datetime:
    try:
        return datetime.strptime(amz_date, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise AuthError(
            INCOMPLETE, f"X-Amz-Date {amz_date!r} is not an ISO-8601 basic timestamp (YYYYMMDD'T'HHMMSS'Z')."
        ) from None


def _check_date(scope: _Scope, amz_date: str) -> None:
    if amz_date[:8] != scope.date:
        raise AuthError(
            INVALID_SIGNATURE,
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{scope.date}' != '{amz_date[:8]}', from '{amz_date}'.",
        )


def _check_fresh(signed_at: datetime, now: datetime) -> None:
    stamp = signed_at.strftime(SIGV4_TIMESTAMP)
    if signed_at < now - MAX_SKEW:
        raise AuthError(
            INVALID_SIGNATURE,
            f"Signature expired: {stamp} is now earlier than {(now - MAX_SKEW).strftime(SIGV4_TIMESTAMP)} "
            f"({now.strftime(SIGV4_TIMESTAMP)} - 15 min.)",
            "RequestTimeTooSkewed",
        )
    if signed_at > now + MAX_SKEW:
        raise AuthError(
            INVALID_SIGNATURE,
            f"Signature not yet current: {stamp} is still later than "
            f"{(now + MAX_SKEW).strftime(SIGV4_TIMESTAMP)} ({now.strftime(SIGV4_TIMESTAMP)} + 15 min.)",
            "RequestTimeTooSkewed",
        )
