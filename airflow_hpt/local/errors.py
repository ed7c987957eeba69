"""The local backend's API errors: an AWS error code, its message and the HTTP status."""

from __future__ import annotations

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
