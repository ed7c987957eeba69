"""Cross-field rules on parameter ranges (the model cannot express them)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from airflow_hpt.exceptions import Problem
from airflow_hpt.request.coerce import NotCoercible, to_float, to_integer
from airflow_hpt.request.evidence import problem
from airflow_hpt.request.model import items, mapping

MAX_RANGES = 30

RANGE_KINDS = ("IntegerParameterRanges", "ContinuousParameterRanges", "CategoricalParameterRanges")


def range_sets(
    config: Mapping[str, Any], definitions: list[tuple[str, Mapping[str, Any]]]
) -> Iterator[tuple[str, Mapping[str, Any], Mapping[str, Any]]]:
    """(path, ranges, static hyperparameters) for every ParameterRanges object of the request."""
    single = dict(definitions).get("TrainingJobDefinition", {})
    if isinstance(config.get("ParameterRanges"), Mapping):
        static = mapping(single.get("StaticHyperParameters"))
        yield "HyperParameterTuningJobConfig.ParameterRanges", config["ParameterRanges"], static
    for path, definition in definitions:
        if isinstance(definition.get("HyperParameterRanges"), Mapping):
            static = mapping(definition.get("StaticHyperParameters"))
            yield f"{path}.HyperParameterRanges", definition["HyperParameterRanges"], static


def range_set_problems(path: str, ranges: Mapping[str, Any], static: Mapping[str, Any]) -> Iterator[Problem]:
    total = sum(len(items(ranges.get(kind))) for kind in RANGE_KINDS)
    if total > MAX_RANGES:
        yield problem(
            "range-count-limit",
            path,
            f"must have at most {MAX_RANGES} parameter ranges in total "
            f"(integer + continuous + categorical), has {total}",
        )
    yield from _range_name_problems(path, ranges, static)
    for i, entry in items(ranges.get("IntegerParameterRanges")):
        yield from _bounds_problems(f"{path}.IntegerParameterRanges[{i}]", entry, integer=True)
    for i, entry in items(ranges.get("ContinuousParameterRanges")):
        yield from _bounds_problems(f"{path}.ContinuousParameterRanges[{i}]", entry, integer=False)
    for i, entry in items(ranges.get("CategoricalParameterRanges")):
        yield from _duplicate_value_problems(
            f"{path}.CategoricalParameterRanges[{i}].Values", entry.get("Values")
        )


def _range_name_problems(
    path: str, ranges: Mapping[str, Any], static: Mapping[str, Any]
) -> Iterator[Problem]:
    seen: dict[str, str] = {}
    for kind in RANGE_KINDS:
        for i, entry in items(ranges.get(kind)):
            name, name_path = entry.get("Name"), f"{path}.{kind}[{i}].Name"
            if not isinstance(name, str):
                continue
            if name in seen:
                yield problem(
                    "range-name-unique",
                    name_path,
                    f"duplicates parameter name {name!r} (also at {seen[name]})",
                )
            seen.setdefault(name, name_path)
            if name in static:
                yield problem(
                    "range-not-static",
                    name_path,
                    f"{name!r} is also a static hyperparameter: a parameter is either tuned or static",
                )


def _bounds_problems(path: str, entry: Mapping[str, Any], *, integer: bool) -> Iterator[Problem]:
    parse, expected = (to_integer, "an integer") if integer else (to_float, "a finite number")
    bounds: dict[str, float] = {}
    for member in ("MinValue", "MaxValue"):
        raw = entry.get(member)
        if not isinstance(raw, str):
            continue  # missing or wrongly typed: already reported
        try:
            bounds[member] = parse(raw)
        except NotCoercible:
            yield problem(
                "range-bounds-numeric",
                f"{path}.{member}",
                f"must be {expected} written as a string (got {raw!r})",
            )
    low, high = bounds.get("MinValue"), bounds.get("MaxValue")
    if low is not None and high is not None and not low < high:
        yield problem(
            "range-min-below-max", f"{path}.MaxValue", f"must be greater than MinValue ({entry['MinValue']})"
        )
    yield from _scaling_problems(path, entry.get("ScalingType"), low, high, integer=integer)


def _scaling_problems(
    path: str, scaling: Any, low: float | None, high: float | None, *, integer: bool
) -> Iterator[Problem]:
    if scaling == "Logarithmic" and low is not None and low <= 0:
        yield problem(
            "logarithmic-positive", f"{path}.MinValue", "must be greater than 0 with Logarithmic scaling"
        )
    if scaling != "ReverseLogarithmic":
        return
    if integer:
        yield problem(
            "reverse-logarithmic-continuous",
            f"{path}.ScalingType",
            "ReverseLogarithmic applies only to continuous ranges",
        )
        return
    if low is not None and low < 0:
        yield problem(
            "reverse-logarithmic-continuous",
            f"{path}.MinValue",
            "must be at least 0 with ReverseLogarithmic scaling (0 <= x < 1)",
        )
    if high is not None and high >= 1:
        yield problem(
            "reverse-logarithmic-continuous",
            f"{path}.MaxValue",
            "must be less than 1 with ReverseLogarithmic scaling (0 <= x < 1)",
        )


def _duplicate_value_problems(path: str, values: Any) -> Iterator[Problem]:
    if not isinstance(values, list | tuple):
        return
    seen: set[Any] = set()
    for j, value in enumerate(values):
        if isinstance(value, str) and value in seen:
            yield problem(
                "categorical-values-unique", f"{path}[{j}]", f"duplicates categorical value {value!r}"
            )
        seen.add(value)
