"""Request bodies of the JSON protocols, checked before any handler sees them.

A body is parsed with NaN and Infinity refused and its nesting bounded (``MAX_DEPTH``; Python's
parser would raise ``RecursionError`` at about a thousand), then every member is type-checked
against botocore's service model as the service's deserializer does: a string is a JSON string, an
integer a JSON integer, a timestamp a number (epoch seconds), a list an array, a map an object of
strings to values, a blob a base64 string. Constraints (required, lengths, patterns, enums) are
:func:`airflow_hpt.request.validate.operation_problems`'s; this module makes sure they and the
handlers get the types they expect.
"""

from __future__ import annotations

import binascii
import json
import math
from collections.abc import Iterator
from typing import Any

from botocore.model import Shape

from airflow_hpt.exceptions import Problem
from airflow_hpt.local.http.errors import SERIALIZATION, ApiError
from airflow_hpt.request.model import member_path

# deeper than any SageMaker, Logs or CloudWatch request this backend serves
MAX_DEPTH = 64


class WireError(ValueError):
    """A body that is not a JSON object of finite numbers, nested at most ``MAX_DEPTH`` deep."""


def _refuse_constant(name: str) -> Any:
    raise WireError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise WireError(f"{text[:20]} is out of range for a number")
    return number


def load_json_object(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object without null members (:func:`without_nulls`; an empty body
    is ``{}``); :class:`WireError` otherwise."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:
        raise WireError(f"the body is nested more than {MAX_DEPTH} deep") from None
    except WireError:
        raise
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, integers too long
        raise WireError(str(error)) from None
    if not isinstance(value, dict):
        raise WireError("the request body must be a JSON object")
    if depth(value) > MAX_DEPTH:
        raise WireError(f"the body is nested more than {MAX_DEPTH} deep")
    return without_nulls(value)


def without_nulls(value: Any) -> Any:
    """``value`` without the object members that are ``null``: a null member is an absent one, as
    the services' deserializers take it (a required one is then missing, not ``None`` in a handler)."""
    if isinstance(value, dict):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """:func:`load_json_object`, refused as the awsJson protocols refuse a
    body (SerializationException)."""
    try:
        return load_json_object(raw)
    except WireError as error:
        raise ApiError(SERIALIZATION, f"Malformed request body: {error}") from None


def depth(value: Any) -> int:
    """How deep arrays and objects nest in ``value`` (a scalar: 0), without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if level <= MAX_DEPTH:
            stack.extend((child, level + 1) for child in children)
    return deepest


_EXPECTED = {
    "structure": "an object",
    "list": "an array",
    "map": "an object",
    "string": "a string",
    "integer": "an integer",
    "long": "an integer",
    "float": "a number",
    "double": "a number",
    "boolean": "true or false",
    "timestamp": "a number of seconds since the epoch",
    "blob": "a base64 string",
}


def type_problems(value: Any, shape: Shape, path: str = "") -> Iterator[Problem]:
    """Every member of ``value`` whose JSON type is not its ``shape``'s (unknown members are left
    to the model's constraints)."""
    if not _has_type(value, shape.type_name):
        where = path or "the request body"
        yield Problem(
            where, f"must be {_EXPECTED.get(shape.type_name, shape.type_name)} (got {_kind(value)})"
        )
        return
    kind = shape.type_name
    if kind == "structure":
        members = shape.members
        for name, item in value.items():
            if name in members and item is not None:
                yield from type_problems(item, members[name], member_path(path, name))
    elif kind == "list":
        for index, item in enumerate(value):
            yield from type_problems(item, shape.member, f"{path}[{index}]")
    elif kind == "map":
        for key, item in value.items():
            yield from type_problems(item, shape.value, member_path(path, key))


def _has_type(value: Any, kind: str) -> bool:
    if kind in ("structure", "map"):
        return isinstance(value, dict)
    if kind == "list":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind in ("integer", "long"):
        return isinstance(value, int)
    if kind in ("float", "double", "timestamp"):
        return isinstance(value, int | float) and math.isfinite(value)
    if kind == "blob":
        return isinstance(value, str) and _is_base64(value)
    return True


def _is_base64(text: str) -> bool:
    try:
        binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        return False
    return True


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def type_error(problems: list[Problem], operation: str) -> ApiError:
    """The awsJson protocols' answer to members of the wrong type."""
    listed = "; ".join(f"{problem.path} {problem.rule}" for problem in problems[:10])
    more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
    return ApiError(SERIALIZATION, f"Invalid {operation} request: {listed}{more}")
