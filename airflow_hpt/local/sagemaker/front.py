"""The HTTP front: SageMaker's awsJson1_1 protocol as a WSGI application.

Every call is ``POST /`` with ``X-Amz-Target: SageMaker.<Operation>`` and a JSON body; answers are
JSON, errors in the AWS JSON error shape (``__type`` + ``message``, header ``x-amzn-ErrorType``)
so that botocore raises its modeled exceptions. Every request must carry an AWS Signature Version 4
made with the backend's access key (:mod:`airflow_hpt.local.http.auth`); it is checked before anything
else, fault injection included, so an unauthenticated caller learns nothing about the backend.

The signature's header is checked before the body is read, the body is read up to
:data:`~airflow_hpt.local.http.limits.MAX_JSON_BODY`, then parsed (:mod:`~airflow_hpt.local.http.wire`:
no NaN, bounded nesting) and type-checked against the operation's input shape before the handler.

Server library: werkzeug's threaded WSGI server, with the limits of :mod:`limits`. The handlers
are synchronous (a store lock, file writes), so an asyncio server (uvicorn) would only push them to
a thread pool; werkzeug gives a thread per request with no event loop of its own, which matters
because the backend is embedded in test processes and DAG runs that run event loops of their own
(aiobotocore, the triggerer). It is maintained by the Pallets project and starts and stops cleanly
in-process (``serve_forever`` / ``shutdown``).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

from airflow_hpt.local.http.answer import Answer
from airflow_hpt.local.http.auth import STATUS as AUTH_STATUS
from airflow_hpt.local.http.auth import AuthError, SigV4Verifier
from airflow_hpt.local.http.errors import ACCESS_DENIED, INTERNAL_FAILURE, UNKNOWN_OPERATION, ApiError
from airflow_hpt.local.http.faults import Faults
from airflow_hpt.local.http.limits import BodyError
from airflow_hpt.local.http.signed import body_error, signed_body
from airflow_hpt.local.http.wire import parse_json_object, type_error, type_problems
from airflow_hpt.local.iam.actions import (
    action_context,
    resource_tag_context,
    sagemaker_context,
    sagemaker_needs,
)
from airflow_hpt.local.iam.policy import Authorizer
from airflow_hpt.local.sagemaker.api import SageMakerApi
from airflow_hpt.request.model import operation_input_shape

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-amz-json-1.1"
TARGET_PREFIX = "SageMaker."


class Front:
    """The WSGI application of the local backend."""

    def __init__(
        self,
        api: SageMakerApi,
        verifier: SigV4Verifier,
        authorizer: Authorizer,
        region: str,
        faults: Faults | None = None,
    ) -> None:
        self.api = api
        self.verifier = verifier
        self.authorizer = authorizer
        self.region = region
        self.faults = faults

    def _resource_context(self, arn: str) -> dict[str, tuple[str, ...]]:
        return resource_tag_context(self.api.store.tags_of(arn))

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self._respond(request)
        return response(environ, start_response)

    def _respond(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        try:
            raw = signed_body(request, self.verifier)
        except AuthError as refused:
            return _error(ApiError(refused.code, refused.message, AUTH_STATUS), request_id)
        except BodyError as refused:
            return _error(body_error(refused), request_id)
        target = request.headers.get("X-Amz-Target", "")
        operation = target.removeprefix(TARGET_PREFIX)
        if request.method != "POST" or not target.startswith(TARGET_PREFIX) or not self.api.serves(operation):
            self.authorizer.unknown(f"sagemaker:{operation or target}")
            error = ApiError(UNKNOWN_OPERATION, f"Unknown operation target {target!r}")
            return _error(error, request_id)
        try:
            body = parse_json_object(raw)
            problems = list(type_problems(body, operation_input_shape(operation)))
            if problems:
                raise type_error(problems, operation)
        except ApiError as error:
            return _error(error, request_id)
        context = sagemaker_context(operation, body, self.region)
        for action, resources in sagemaker_needs(operation, body, self.region):
            refusal = self.authorizer.refusal(
                action, resources, action_context(action, context), self._resource_context
            )
            if refusal is not None:
                return _error(ApiError(ACCESS_DENIED, refusal), request_id)
        fault = self.faults.draw(operation) if self.faults is not None else None
        if fault is not None:
            return _error(ApiError(fault.code, fault.message, fault.status), request_id)
        try:
            result = self.api.handle(operation, body)
        except ApiError as error:
            return _error(error, request_id)
        except Exception:  # a bug must reach the client as a 500, not kill the connection
            log.exception("%s failed", operation)
            return _error(
                ApiError(INTERNAL_FAILURE, f"{operation} failed inside the local backend", 500), request_id
            )
        return Response(
            json.dumps(result),
            status=200,
            content_type=CONTENT_TYPE,
            headers={"x-amzn-RequestId": request_id},
        )


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
            response = _error(body_error(refused), request_id)
        except AuthError as refused:
            if self.refusal is None:
                response = _error(ApiError(refused.code, refused.message, AUTH_STATUS), request_id)
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


def _error(error: ApiError, request_id: str) -> Response:
    return Response(
        json.dumps({"__type": error.code, "message": error.message}),
        status=error.status,
        content_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": request_id, "x-amzn-ErrorType": error.code},
    )
