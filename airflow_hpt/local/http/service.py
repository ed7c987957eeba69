"""A signed JSON service on the backend's one endpoint, as a WSGI application: the signature is checked
for the service's signing name, then its handler answers (CloudWatch Logs and metrics, STS); and
the error shape of AWS's JSON protocols, which the SageMaker front answers with too."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from airflow_hpt.local.http.answer import Answer
from airflow_hpt.local.http.auth import STATUS as AUTH_STATUS
from airflow_hpt.local.http.auth import AuthError, SigV4Verifier
from airflow_hpt.local.http.errors import ApiError
from airflow_hpt.local.http.limits import BodyError
from airflow_hpt.local.http.signed import body_error, signed_body

CONTENT_TYPE = "application/x-amz-json-1.1"


class ServiceHandler(Protocol):
    """Another JSON-speaking service on the same endpoint (CloudWatch Logs, CloudWatch metrics)."""

    def handle(self, method: str, path: str, headers: Headers, body: bytes) -> Answer:
        """The status, headers and body of the answer."""


class ServiceFront:
    """The WSGI application of one such service: checks the signature for its signing name."""

    def __init__(
        self,
        service: str,
        handler: ServiceHandler,
        verifier: SigV4Verifier,
        refusal: Callable[[AuthError, str], Answer] | None = None,
    ) -> None:
        """``refusal``: the answer to a refused signature in the service's own protocol (the
        request id given); without it, the JSON protocol's error shape."""
        self.service = service
        self.handler = handler
        self.verifier = verifier
        self.refusal = refusal

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        request_id = str(uuid.uuid4())
        try:
            body = signed_body(request, self.verifier, self.service)
        except BodyError as refused:
            response = json_error(body_error(refused), request_id)
        except AuthError as refused:
            if self.refusal is None:
                response = json_error(ApiError(refused.code, refused.message, AUTH_STATUS), request_id)
            else:
                response = _response(self.refusal(refused, request_id), request_id)
        else:
            answer = self.handler.handle(request.method, request.path, request.headers, body)
            response = _response(answer, request_id)
        return response(environ, start_response)


def _response(answer: Answer, request_id: str) -> Response:
    return Response(
        answer.body, status=answer.status, headers={**answer.headers, "x-amzn-RequestId": request_id}
    )


def json_error(error: ApiError, request_id: str) -> Response:
    return Response(
        json.dumps({"__type": error.code, "message": error.message}),
        status=error.status,
        content_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error.code},
    )
