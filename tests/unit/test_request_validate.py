"""Coercion, legacy spellings, validation of a good request, fingerprints."""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_hpt.exceptions import InvalidTuningRequest, Problem
from airflow_hpt.request import (
    coerce_request,
    fingerprint,
    normalize_legacy,
    validate_request,
)

BASE = json.loads((Path(__file__).parent / "corpus" / "base_request.json").read_text())


@pytest.fixture
def request_() -> dict[str, Any]:
    return copy.deepcopy(BASE)


def test_valid_request_passes_and_is_returned_as_a_new_dict(request_: dict[str, Any]) -> None:
    result = validate_request(request_)
    assert result == BASE
    assert result is not request_
    assert request_ == BASE  # input untouched


def test_module_imports_without_airflow_or_botocore() -> None:
    code = "import sys, airflow_hpt.request; print('airflow' in sys.modules, 'botocore' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# ---- coercion


def test_native_rendering_types_are_coerced_to_the_model(request_: dict[str, Any]) -> None:
    config = request_["HyperParameterTuningJobConfig"]
    config["ResourceLimits"] = {"MaxNumberOfTrainingJobs": "20", "MaxParallelTrainingJobs": 2.0}
    config["ParameterRanges"]["IntegerParameterRanges"][0].update(MinValue=3, MaxValue=10)
    config["ParameterRanges"]["ContinuousParameterRanges"][0].update(MinValue=0.01, MaxValue=0.5)
    config["ParameterRanges"]["CategoricalParameterRanges"][0]["Values"] = [1, 2.5, True]
    definition = request_["TrainingJobDefinition"]
    definition["StaticHyperParameters"] = {"num_round": 100, "eta": 0.1, "gamma": 5.0, "verbose": False}
    definition["EnableNetworkIsolation"] = "TRUE"
    definition["ResourceConfig"]["InstanceCount"] = "1"
    definition["InputDataConfig"][0]["ShuffleConfig"] = {"Seed": "12345678901234"}

    coerced, problems = coerce_request(request_)

    assert problems == []
    config = coerced["HyperParameterTuningJobConfig"]
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 20, "MaxParallelTrainingJobs": 2}
    assert type(config["ResourceLimits"]["MaxParallelTrainingJobs"]) is int
    ranges = config["ParameterRanges"]
    assert ranges["IntegerParameterRanges"][0]["MinValue"] == "3"
    assert ranges["ContinuousParameterRanges"][0]["MinValue"] == "0.01"
    assert ranges["CategoricalParameterRanges"][0]["Values"] == ["1", "2.5", "true"]
    definition = coerced["TrainingJobDefinition"]
    assert definition["StaticHyperParameters"] == {
        "num_round": "100",
        "eta": "0.1",
        "gamma": "5.0",
        "verbose": "false",
    }
    assert definition["EnableNetworkIsolation"] is True
    assert definition["ResourceConfig"]["InstanceCount"] == 1
    assert definition["InputDataConfig"][0]["ShuffleConfig"]["Seed"] == 12345678901234


@pytest.mark.parametrize(
    ("value", "expected"),
    [("20", 20), (" 7 ", 7), (20.0, 20), (20, 20), ("-3", -3)],
)
def test_integer_coercion(request_: dict[str, Any], value: Any, expected: int) -> None:
    request_["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxParallelTrainingJobs"] = value
    coerced, problems = coerce_request(request_)
    assert problems == []
    assert coerced["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxParallelTrainingJobs"] == expected


@pytest.mark.parametrize("value", ["20.5", 20.5, True, "twenty", None, [2], ""])
def test_integer_not_coercible_is_kept_and_reported(request_: dict[str, Any], value: Any) -> None:
    request_["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxParallelTrainingJobs"] = value
    coerced, problems = coerce_request(request_)
    assert coerced["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxParallelTrainingJobs"] == value
    assert len(problems) == 1
    assert problems[0].path == "HyperParameterTuningJobConfig.ResourceLimits.MaxParallelTrainingJobs"
    assert problems[0].rule.startswith("must be an integer (got ")


@pytest.mark.parametrize(
    ("value", "expected"), [(True, True), ("true", True), ("False", False), (" TRUE ", True), (False, False)]
)
def test_boolean_coercion(request_: dict[str, Any], value: Any, expected: bool) -> None:
    request_["TrainingJobDefinition"]["EnableNetworkIsolation"] = value
    coerced, problems = coerce_request(request_)
    assert problems == []
    assert coerced["TrainingJobDefinition"]["EnableNetworkIsolation"] is expected


