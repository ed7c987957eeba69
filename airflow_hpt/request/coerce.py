"""Coerce every leaf to its service-model type, and replace legacy spellings by wire values."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from airflow_hpt.exceptions import Problem
from airflow_hpt.request.model import describe, input_shape, member_path

if TYPE_CHECKING:
    from botocore.model import Shape

# the package's logger: users configure "airflow_hpt.request", whichever module warns
log = logging.getLogger("airflow_hpt.request")

# The old SageMaker Python SDK spellings; only the camel-case values exist on the wire.
_LEGACY_WARM_START_TYPES = {
    "IDENTICAL_DATA_AND_ALGORITHM": "IdenticalDataAndAlgorithm",
    "TRANSFER_LEARNING": "TransferLearning",
}


class NotCoercible(ValueError):
    """A scalar cannot be converted to its shape's type."""


# Plain ASCII decimals only: Python's int()/float() also take "1_000", "nan" and non-ASCII digits.
_INTEGER_TEXT = re.compile(r"\s*[-+]?[0-9]+\s*")
_DECIMAL_TEXT = re.compile(r"\s*[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\s*")


def to_integer(value: Any) -> int:
    if isinstance(value, bool):
        raise NotCoercible
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        return int(value)
    raise NotCoercible


def to_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise NotCoercible
    if isinstance(value, str) and not _DECIMAL_TEXT.fullmatch(value):
        raise NotCoercible
    number = float(value)
    if not math.isfinite(number):
        raise NotCoercible
    return number


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise NotCoercible


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    # JSON spelling: a YAML `true` static hyperparameter reaches the container as "true", not "True"
    if isinstance(value, bool):
        return "true" if value else "false"
    # str() gives the shortest round-tripping form: 0.1 -> "0.1", 20 -> "20", 5.0 -> "5.0"
    if isinstance(value, int | float) and math.isfinite(value):
        return str(value)
    raise NotCoercible


def _to_timestamp(value: Any) -> datetime | int | float:
    if isinstance(value, datetime | int | float) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise NotCoercible


_SCALARS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "integer": (to_integer, "an integer"),
    "long": (to_integer, "an integer"),
    "float": (to_float, "a finite number"),
    "double": (to_float, "a finite number"),
    "boolean": (_to_boolean, "a boolean (true or false)"),
    "string": (_to_string, "a string"),
    "timestamp": (_to_timestamp, "a timestamp (ISO 8601 or epoch seconds)"),
}


def coerce_request(request: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
    """Convert every leaf to its service-model type; report what cannot be converted.

    Needed because native Jinja rendering and YAML turn ``"42"`` into 42 and ``0.1`` into a float,
    while e.g. range bounds and static hyperparameters are strings on the wire. Values that cannot
    be converted are kept as they are; unknown members are kept for validation to report.
    """
    problems: list[Problem] = []
    coerced = _coerce(request, input_shape(), "", problems)
    if not isinstance(coerced, dict):
        return {}, problems
    return coerced, problems


def _coerce(value: Any, shape: Shape, path: str, problems: list[Problem]) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return _coerce_structure(value, shape, path, problems)
    if kind == "list":
        if not isinstance(value, list | tuple):
            problems.append(Problem(path, f"must be a list (got {describe(value)})"))
            return value
        return [_coerce(item, shape.member, f"{path}[{i}]", problems) for i, item in enumerate(value)]
    if kind == "map":
        return _coerce_map(value, shape, path, problems)
    if kind not in _SCALARS:
        return value
    convert, expected = _SCALARS[kind]
    try:
        return convert(value)
    except NotCoercible:
        problems.append(Problem(path, f"must be {expected} (got {describe(value)})"))
        return value


def _coerce_structure(value: Any, shape: Shape, path: str, problems: list[Problem]) -> Any:
    if not isinstance(value, Mapping):
        problems.append(Problem(path, f"must be an object ({shape.name}) (got {describe(value)})"))
        return value
    members = shape.members
    return {
        key: _coerce(item, members[key], member_path(path, key), problems) if key in members else item
        for key, item in value.items()
    }


def _coerce_map(value: Any, shape: Shape, path: str, problems: list[Problem]) -> Any:
    if not isinstance(value, Mapping):
        problems.append(Problem(path, f"must be an object of {shape.name} (got {describe(value)})"))
        return value
    result: dict[Any, Any] = {}
    for key, item in value.items():
        # a YAML key like `1:` arrives as an int; map keys are strings on the wire
        new_key = _coerce(key, shape.key, member_path(path, key), problems)
        result[new_key] = _coerce(item, shape.value, member_path(path, new_key), problems)
    return result


# --------------------------------------------------------------------------------------------------
# Legacy spellings


def normalize_legacy(request: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy with old SDK spellings replaced by wire values (WarmStartConfig.WarmStartType)."""
    normalized = dict(request)
    warm_start = normalized.get("WarmStartConfig")
    if isinstance(warm_start, Mapping):
        legacy = warm_start.get("WarmStartType")
        wire = _LEGACY_WARM_START_TYPES.get(legacy) if isinstance(legacy, str) else None
        if wire is not None:
            log.warning("WarmStartConfig.WarmStartType %r is the old SDK spelling; using %r", legacy, wire)
            normalized["WarmStartConfig"] = {**warm_start, "WarmStartType": wire}
    return normalized
