"""The local backend's API errors: an AWS error code, its message and the HTTP status."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

Body = dict[str, Any]


class ApiError(Exception):
    """A failed call: an AWS error code, its message and the HTTP status to answer with."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def validation(message: str) -> ApiError:
    return ApiError("ValidationException", message)


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