@pytest.mark.parametrize("value", ["yes", 1, 0, "", None])
def test_boolean_not_coercible(request_: dict[str, Any], value: Any) -> None:
    request_["TrainingJobDefinition"]["EnableNetworkIsolation"] = value
    _coerced, problems = coerce_request(request_)
    assert problems == [
        Problem(
            "TrainingJobDefinition.EnableNetworkIsolation",
            f"must be a boolean (true or false) (got {'null' if value is None else repr(value)})",
        )
    ]


@pytest.mark.parametrize(("value", "expected"), [("1.5", 1.5), (2, 2.0), (0.25, 0.25), ("1e-3", 0.001)])
def test_float_coercion(request_: dict[str, Any], value: Any, expected: float) -> None:
    criteria = {"TargetObjectiveMetricValue": value}
    request_["HyperParameterTuningJobConfig"]["TuningJobCompletionCriteria"] = criteria
    coerced, problems = coerce_request(request_)
    assert problems == []
    got = coerced["HyperParameterTuningJobConfig"]["TuningJobCompletionCriteria"][
        "TargetObjectiveMetricValue"
    ]
    assert got == expected
    assert type(got) is float


@pytest.mark.parametrize("value", ["nan", "inf", True, "high"])
def test_float_not_coercible(request_: dict[str, Any], value: Any) -> None:
    criteria = {"TargetObjectiveMetricValue": value}
    request_["HyperParameterTuningJobConfig"]["TuningJobCompletionCriteria"] = criteria
    _coerced, problems = coerce_request(request_)
    assert [p.path for p in problems] == [
        "HyperParameterTuningJobConfig.TuningJobCompletionCriteria.TargetObjectiveMetricValue"
    ]
    assert "must be a finite number" in problems[0].rule


def test_string_from_numbers_uses_str(request_: dict[str, Any]) -> None:
    request_["TrainingJobDefinition"]["StaticHyperParameters"] = {
        "a": 0.1,
        "b": 20,
        "c": 5.0,
        "d": 1e-5,
        "e": True,
    }
    coerced, _ = coerce_request(request_)
    assert coerced["TrainingJobDefinition"]["StaticHyperParameters"] == {
        "a": "0.1",
        "b": "20",
        "c": "5.0",
        "d": "1e-05",
        "e": "true",
    }


def test_map_keys_are_coerced_to_strings(request_: dict[str, Any]) -> None:
    request_["TrainingJobDefinition"]["StaticHyperParameters"] = {1: 2}
    coerced, problems = coerce_request(request_)
    assert problems == []
    assert coerced["TrainingJobDefinition"]["StaticHyperParameters"] == {"1": "2"}


def test_unknown_members_are_kept_by_coercion(request_: dict[str, Any]) -> None:
    request_["HyperParameterTuningJobConfig"]["Stratgy"] = 3
    coerced, problems = coerce_request(request_)
    assert problems == []
    assert coerced["HyperParameterTuningJobConfig"]["Stratgy"] == 3


def test_wrong_container_types_are_reported(request_: dict[str, Any]) -> None:
    request_["Tags"] = {"team": "x"}
    request_["TrainingJobDefinition"]["StaticHyperParameters"] = ["a"]
    request_["TrainingJobDefinition"]["OutputDataConfig"] = "s3://bucket/out"
    _coerced, problems = coerce_request(request_)
    assert {p.path: p.rule.split(" (got")[0] for p in problems} == {
        "Tags": "must be a list",
        "TrainingJobDefinition.StaticHyperParameters": "must be an object of HyperParameters",
        "TrainingJobDefinition.OutputDataConfig": "must be an object (OutputDataConfig)",
    }


def test_coercion_problems_are_part_of_validation(request_: dict[str, Any]) -> None:
    request_["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxParallelTrainingJobs"] = "two"
    request_["HyperParameterTuningJobConfig"]["Strategy"] = "Genetic"
    with pytest.raises(InvalidTuningRequest) as info:
        validate_request(request_)
    assert [p.path for p in info.value.problems] == [
        "HyperParameterTuningJobConfig.ResourceLimits.MaxParallelTrainingJobs",
        "HyperParameterTuningJobConfig.Strategy",
    ]


