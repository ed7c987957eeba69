"""Validate a request against the service model and the cross-field rules; fingerprint it."""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any

from airflow_hpt.exceptions import VALIDATION_MODES, InvalidTuningRequest, Problem, Validation
from airflow_hpt.request.coerce import coerce_request, normalize_legacy
from airflow_hpt.request.model import (
    compiled,
    describe,
    input_shape,
    is_number,
    member_path,
    operation_input_shape,
)
from airflow_hpt.request.rules import cross_field_problems

if TYPE_CHECKING:
    from botocore.model import Shape

# Tags with this key prefix are added by the operator itself; they must not change the fingerprint.
INTERNAL_TAG_PREFIX = "airflow-hpt:"
# Longer enums (instance types: hundreds of values) are summarised with a close match instead.
_ENUM_LISTING_LIMIT = 12


def check_request(
    request: Mapping[str, Any], *, require_name: bool = True, target_is_aws: bool = False
) -> tuple[dict[str, Any], list[Problem]]:
    """Coerce and normalize; return the normalized request and ALL problems, refusals and warnings.

    ``require_name=False`` lets the operator validate before it derives the job name.
    ``target_is_aws`` adds the rules that hold only when the request goes to AWS itself (not to an
    ``endpoint_url`` such as the local backend): the training code must come from S3.
    """
    coerced, problems = coerce_request(request)
    normalized = normalize_legacy(coerced)
    skip_required = set() if require_name else {"HyperParameterTuningJobName"}
    problems.extend(_check(normalized, input_shape(), "", skip_required))
    problems.extend(cross_field_problems(normalized, target_is_aws=target_is_aws))
    return normalized, problems


def refusals(problems: list[Problem], validation: Validation) -> list[Problem]:
    """The problems that fail the request: the refusals in ``strict`` mode, none in ``warn`` mode."""
    if validation not in VALIDATION_MODES:
        raise ValueError(f"validation must be one of {', '.join(VALIDATION_MODES)}, got {validation!r}")
    return [p for p in problems if p.severity == "refusal"] if validation == "strict" else []


def validate_request(
    request: Mapping[str, Any], *, require_name: bool = True, target_is_aws: bool = False
) -> dict[str, Any]:
    """Coerce, normalize and validate; return the normalized request or raise with ALL problems,
    warnings included.

    For a check that wants no doubt at all (a template's own CI, say). The operator, the CLI and
    the local backend use :func:`check_request` and :func:`refusals`, which fail on refusals only.
    """
    normalized, problems = check_request(request, require_name=require_name, target_is_aws=target_is_aws)
    if problems:
        raise InvalidTuningRequest(problems)
    return normalized


def operation_problems(request: Mapping[str, Any], operation: str) -> list[Problem]:
    """What the service model's constraints (required, min/max, pattern, enum, unknown members)
    refuse in a request of ``operation`` as it came over the wire (already typed by botocore)."""
    return list(_check(request, operation_input_shape(operation), ""))


def _check(
    value: Any, shape: Shape, path: str, skip_required: AbstractSet[str] = frozenset()
) -> Iterator[Problem]:
    """Model constraints; wrong types were reported by coercion and are skipped here."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        yield from _check_structure(value, shape, path, skip_required)
    elif kind == "list" and isinstance(value, list | tuple):
        yield from _check_size(len(value), shape, path, ("item", "items"))
        for i, item in enumerate(value):
            yield from _check(item, shape.member, f"{path}[{i}]")
    elif kind == "map" and isinstance(value, Mapping):
        yield from _check_size(len(value), shape, path, ("entry", "entries"))
        for key, item in value.items():
            key_path = member_path(path, key)
            yield from (Problem(key_path, f"key {p.rule}") for p in _check(key, shape.key, key_path))
            yield from _check(item, shape.value, key_path)
    elif kind == "string" and isinstance(value, str):
        yield from _check_string(value, shape, path)
    elif kind in ("integer", "long", "float", "double") and is_number(value):
        yield from _check_number(value, shape, path)


def _check_structure(
    value: Mapping[str, Any], shape: Shape, path: str, skip_required: AbstractSet[str]
) -> Iterator[Problem]:
    members = shape.members
    for name in shape.required_members:
        if name not in value and member_path(path, name) not in skip_required:
            yield Problem(member_path(path, name), "is required")
    for key, item in value.items():
        if key in members:
            yield from _check(item, members[key], member_path(path, key))
        else:
            yield Problem(member_path(path, key), _unknown_member_rule(key, shape))


def _unknown_member_rule(key: object, shape: Shape) -> str:
    rule = f"is not a known member of {shape.name}"
    close = difflib.get_close_matches(str(key), list(shape.members), n=1)
    return f"{rule} (did you mean {close[0]}?)" if close else rule


def _check_size(size: int, shape: Shape, path: str, units: tuple[str, str]) -> Iterator[Problem]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        yield Problem(path, f"must have at least {low} {units[low != 1]} (has {size})")
    if high is not None and size > high:
        yield Problem(path, f"must have at most {high} {units[high != 1]} (has {size})")


def _check_string(value: str, shape: Shape, path: str) -> Iterator[Problem]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and len(value) < low:
        yield Problem(
            path, f"must be at least {low} character{'s' if low != 1 else ''} long (is {len(value)})"
        )
    if high is not None and len(value) > high:
        yield Problem(path, f"must be at most {high} characters (is {len(value)})")
    enum = shape.enum
    if enum and value not in enum:
        yield Problem(path, _enum_rule(value, enum, shape.name))
    pattern = shape.metadata.get("pattern")
    # Java regex semantics: the whole value must match, hence fullmatch
    if pattern is not None and compiled(pattern).fullmatch(value) is None:
        yield Problem(path, f"must match pattern {pattern} (got {describe(value)})")


def _enum_rule(value: str, enum: list[str], shape_name: str) -> str:
    if len(enum) <= _ENUM_LISTING_LIMIT:
        return f"must be one of: {', '.join(enum)} (got {describe(value)})"
    close = difflib.get_close_matches(value, enum, n=1)
    hint = f"; closest: {close[0]}" if close else ""
    return f"must be one of the {len(enum)} {shape_name} values (got {describe(value)}{hint})"


def _check_number(value: float, shape: Shape, path: str) -> Iterator[Problem]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        yield Problem(path, f"must be at least {low} (got {value})")
    if high is not None and value > high:
        yield Problem(path, f"must be at most {high} (got {value})")


def fingerprint(request: Mapping[str, Any]) -> str:
    """First 16 hex chars of the sha256 of the canonical JSON of the normalized request.

    Tags whose key starts with ``airflow-hpt:`` are left out: the operator adds them, so a retry
    of the same rendered request gets the same fingerprint.
    """
    coerced, _problems = coerce_request(request)
    normalized = normalize_legacy(coerced)
    tags = normalized.get("Tags")
    if isinstance(tags, list):
        kept = [tag for tag in tags if not _is_internal_tag(tag)]
        # no tags and only internal tags must hash alike: the operator may add the Tags member itself
        if kept:
            normalized["Tags"] = kept
        else:
            del normalized["Tags"]
    canonical = json.dumps(normalized, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _is_internal_tag(tag: Any) -> bool:
    return isinstance(tag, Mapping) and str(tag.get("Key", "")).startswith(INTERNAL_TAG_PREFIX)
