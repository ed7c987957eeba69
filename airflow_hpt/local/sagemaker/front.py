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
from collections.abc import Iterable
from typing import Any

from werkzeug.wrappers import Request, Response

from airflow_hpt.local.http.auth import STATUS as AUTH_STATUS
from airflow_hpt.local.http.auth import AuthError, SigV4Verifier
from airflow_hpt.local.http.errors import ACCESS_DENIED, INTERNAL_FAILURE, UNKNOWN_OPERATION, ApiError
from airflow_hpt.local.http.faults import Faults
from airflow_hpt.local.http.limits import BodyError
from airflow_hpt.local.http.service import CONTENT_TYPE, json_error
from airflow_hpt.local.http.signed import body_error, signed_body
from airflow_hpt.local.http.wire import parse_json_object, type_error, type_problems
from airflow_hpt.local.iam.actions import (
    action_context,
    resource_tag_context,
    sagemaker_context,
    sagemaker_needs,
)
from airflow_hpt.local.iam.policy import Authorizer
from airflow_hpt.local.sagemaker.registry import Operations
from airflow_hpt.request.model import operation_input_shape

log = logging.getLogger(__name__)

TARGET_PREFIX = "SageMaker."


class Front:
    """The WSGI application of the local backend."""

    def __init__(
        self,
        api: Operations,
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
            return json_error(ApiError(refused.code, refused.message, AUTH_STATUS), request_id)
        except BodyError as refused:
            return json_error(body_error(refused), request_id)
        target = request.headers.get("X-Amz-Target", "")
        operation = target.removeprefix(TARGET_PREFIX)
        if request.method != "POST" or not target.startswith(TARGET_PREFIX) or not self.api.serves(operation):
            self.authorizer.unknown(f"sagemaker:{operation or target}")
            error = ApiError(UNKNOWN_OPERATION, f"Unknown operation target {target!r}")
            return json_error(error, request_id)
        try:
            body = parse_json_object(raw)
            problems = list(type_problems(body, operation_input_shape(operation)))
            if problems:
                raise type_error(problems, operation)
        except ApiError as error:
            return json_error(error, request_id)
        context = sagemaker_context(operation, body, self.region)
        for action, resources in sagemaker_needs(operation, body, self.region):
            refusal = self.authorizer.refusal(
                action, resources, action_context(action, context), self._resource_context
            )
            if refusal is not None:
                return json_error(ApiError(ACCESS_DENIED, refusal), request_id)
        fault = self.faults.draw(operation) if self.faults is not None else None
        if fault is not None:
            return json_error(ApiError(fault.code, fault.message, fault.status), request_id)
        try:
            result = self.api.handle(operation, body)
        except ApiError as error:
            return json_error(error, request_id)
        except Exception:  # a bug must reach the client as a 500, not kill the connection
            log.exception("%s failed", operation)
            return json_error(
                ApiError(INTERNAL_FAILURE, f"{operation} failed inside the local backend", 500), request_id
            )
        return Response(
            json.dumps(result),
            status=200,
            content_type=CONTENT_TYPE,
            headers={"x-amzn-RequestId": request_id},
        )