def test_validate_returns_coerced_values(request_: dict[str, Any]) -> None:
    request_["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = "20"
    request_["TrainingJobDefinition"]["StaticHyperParameters"]["num_round"] = 100
    result = validate_request(request_)
    assert result == BASE


# ---- legacy spellings


@pytest.mark.parametrize(
    ("legacy", "wire"),
    [
        ("IDENTICAL_DATA_AND_ALGORITHM", "IdenticalDataAndAlgorithm"),
        ("TRANSFER_LEARNING", "TransferLearning"),
    ],
)
def test_legacy_warm_start_type_is_normalized_with_a_warning(
    request_: dict[str, Any], caplog: pytest.LogCaptureFixture, legacy: str, wire: str
) -> None:
    request_["WarmStartConfig"]["WarmStartType"] = legacy
    with caplog.at_level(logging.WARNING, logger="airflow_hpt.request"):
        result = validate_request(request_)
    assert result["WarmStartConfig"]["WarmStartType"] == wire
    assert request_["WarmStartConfig"]["WarmStartType"] == legacy  # the caller's dict is not modified
    assert any(legacy in r.getMessage() and wire in r.getMessage() for r in caplog.records)


def test_normalize_legacy_leaves_wire_values_alone(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert normalize_legacy(BASE) == BASE
    assert caplog.records == []


def test_unknown_warm_start_type_lists_wire_values(request_: dict[str, Any]) -> None:
    request_["WarmStartConfig"]["WarmStartType"] = "identical_data"
    with pytest.raises(InvalidTuningRequest) as info:
        validate_request(request_)
    assert info.value.problems == [
        Problem(
            "WarmStartConfig.WarmStartType",
            "must be one of: IdenticalDataAndAlgorithm, TransferLearning (got 'identical_data')",
        )
    ]


# ---- names


def test_require_name_false_allows_a_missing_name(request_: dict[str, Any]) -> None:
    del request_["HyperParameterTuningJobName"]
    assert "HyperParameterTuningJobName" not in validate_request(request_, require_name=False)
    with pytest.raises(InvalidTuningRequest) as info:
        validate_request(request_)
    assert info.value.problems == [Problem("HyperParameterTuningJobName", "is required")]


def test_require_name_false_still_checks_a_given_name(request_: dict[str, Any]) -> None:
    request_["HyperParameterTuningJobName"] = "bad_name"
    with pytest.raises(InvalidTuningRequest, match="HyperParameterTuningJobName: must match pattern"):
        validate_request(request_, require_name=False)


def test_error_message_lists_every_problem(request_: dict[str, Any]) -> None:
    request_["HyperParameterTuningJobName"] = "x" * 40
    request_["Tags"][0]["Key"] = "aws:owner"
    with pytest.raises(InvalidTuningRequest) as info:
        validate_request(request_)
    message = str(info.value)
    assert message.startswith("Invalid tuning request (3 problem(s)):")
    assert "  - HyperParameterTuningJobName: must be at most 32 characters (is 40)" in message
    assert "  - Tags[0].Key: must not start with 'aws:'" in message
    assert isinstance(info.value, ValueError)


# ---- the model


def test_every_pattern_of_the_model_compiles() -> None:
    import regex

    from airflow_hpt.request.model import input_shape

    patterns: set[str] = set()
    seen: set[str] = set()

    def walk(shape: Any) -> None:
        if shape.name in seen:
            return
        seen.add(shape.name)
        if "pattern" in shape.metadata:
            patterns.add(shape.metadata["pattern"])
        children = {
            "structure": lambda: list(shape.members.values()),
            "list": lambda: [shape.member],
            "map": lambda: [shape.key, shape.value],
        }.get(shape.type_name, list)()
        for child in children:
            walk(child)

    walk(input_shape())
    assert len(patterns) > 10
    for pattern in patterns:
        regex.compile(pattern)


@pytest.mark.parametrize("key", ["team", "Équipe", "名前", "cost center", "a.b:c/d=e+f-g@h_i"])
def test_tag_pattern_accepts_unicode_letters_and_separators(request_: dict[str, Any], key: str) -> None:
    request_["Tags"] = [{"Key": key, "Value": key}]
    validate_request(request_)


# ---- fingerprint


def test_fingerprint_is_stable_and_short() -> None:
    value = fingerprint(BASE)
    assert len(value) == 16
    assert int(value, 16) >= 0
    assert fingerprint(copy.deepcopy(BASE)) == value


def test_fingerprint_ignores_key_order_types_and_legacy_spelling(request_: dict[str, Any]) -> None:
    reordered = json.loads(json.dumps(request_, sort_keys=True))
    reordered["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = "20"
    reordered["TrainingJobDefinition"]["StaticHyperParameters"]["num_round"] = 100
    reordered["WarmStartConfig"]["WarmStartType"] = "IDENTICAL_DATA_AND_ALGORITHM"
    assert fingerprint(reordered) == fingerprint(BASE)


def test_fingerprint_ignores_operator_tags(request_: dict[str, Any]) -> None:
    tagged = copy.deepcopy(request_)
    tagged["Tags"].append({"Key": "airflow-hpt:dag-run", "Value": "manual__2024"})
    assert fingerprint(tagged) == fingerprint(request_)
    del request_["Tags"]
    only_internal = copy.deepcopy(request_)
    only_internal["Tags"] = [{"Key": "airflow-hpt:try", "Value": "2"}]
    assert fingerprint(only_internal) == fingerprint(request_)


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r["Tags"].append({"Key": "owner", "Value": "me"}),
        lambda r: r["HyperParameterTuningJobConfig"].update(Strategy="Random"),
        lambda r: r["TrainingJobDefinition"]["StaticHyperParameters"].update(num_round="101"),
        lambda r: r.update(HyperParameterTuningJobName="xgb-weekly-2024-01-08"),
    ],
)
def test_fingerprint_changes_with_the_request(request_: dict[str, Any], change: Any) -> None:
    change(request_)
    assert fingerprint(request_) != fingerprint(BASE)


@pytest.mark.parametrize("value", ["1_000", "\u0663", "0x10", "1e3", "", " "])
def test_integers_are_plain_ascii_decimals(request_: dict[str, Any], value: str) -> None:
    request_["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = value
    _coerced, problems = coerce_request(request_)
    assert [p.path for p in problems] == [
        "HyperParameterTuningJobConfig.ResourceLimits.MaxNumberOfTrainingJobs"
    ]


@pytest.mark.parametrize("value", ["1_0.5", "\u0663.5", "0x1p3", "1e999", "-inf", "."])
def test_floats_are_plain_ascii_decimals(request_: dict[str, Any], value: str) -> None:
    request_["HyperParameterTuningJobConfig"]["TuningJobCompletionCriteria"] = {
        "TargetObjectiveMetricValue": value
    }
    _coerced, problems = coerce_request(request_)
    assert len(problems) == 1


def test_range_bounds_are_parsed_as_plain_decimals(request_: dict[str, Any]) -> None:
    ranges = request_["HyperParameterTuningJobConfig"]["ParameterRanges"]
    ranges["IntegerParameterRanges"][0]["MaxValue"] = "1_0"
    with pytest.raises(InvalidTuningRequest) as info:
        validate_request(request_)
    assert [str(p) for p in info.value.problems] == [
        "HyperParameterTuningJobConfig.ParameterRanges.IntegerParameterRanges[0].MaxValue: "
        "must be an integer written as a string (got '1_0')"
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-01T12:00:00", datetime(2024, 1, 1, 12)),
        (datetime(2024, 1, 1), datetime(2024, 1, 1)),
        (1704067200, 1704067200),
    ],
)
def test_timestamp_shapes_accept_iso_strings_datetimes_and_epochs(value: Any, expected: Any) -> None:
    """No member of this operation is a timestamp today; the model may add one."""
    from botocore.model import Shape

    from airflow_hpt.request.coerce import _coerce

    problems: list[Problem] = []
    assert _coerce(value, Shape("T", {"type": "timestamp"}), "T", problems) == expected
    assert problems == []
    _coerce("next tuesday", Shape("T", {"type": "timestamp"}), "T", problems)
    assert problems == [Problem("T", "must be a timestamp (ISO 8601 or epoch seconds) (got 'next tuesday')")]


def test_sagemaker_defaults_fill_only_what_is_omitted(request_: dict[str, Any]) -> None:
    from airflow_hpt.request import DEFAULT_MAX_RUNTIME_SECONDS, with_sagemaker_defaults

    assert DEFAULT_MAX_RUNTIME_SECONDS == 24 * 3600  # "The default value is 1 day."
    assert with_sagemaker_defaults(request_) == request_  # given: kept
    del request_["TrainingJobDefinition"]["StoppingCondition"]["MaxRuntimeInSeconds"]
    before = copy.deepcopy(request_)
    defaulted = with_sagemaker_defaults(request_)
    assert defaulted["TrainingJobDefinition"]["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
    assert request_ == before  # the caller's dict is not modified
    multi = {**before, "TrainingJobDefinitions": [before["TrainingJobDefinition"]] * 2}
    del multi["TrainingJobDefinition"]
    for definition in with_sagemaker_defaults(multi)["TrainingJobDefinitions"]:
        assert definition["StoppingCondition"]["MaxRuntimeInSeconds"] == 86400
