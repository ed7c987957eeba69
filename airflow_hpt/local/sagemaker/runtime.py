"""The SageMaker runtime's ``InvokeEndpoint`` (rest-json) as a WSGI application.

``POST /endpoints/<name>/invocations``, signed as ``sagemaker`` like the control plane (the router
picks this front by path). The body and ``Content-Type`` / ``Accept`` /
``X-Amzn-SageMaker-Custom-Attributes`` go to the endpoint's model server as they are; its answer
comes back with ``x-Amzn-Invoked-Production-Variant``. Errors are the runtime's:

- ``AccessDeniedException`` (400): the policy does not allow ``sagemaker:InvokeEndpoint`` on the
  endpoint's ARN (:mod:`policy`);
- ``ValidationError`` (400): unknown endpoint, or one that is not InService (or Updating, which
  still serves the previous configuration, as on SageMaker); a ``TargetModel`` (there are no
  multi-model endpoints); a ``TargetVariant`` that is not the endpoint's first variant, the one
  served;
- ``ModelError`` (424): the model answered with an error status, or gave no answer. As SageMaker's,
  it carries ``OriginalStatusCode``, ``OriginalMessage`` (the model server's body: the toolkit puts
  the script's traceback there) and ``LogStreamArn``; its ``Message`` summarizes the traceback
  (the exception and the deepest frame of the inference code).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from airflow_hpt.local.hosting.deploy import DeploymentRejected, Deployments
from airflow_hpt.local.hosting.process import ModelServerError
from airflow_hpt.local.hosting.servers import Hosting
from airflow_hpt.local.hosting.tracebacks import summarize
from airflow_hpt.local.http.answer import Answer
from airflow_hpt.local.http.auth import STATUS as AUTH_STATUS
from airflow_hpt.local.http.auth import AuthError, SigV4Verifier
from airflow_hpt.local.http.errors import ACCESS_DENIED, UNKNOWN_OPERATION
from airflow_hpt.local.http.limits import BodyError
from airflow_hpt.local.http.signed import body_error, signed_body
from airflow_hpt.local.iam.actions import endpoint_arn, resource_tag_context
from airflow_hpt.local.iam.policy import Authorizer
from airflow_hpt.local.state import store as kinds

PATH_PREFIX = "/endpoints/"
INVOCATIONS_PATH = re.compile(r"/endpoints/(?P<name>[^/]+)/invocations")
# statuses in which an endpoint answers: Updating serves the previous configuration
SERVING_STATUSES = ("InService", "Updating")
# the request headers a model server sees (SageMaker strips the others)
FORWARDED_HEADERS = ("Content-Type", "Accept", "X-Amzn-SageMaker-Custom-Attributes")
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
TARGET_MODEL = "X-Amzn-SageMaker-Target-Model"
TARGET_VARIANT = "X-Amzn-SageMaker-Target-Variant"
MODEL_ERROR_STATUS = 424


class InvocationRefused(Exception):
    """A refused invocation: the runtime's error code, message, status and extra members."""

    def __init__(self, code: str, message: str, status: int = 400, **members: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.members = members


class RuntimeFront:
    """The WSGI application of the SageMaker runtime."""

    def __init__(
        self,
        deployments: Deployments,
        hosting: Hosting,
        verifier: SigV4Verifier,
        region: str,
        authorizer: Authorizer,
    ) -> None:
        self.deployments = deployments
        self.hosting = hosting
        self.verifier = verifier
        self.region = region
        self.authorizer = authorizer

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        request_id = str(uuid.uuid4())
        try:
            response = self._invoke(request)
        except InvocationRefused as error:
            response = _error(error)
        response.headers["x-amzn-RequestId"] = request_id
        return response(environ, start_response)

    def _invoke(self, request: Request) -> Response:
        try:
            body = signed_body(request, self.verifier)
        except AuthError as refused:
            raise InvocationRefused(refused.code, refused.message, AUTH_STATUS) from None
        except BodyError as refused:
            error = body_error(refused)
            raise InvocationRefused(error.code, error.message, error.status) from None
        match = INVOCATIONS_PATH.fullmatch(request.path)
        if request.method != "POST" or match is None:
            raise InvocationRefused(UNKNOWN_OPERATION, f"No operation at {request.method} {request.path}")
        name = unquote(match["name"])
        refusal = self.authorizer.refusal(
            "sagemaker:InvokeEndpoint",
            (endpoint_arn(self.region, name),),
            resource_context=lambda arn: resource_tag_context(self.deployments.store.tags_of(arn)),
        )
        if refusal is not None:
            raise InvocationRefused(ACCESS_DENIED, refusal)
        endpoint = self.deployments.invocation_target(name)
        if endpoint is None:
            raise InvocationRefused(
                "ValidationError", f"Endpoint {name} of account {kinds.ACCOUNT_ID} not found."
            )
        if endpoint["EndpointStatus"] not in SERVING_STATUSES:
            raise InvocationRefused(
                "ValidationError",
                f"Endpoint {name} of account {kinds.ACCOUNT_ID} is not in service: its status is "
                f"{endpoint['EndpointStatus']}.",
            )
        if TARGET_MODEL in request.headers:
            raise InvocationRefused(
                "ValidationError",
                f"Endpoint {name} is not a multi-model endpoint and does not support target model header.",
            )
        if TARGET_VARIANT in request.headers:
            _check_target_variant(name, endpoint, request.headers[TARGET_VARIANT])
        config_name = endpoint["EndpointConfigName"]
        headers = {key: request.headers[key] for key in FORWARDED_HEADERS if key in request.headers}
        try:
            spec, answer = self.hosting.invoke(
                name, lambda: self.deployments.serving_spec(config_name), headers, body
            )
        except DeploymentRejected as error:
            raise InvocationRefused("ValidationError", f"Endpoint {name} cannot be served: {error}") from None
        except ModelServerError as error:
            raise self._model_error(name, 0, error.message, error.message) from None
        if answer.status >= 400:
            original = answer.body.decode("utf-8", errors="replace")
            raise self._model_error(name, answer.status, summarize(original), original)
        return _success(answer, spec.variant)

    def _model_error(self, name: str, status: int, summary: str, original: str) -> InvocationRefused:
        kind = "client" if 400 <= status < 500 else "server"
        log_group = f"/aws/sagemaker/Endpoints/{name}"
        return InvocationRefused(
            "ModelError",
            f'Received {kind} error ({status}) from primary with message "{summary}". '
            f"See the model server's log ({self.hosting.root}/{name.lower()}/*/serving.log, "
            f"log group {log_group}) for more information.",
            MODEL_ERROR_STATUS,
            OriginalStatusCode=status,
            OriginalMessage=original,
            LogStreamArn=f"arn:aws:logs:{self.region}:{kinds.ACCOUNT_ID}:log-group:{log_group}",
        )


def _check_target_variant(name: str, endpoint: dict[str, Any], target: str) -> None:
    """Refuse a ``TargetVariant`` the endpoint does not have, and one it has but this backend does
    not serve (it serves the first variant only): answering from another variant's model would
    pass a test that the same call on SageMaker fails or answers differently."""
    variants = [variant["VariantName"] for variant in endpoint.get("ProductionVariants", [])]
    if target not in variants:
        raise InvocationRefused(
            "ValidationError",
            f"TargetVariant {target} is not a production variant of endpoint {name} "
            f"(its variants: {', '.join(variants) or 'none'}).",
        )
    if target != variants[0]:
        raise InvocationRefused(
            "ValidationError",
            f"TargetVariant {target}: the local backend serves only the first production variant of "
            f"an endpoint ({variants[0]} of {name}).",
        )


def _success(answer: Answer, variant: str) -> Response:
    headers = {"x-Amzn-Invoked-Production-Variant": variant}
    lowered = {key.lower(): value for key, value in answer.headers.items()}
    if CUSTOM_ATTRIBUTES.lower() in lowered:
        headers[CUSTOM_ATTRIBUTES] = lowered[CUSTOM_ATTRIBUTES.lower()]
    content_type = lowered.get("content-type", "application/octet-stream")
    return Response(answer.body, status=200, headers=headers, content_type=content_type)


def _error(error: InvocationRefused) -> Response:
    body = {"ErrorCode": error.code, "Message": error.message, "message": error.message, **error.members}
    return Response(
        json.dumps(body),
        status=error.status,
        content_type="application/json",
        headers={"x-amzn-ErrorType": error.code},
    )
