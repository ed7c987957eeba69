"""The body of a signed request: the signature's header is checked before a byte of the body is
read, the body is read within its cap, then the signature is verified over it."""

from __future__ import annotations

from werkzeug.wrappers import Request

from airflow_hpt.local.http.auth import SERVICE, SigV4Verifier
from airflow_hpt.local.http.errors import SERIALIZATION, ApiError
from airflow_hpt.local.http.limits import MAX_JSON_BODY, BodyError, read_body


def signed_body(request: Request, verifier: SigV4Verifier, service: str = SERVICE) -> bytes:
    """The body of a request signed for ``service``, at most :data:`MAX_JSON_BODY` bytes: the
    Authorization header is checked before a byte of the body is read, the signature once it is."""
    verifier.precheck(request.headers, service)
    body = read_body(request.environ, MAX_JSON_BODY)
    verifier.verify(request.method, addressed_url(request), request.headers, body, service)
    return body


def body_error(error: BodyError) -> ApiError:
    """A refused body in the JSON protocols' terms."""
    if error.kind == "too_large":
        return ApiError("RequestEntityTooLargeException", error.message, 413)
    return ApiError(SERIALIZATION, error.message)


def addressed_url(request: Request) -> str:
    """The URL as the client addressed it: the signature covers the Host header and the raw path."""
    raw_path = request.environ.get("RAW_URI") or request.full_path.rstrip("?")
    return f"{request.scheme}://{request.host}{raw_path}"
