"""The local backend's API errors: an AWS error code, its message and the HTTP status."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

Body = dict[str, Any]

# The error codes the backend answers with, named once. SageMaker's own (botocore's service model
# models ResourceNotFound, ResourceInUse and ResourceLimitExceeded), then the common errors of AWS's
# JSON protocols, which CloudWatch Logs and the SageMaker runtime answer with too.
RESOURCE_NOT_FOUND = "ResourceNotFound"
RESOURCE_IN_USE = "ResourceInUse"
RESOURCE_LIMIT_EXCEEDED = "ResourceLimitExceeded"
VALIDATION = "ValidationException"
ACCESS_DENIED = "AccessDeniedException"
UNKNOWN_OPERATION = "UnknownOperationException"
SERIALIZATION = "SerializationException"
THROTTLING = "ThrottlingException"
INTERNAL_FAILURE = "InternalFailure"


class ApiError(Exception):
    """A failed call: an AWS error code, its message and the HTTP status to answer with."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def validation(message: str) -> ApiError:
    return ApiError(VALIDATION, message)


def not_found(what: str, name: str) -> ApiError:
    return ApiError(RESOURCE_NOT_FOUND, f"Amazon SageMaker can't find a {what} with name {name}")


def required(body: Body, member: str) -> str:
    value = body.get(member)
    if not isinstance(value, str) or not value:
        raise validation(
            f"1 validation error detected: Value at '{member}' failed to satisfy constraint: "
            "Member must not be null"
        )
    return value


@contextmanager
def value_errors_refused() -> Iterator[None]:
    """A ValueError inside (a job that ended or cannot stop meanwhile) answered as a ValidationException."""
    try:
        yield
    except ValueError as error:
        raise validation(str(error)) from None
