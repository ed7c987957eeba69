"""Corpora: bad requests (one valid base plus one mutation each) and hostile template values.

Every bad case lists the problems it must produce, as (path, fragment of the rule); the test
requires exactly these problems, so a rule that over-reports fails as surely as one that misses.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_hpt.exceptions import InvalidTuningRequest
from airflow_hpt.request import load_request_template, refusals, render_request, validate_request

BASE: dict[str, Any] = json.loads((Path(__file__).parent / "corpus" / "base_request.json").read_text())

Mutation = Callable[[dict[str, Any]], None]

CFG = "HyperParameterTuningJobConfig"
LIMITS = f"{CFG}.ResourceLimits"
RANGES = f"{CFG}.ParameterRanges"
INT0 = f"{RANGES}.IntegerParameterRanges[0]"
CONT0 = f"{RANGES}.ContinuousParameterRanges[0]"
CONT1 = f"{RANGES}.ContinuousParameterRanges[1]"
CAT0 = f"{RANGES}.CategoricalParameterRanges[0]"
OBJECTIVE = f"{CFG}.HyperParameterTuningJobObjective"
HYPERBAND = f"{CFG}.StrategyConfig.HyperbandStrategyConfig"
TJD = "TrainingJobDefinition"
ALG = f"{TJD}.AlgorithmSpecification"
CHANNEL0 = f"{TJD}.InputDataConfig[0]"
S3 = f"{CHANNEL0}.DataSource.S3DataSource"
STATIC = f"{TJD}.StaticHyperParameters"
TUNING_RESOURCES = f"{TJD}.HyperParameterTuningResourceConfig"
WAIT = f"{TJD}.StoppingCondition.MaxWaitTimeInSeconds"
PARENTS = "WarmStartConfig.ParentHyperParameterTuningJobs"
PARENT0 = f"{PARENTS}[0].HyperParameterTuningJobName"


# ---- mutation helpers


def _locate(request: dict[str, Any], path: str) -> tuple[Any, Any]:
    tokens: list[Any] = [int(i) if i else k for k, i in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path)]
    node: Any = request
    for token in tokens[:-1]:
        node = node[token]
    return node, tokens[-1]


def put(path: str, value: Any) -> Mutation:
    def mutate(request: dict[str, Any]) -> None:
        parent, key = _locate(request, path)
        parent[key] = copy.deepcopy(value)

    return mutate


def drop(path: str) -> Mutation:
    def mutate(request: dict[str, Any]) -> None:
        parent, key = _locate(request, path)
        del parent[key]

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(request: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(request)

    return mutate


def to_multi(request: dict[str, Any]) -> None:
    """Two training job definitions instead of one, each with its own ranges."""
    definition = request.pop(TJD)
    ranges = request[CFG].pop("ParameterRanges")
    first = {
        **copy.deepcopy(definition),
        "DefinitionName": "xgb",
        "HyperParameterRanges": copy.deepcopy(ranges),
    }
    second = {
        **copy.deepcopy(definition),
        "DefinitionName": "xgb-2",
        "HyperParameterRanges": copy.deepcopy(ranges),
    }
    request["TrainingJobDefinitions"] = [first, second]


def to_grid(request: dict[str, Any]) -> None:
    """A valid Grid request: categorical ranges only, 2 x 3 = 6 combinations."""
    request[CFG]["Strategy"] = "Grid"
    request[CFG]["ParameterRanges"] = {
        "CategoricalParameterRanges": [
            {"Name": "booster", "Values": ["gbtree", "dart"]},
            {"Name": "max_depth", "Values": ["3", "6", "9"]},
        ]
    }
    request[CFG]["ResourceLimits"]["MaxNumberOfTrainingJobs"] = 6


def to_hyperband(request: dict[str, Any]) -> None:
    request[CFG]["Strategy"] = "Hyperband"
    request[CFG]["TrainingJobEarlyStoppingType"] = "Off"
    request[CFG]["StrategyConfig"] = {"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 81}}


INSTANCE_CONFIGS = [
    {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
    {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10},
]


def integer_ranges(count: int) -> list[dict[str, str]]:
    return [{"Name": f"p{i}", "MinValue": "1", "MaxValue": "9"} for i in range(count)]


def tags(count: int) -> list[dict[str, str]]:
    return [{"Key": f"k{i}", "Value": "v"} for i in range(count)]


def parents(*names: str) -> list[dict[str, str]]:
    return [{"HyperParameterTuningJobName": name} for name in names]


# ---- valid variants: the rules must not reject these

VALID: dict[str, Mutation] = {
    "base": both(),
    "multi-definitions": to_multi,
    "grid": to_grid,
    "grid-without-max-jobs": both(to_grid, drop(f"{LIMITS}.MaxNumberOfTrainingJobs")),
    "hyperband": to_hyperband,
    "hyperband-without-early-stopping": both(to_hyperband, drop(f"{CFG}.TrainingJobEarlyStoppingType")),
    "random-without-ranges-in-config-but-in-definitions": both(to_multi, put(f"{CFG}.Strategy", "Random")),
    "built-in-algorithm": both(
        drop(f"{ALG}.TrainingImage"), drop(f"{ALG}.MetricDefinitions"), put(f"{ALG}.AlgorithmName", "xgboost")
    ),
    "no-warm-start-no-tags": both(drop("WarmStartConfig"), drop("Tags")),
    # a built-in algorithm's image publishes its own metrics
    "image-without-metric-definitions": drop(f"{ALG}.MetricDefinitions"),
    "transfer-learning-5-parents": put(
        "WarmStartConfig",
        {
            "ParentHyperParameterTuningJobs": parents("a", "b", "c", "d", "e"),
            "WarmStartType": "TransferLearning",
        },
    ),
    "30-ranges": put(RANGES, {"IntegerParameterRanges": integer_ranges(30)}),
    "50-tags": put("Tags", tags(50)),
    "vpc-and-spot": both(
        put(f"{TJD}.VpcConfig", {"SecurityGroupIds": ["sg-0123"], "Subnets": ["subnet-1", "subnet-2"]}),
        put(f"{TJD}.EnableManagedSpotTraining", True),
        put(f"{TJD}.StoppingCondition.MaxWaitTimeInSeconds", 7200),
    ),
    "spot-wait-equal-to-runtime": both(
        put(f"{TJD}.EnableManagedSpotTraining", True),
        put(f"{TJD}.StoppingCondition.MaxWaitTimeInSeconds", 3600),
    ),
    "spot-wait-above-default-runtime": both(
        put(f"{TJD}.EnableManagedSpotTraining", True),
        drop(f"{TJD}.StoppingCondition.MaxRuntimeInSeconds"),
        put(f"{TJD}.StoppingCondition.MaxWaitTimeInSeconds", 90000),
    ),
    "hyperband-max-resource-inferred-from-epochs": both(
        to_hyperband, drop(f"{HYPERBAND}.MaxResource"), put(f"{STATIC}.epochs", "50")
    ),
    "hyperband-without-strategy-config-n-epochs": both(
        to_hyperband, drop(f"{CFG}.StrategyConfig"), put(f"{STATIC}.n-epochs", "81")
    ),
    "tuning-resource-config": both(
        drop(f"{TJD}.ResourceConfig"),
        put(TUNING_RESOURCES, {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10}),
    ),
    "tuning-resource-config-instance-configs": both(
        drop(f"{TJD}.ResourceConfig"),
        put(TUNING_RESOURCES, {"InstanceConfigs": INSTANCE_CONFIGS, "AllocationStrategy": "Prioritized"}),
    ),
    "autotune-with-auto-parameters-and-no-budget": both(
        put("Autotune", {"Mode": "Enabled"}),
        put(f"{RANGES}.AutoParameters", [{"Name": "alpha", "ValueHint": "0.1"}]),
        drop(f"{LIMITS}.MaxNumberOfTrainingJobs"),
    ),
    "multi-definitions-own-objectives": both(
        to_multi,
        drop(OBJECTIVE),
        put(
            "TrainingJobDefinitions[0].TuningObjective", {"Type": "Maximize", "MetricName": "validation:auc"}
        ),
        put(
            "TrainingJobDefinitions[1].TuningObjective", {"Type": "Maximize", "MetricName": "validation:auc"}
        ),
    ),
    # only for a connection that targets AWS (test_submit_directory_must_be_s3_on_aws)
    "local-submit-directory": put(f"{STATIC}.sagemaker_submit_directory", "file:///home/me/code"),
    "environment-and-checkpoints": both(
        put(f"{TJD}.Environment", {"LOG_LEVEL": "debug", "_X": "multi\nline"}),
        put(f"{TJD}.CheckpointConfig", {"S3Uri": "s3://bucket/ckpt/"}),
    ),
}


@pytest.mark.parametrize("mutation", list(VALID.values()), ids=list(VALID))
def test_valid_variants_pass(mutation: Mutation) -> None:
    request = copy.deepcopy(BASE)
    mutation(request)
    assert validate_request(request) == request


# ---- bad requests

Expected = list[tuple[str, str]]

BAD: dict[str, tuple[Mutation, Expected]] = {
    # the name
    "name-too-long": (
        put("HyperParameterTuningJobName", "a" * 33),
        [
            ("HyperParameterTuningJobName", "must be at most 32 characters"),
            ("HyperParameterTuningJobName", "must match pattern [a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}"),
        ],
    ),
    "name-underscore": (
        put("HyperParameterTuningJobName", "xgb_weekly"),
        [("HyperParameterTuningJobName", "must match pattern")],
    ),
    "name-trailing-hyphen": (
        put("HyperParameterTuningJobName", "xgb-"),
        [("HyperParameterTuningJobName", "must match pattern")],
    ),
    "name-empty": (
        put("HyperParameterTuningJobName", ""),
        [
            ("HyperParameterTuningJobName", "must be at least 1 character long"),
            ("HyperParameterTuningJobName", "must match pattern"),
        ],
    ),
    "name-missing": (drop("HyperParameterTuningJobName"), [("HyperParameterTuningJobName", "is required")]),
    "name-a-list": (
        put("HyperParameterTuningJobName", ["a"]),
        [("HyperParameterTuningJobName", "must be a string")],
    ),
    "unknown-top-level-member": (
        put("Tag", []),
        [("Tag", "is not a known member of CreateHyperParameterTuningJobRequest (did you mean Tags?)")],
    ),
    # the tuning job config
    "config-missing": (drop(CFG), [(CFG, "is required")]),
    "config-a-string": (put(CFG, "Bayesian"), [(CFG, "must be an object (HyperParameterTuningJobConfig)")]),
    "strategy-unknown": (
        put(f"{CFG}.Strategy", "Genetic"),
        [(f"{CFG}.Strategy", "must be one of: Bayesian, Random, Hyperband, Grid")],
    ),
    "strategy-lowercase": (
        put(f"{CFG}.Strategy", "bayesian"),
        [(f"{CFG}.Strategy", "must be one of: Bayesian")],
    ),
    "strategy-missing": (drop(f"{CFG}.Strategy"), [(f"{CFG}.Strategy", "is required")]),
    "config-misspelled-member": (
        put(f"{CFG}.Stratgy", "Random"),
        [
            (
                f"{CFG}.Stratgy",
                "is not a known member of HyperParameterTuningJobConfig (did you mean Strategy?)",
            )
        ],
    ),
    "objective-type": (
        put(f"{OBJECTIVE}.Type", "Max"),
        [(f"{OBJECTIVE}.Type", "must be one of: Maximize, Minimize")],
    ),
    "objective-metric-missing": (
        drop(f"{OBJECTIVE}.MetricName"),
        [(f"{OBJECTIVE}.MetricName", "is required")],
    ),
    "early-stopping-unknown": (
        put(f"{CFG}.TrainingJobEarlyStoppingType", "On"),
        [(f"{CFG}.TrainingJobEarlyStoppingType", "must be one of: Off, Auto")],
    ),
    "random-seed-negative": (put(f"{CFG}.RandomSeed", -1), [(f"{CFG}.RandomSeed", "must be at least 0")]),
    "completion-criteria-too-small": (
        put(
            f"{CFG}.TuningJobCompletionCriteria",
            {"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 2}},
        ),
        [
            (
                f"{CFG}.TuningJobCompletionCriteria.BestObjectiveNotImproving.MaxNumberOfTrainingJobsNotImproving",
                "must be at least 3",
            )
        ],
    ),
    "autotune-mode": (put("Autotune", {"Mode": "Disabled"}), [("Autotune.Mode", "must be one of: Enabled")]),
    # resource limits
    "limits-missing": (drop(LIMITS), [(LIMITS, "is required")]),
    "parallel-missing": (
        drop(f"{LIMITS}.MaxParallelTrainingJobs"),
        [(f"{LIMITS}.MaxParallelTrainingJobs", "is required")],
    ),
    "parallel-zero": (
        put(f"{LIMITS}.MaxParallelTrainingJobs", 0),
        [(f"{LIMITS}.MaxParallelTrainingJobs", "must be at least 1")],
    ),
    "parallel-above-total": (
        put(f"{LIMITS}.MaxParallelTrainingJobs", 30),
        [(f"{LIMITS}.MaxParallelTrainingJobs", "must be at most MaxNumberOfTrainingJobs (20)")],
    ),
    "total-not-integer": (
        put(f"{LIMITS}.MaxNumberOfTrainingJobs", "many"),
        [(f"{LIMITS}.MaxNumberOfTrainingJobs", "must be an integer (got 'many')")],
    ),
    "total-fractional": (
        put(f"{LIMITS}.MaxNumberOfTrainingJobs", 20.5),
        [(f"{LIMITS}.MaxNumberOfTrainingJobs", "must be an integer (got 20.5)")],
    ),
    "runtime-too-short": (
        put(f"{LIMITS}.MaxRuntimeInSeconds", 60),
        [(f"{LIMITS}.MaxRuntimeInSeconds", "must be at least 120")],
    ),
    "runtime-too-long": (
        put(f"{LIMITS}.MaxRuntimeInSeconds", 15768001),
        [(f"{LIMITS}.MaxRuntimeInSeconds", "must be at most 15768000")],
    ),
    # parameter ranges
    "integer-min-missing": (drop(f"{INT0}.MinValue"), [(f"{INT0}.MinValue", "is required")]),
    "integer-min-fractional": (
        put(f"{INT0}.MinValue", "1.5"),
        [(f"{INT0}.MinValue", "must be an integer written as a string (got '1.5')")],
    ),
    "integer-min-above-max": (
        both(put(f"{INT0}.MinValue", "10"), put(f"{INT0}.MaxValue", "3")),
        [(f"{INT0}.MaxValue", "must be greater than MinValue (10)")],
    ),
    "integer-singleton": (
        both(put(f"{INT0}.MinValue", 5), put(f"{INT0}.MaxValue", 5)),
        [(f"{INT0}.MaxValue", "must be greater than MinValue (5)")],
    ),
    "integer-log-from-zero": (
        both(put(f"{INT0}.ScalingType", "Logarithmic"), put(f"{INT0}.MinValue", "0")),
        [(f"{INT0}.MinValue", "must be greater than 0 with Logarithmic scaling")],
    ),
    "integer-reverse-log": (
        put(f"{INT0}.ScalingType", "ReverseLogarithmic"),
        [(f"{INT0}.ScalingType", "ReverseLogarithmic applies only to continuous ranges")],
    ),
    "scaling-unknown": (
        put(f"{INT0}.ScalingType", "Exponential"),
        [(f"{INT0}.ScalingType", "must be one of: Auto, Linear, Logarithmic, ReverseLogarithmic")],
    ),
    "continuous-min-not-number": (
        put(f"{CONT0}.MinValue", "low"),
        [(f"{CONT0}.MinValue", "must be a finite number written as a string (got 'low')")],
    ),
    "continuous-max-infinite": (
        put(f"{CONT0}.MaxValue", "inf"),
        [(f"{CONT0}.MaxValue", "must be a finite number written as a string")],
    ),
    "continuous-log-negative": (
        put(f"{CONT0}.MinValue", "-0.1"),
        [(f"{CONT0}.MinValue", "must be greater than 0 with Logarithmic scaling")],
    ),
    "reverse-log-max-one": (
        put(f"{CONT1}.MaxValue", 1.0),
        [(f"{CONT1}.MaxValue", "must be less than 1 with ReverseLogarithmic scaling")],
    ),
    "reverse-log-min-negative": (
        put(f"{CONT1}.MinValue", "-0.5"),
        [(f"{CONT1}.MinValue", "must be at least 0 with ReverseLogarithmic scaling")],
    ),
    "continuous-unknown-member": (
        put(f"{CONT0}.Step", "0.1"),
        [(f"{CONT0}.Step", "is not a known member of ContinuousParameterRange")],
    ),
    "categorical-empty": (
        put(f"{CAT0}.Values", []),
        [(f"{CAT0}.Values", "must have at least 1 item (has 0)")],
    ),
    "categorical-duplicate": (
        put(f"{CAT0}.Values", ["gbtree", "dart", "gbtree"]),
        [(f"{CAT0}.Values[2]", "duplicates categorical value 'gbtree'")],
    ),
    "categorical-too-many": (
        put(f"{CAT0}.Values", [f"v{i}" for i in range(31)]),
        [(f"{CAT0}.Values", "must have at most 30 items (has 31)")],
    ),
    "categorical-value-too-long": (
        put(f"{CAT0}.Values[1]", "x" * 257),
        [(f"{CAT0}.Values[1]", "must be at most 256 characters")],
    ),
    "range-name-duplicated-across-types": (
        put(f"{CAT0}.Name", "eta"),
        [(f"{CAT0}.Name", f"duplicates parameter name 'eta' (also at {CONT0}.Name)")],
    ),
    "range-name-also-static": (
        put(f"{INT0}.Name", "num_round"),
        [(f"{INT0}.Name", "'num_round' is also a static hyperparameter")],
    ),
    "more-than-30-ranges": (
        put(f"{RANGES}.IntegerParameterRanges", integer_ranges(29)),
        [
            (
                RANGES,
                "must have at most 30 parameter ranges in total (integer + continuous + categorical), has 32",
            )
        ],
    ),
    "31-integer-ranges": (
        put(f"{RANGES}.IntegerParameterRanges", integer_ranges(31)),
        [
            (f"{RANGES}.IntegerParameterRanges", "must have at most 30 items (has 31)"),
            (RANGES, "has 34"),
        ],
    ),
    "ranges-misspelled": (
        put(f"{RANGES}.IntegerRanges", []),
        [
            (
                f"{RANGES}.IntegerRanges",
                "is not a known member of ParameterRanges (did you mean IntegerParameterRanges?)",
            )
        ],
    ),
    # strategies
    "grid-with-numeric-ranges": (
        put(f"{CFG}.Strategy", "Grid"),
        [
            (f"{RANGES}.IntegerParameterRanges", "the Grid strategy takes categorical ranges only"),
            (f"{RANGES}.ContinuousParameterRanges", "the Grid strategy takes categorical ranges only"),
        ],
    ),
    "grid-fewer-jobs-than-combinations": (
        both(to_grid, put(f"{LIMITS}.MaxNumberOfTrainingJobs", 5)),
        [
            (
                f"{LIMITS}.MaxNumberOfTrainingJobs",
                "is below the number of Grid combinations (6); leave it out to run them all (got 5)",
            )
        ],
    ),
    "grid-more-jobs-than-combinations": (
        both(to_grid, put(f"{LIMITS}.MaxNumberOfTrainingJobs", 10)),
        [
            (
                f"{LIMITS}.MaxNumberOfTrainingJobs",
                "must be at most the number of combinations of the categorical ranges (6) (got 10)",
            )
        ],
    ),
    "categorical-only-more-jobs-than-combinations": (
        both(to_grid, put(f"{CFG}.Strategy", "Bayesian"), put(f"{LIMITS}.MaxNumberOfTrainingJobs", 10)),
        [
            (
                f"{LIMITS}.MaxNumberOfTrainingJobs",
                "must be at most the number of combinations of the categorical ranges (6) (got 10)",
            )
        ],
    ),
    "hyperband-early-stopping-auto": (
        both(to_hyperband, put(f"{CFG}.TrainingJobEarlyStoppingType", "Auto")),
        [(f"{CFG}.TrainingJobEarlyStoppingType", "must be Off with the Hyperband strategy")],
    ),
    "hyperband-max-resource": (
        both(to_hyperband, put(f"{HYPERBAND}.MaxResource", 20001)),
        [(f"{HYPERBAND}.MaxResource", "must be at most 20000")],
    ),
    "hyperband-min-resource-zero": (
        both(to_hyperband, put(f"{HYPERBAND}.MinResource", 0)),
        [(f"{HYPERBAND}.MinResource", "must be at least 1")],
    ),
    "hyperband-min-above-max": (
        both(to_hyperband, put(f"{HYPERBAND}.MinResource", 100)),
        [(f"{HYPERBAND}.MinResource", "must be at most MaxResource (81)")],
    ),
    "strategy-config-without-hyperband": (
        both(to_hyperband, put(f"{CFG}.Strategy", "Random")),
        [(f"{CFG}.StrategyConfig", "applies only to the Hyperband strategy (Strategy is Random)")],
    ),
    # training job definitions
    "definition-missing": (drop(TJD), [(TJD, "is required (or TrainingJobDefinitions")]),
    "definition-and-definitions": (
        both(to_multi, put(TJD, BASE[TJD])),
        [("TrainingJobDefinitions", "cannot be given together with TrainingJobDefinition")],
    ),
    "definitions-empty": (
        both(to_multi, put("TrainingJobDefinitions", [])),
        [("TrainingJobDefinitions", "must have at least 1 item")],
    ),
    "definitions-too-many": (
        both(
            to_multi,
            lambda r: r["TrainingJobDefinitions"].extend(copy.deepcopy(r["TrainingJobDefinitions"][:1]) * 9),
        ),
        [("TrainingJobDefinitions", "must have at most 10 items (has 11)")]
        + [
            (f"TrainingJobDefinitions[{i}].DefinitionName", "duplicates definition name 'xgb'")
            for i in range(2, 11)
        ],
    ),
    "definitions-duplicate-name": (
        both(to_multi, put("TrainingJobDefinitions[1].DefinitionName", "xgb")),
        [("TrainingJobDefinitions[1].DefinitionName", "duplicates definition name 'xgb'")],
    ),
    "definitions-bad-name": (
        both(to_multi, put("TrainingJobDefinitions[1].DefinitionName", "xgb two")),
        [("TrainingJobDefinitions[1].DefinitionName", "must match pattern")],
    ),
    "definitions-tuning-objective-unknown-metric": (
        both(
            to_multi,
            put(
                "TrainingJobDefinitions[1].TuningObjective",
                {"Type": "Minimize", "MetricName": "validation:rmse"},
            ),
        ),
        [
            (
                "TrainingJobDefinitions[1].TuningObjective.MetricName",
                "must be one of the MetricDefinitions names of "
                "TrainingJobDefinitions[1].AlgorithmSpecification: validation:auc",
            )
        ],
    ),
    "definitions-range-set-checked-per-definition": (
        both(
            to_multi,
            put("TrainingJobDefinitions[1].HyperParameterRanges.IntegerParameterRanges[0].MaxValue", "2"),
        ),
        [
            (
                "TrainingJobDefinitions[1].HyperParameterRanges.IntegerParameterRanges[0].MaxValue",
                "must be greater than MinValue (3)",
            )
        ],
    ),
    "role-arn-pattern": (
        put(f"{TJD}.RoleArn", "arn:aws:iam::123:role/x"),
        [(f"{TJD}.RoleArn", r"must match pattern arn:aws[a-z\-]*:iam::\d{12}:role/")],
    ),
    "role-arn-missing": (drop(f"{TJD}.RoleArn"), [(f"{TJD}.RoleArn", "is required")]),
    "input-mode-missing": (drop(f"{ALG}.TrainingInputMode"), [(f"{ALG}.TrainingInputMode", "is required")]),
    "input-mode-unknown": (
        put(f"{ALG}.TrainingInputMode", "Stream"),
        [(f"{ALG}.TrainingInputMode", "must be one of: Pipe, File, FastFile")],
    ),
    "image-and-algorithm-name": (
        put(f"{ALG}.AlgorithmName", "xgboost"),
        [(ALG, "must have exactly one of TrainingImage or AlgorithmName")],
    ),
    "neither-image-nor-algorithm": (
        drop(f"{ALG}.TrainingImage"),
        [(ALG, "must have exactly one of TrainingImage or AlgorithmName")],
    ),
    "objective-not-a-defined-metric": (
        put(f"{OBJECTIVE}.MetricName", "validation:error"),
        [
            (
                f"{OBJECTIVE}.MetricName",
                "must be one of the MetricDefinitions names of TrainingJobDefinition.AlgorithmSpecification",
            )
        ],
    ),
    "metric-regex-empty": (
        put(f"{ALG}.MetricDefinitions[0].Regex", ""),
        [
            (f"{ALG}.MetricDefinitions[0].Regex", "must be at least 1 character long"),
            (f"{ALG}.MetricDefinitions[0].Regex", "must match pattern .+"),
        ],
    ),
    "channel-duplicate": (
        put(f"{TJD}.InputDataConfig[1].ChannelName", "train"),
        [(f"{TJD}.InputDataConfig[1].ChannelName", "duplicates channel name 'train'")],
    ),
    "channel-name-space": (
        put(f"{CHANNEL0}.ChannelName", "train data"),
        [(f"{CHANNEL0}.ChannelName", r"must match pattern [A-Za-z0-9\.\-_]+")],
    ),
    "channels-empty": (
        put(f"{TJD}.InputDataConfig", []),
        [(f"{TJD}.InputDataConfig", "must have at least 1 item")],
    ),
    "s3-uri-no-scheme": (
        put(f"{S3}.S3Uri", "bucket/train/"),
        [(f"{S3}.S3Uri", "must match pattern (https|s3)://")],
    ),
    "s3-uri-missing": (drop(f"{S3}.S3Uri"), [(f"{S3}.S3Uri", "is required")]),
    "s3-data-type": (
        put(f"{S3}.S3DataType", "Prefix"),
        [(f"{S3}.S3DataType", "must be one of: ManifestFile, S3Prefix, AugmentedManifestFile")],
    ),
    "output-path-missing": (
        drop(f"{TJD}.OutputDataConfig.S3OutputPath"),
        [(f"{TJD}.OutputDataConfig.S3OutputPath", "is required")],
    ),
    "kms-key-pattern": (
        put(f"{TJD}.OutputDataConfig.KmsKeyId", "my key"),
        [(f"{TJD}.OutputDataConfig.KmsKeyId", "must match pattern [a-zA-Z0-9:/_-]*")],
    ),
    "instance-type-typo": (
        put(f"{TJD}.ResourceConfig.InstanceType", "ml.m5.xlrge"),
        [
            (
                f"{TJD}.ResourceConfig.InstanceType",
                "TrainingInstanceType values (got 'ml.m5.xlrge'; closest: ml.m5.xlarge)",
            )
        ],
    ),
    "instance-count-negative": (
        put(f"{TJD}.ResourceConfig.InstanceCount", -1),
        [(f"{TJD}.ResourceConfig.InstanceCount", "must be at least 0 (got -1)")],
    ),
    "volume-size-words": (
        put(f"{TJD}.ResourceConfig.VolumeSizeInGB", "ten"),
        [(f"{TJD}.ResourceConfig.VolumeSizeInGB", "must be an integer")],
    ),
    "stopping-condition-missing": (
        drop(f"{TJD}.StoppingCondition"),
        [(f"{TJD}.StoppingCondition", "is required")],
    ),
    "max-runtime-zero": (
        put(f"{TJD}.StoppingCondition.MaxRuntimeInSeconds", 0),
        [(f"{TJD}.StoppingCondition.MaxRuntimeInSeconds", "must be at least 1")],
    ),
    "max-pending-too-short": (
        put(f"{TJD}.StoppingCondition.MaxPendingTimeInSeconds", 100),
        [(f"{TJD}.StoppingCondition.MaxPendingTimeInSeconds", "must be at least 1800")],
    ),
    "network-isolation-not-boolean": (
        put(f"{TJD}.EnableNetworkIsolation", "yes"),
        [(f"{TJD}.EnableNetworkIsolation", "must be a boolean (true or false) (got 'yes')")],
    ),
    "static-value-too-long": (
        put(f"{STATIC}.objective", "x" * 2501),
        [(f"{STATIC}.objective", "must be at most 2500 characters")],
    ),
    "static-too-many": (
        put(STATIC, {f"h{i}": "1" for i in range(101)}),
        [(STATIC, "must have at most 100 entries (has 101)")],
    ),
    "static-value-a-list": (
        put(f"{STATIC}.objective", ["a"]),
        [(f"{STATIC}.objective", "must be a string (got ['a'])")],
    ),
    "environment-key-pattern": (
        put(f"{TJD}.Environment", {"1BAD": "x"}),
        [(f'{TJD}.Environment["1BAD"]', "key must match pattern [a-zA-Z_][a-zA-Z0-9_]*")],
    ),
    "vpc-incomplete": (
        put(f"{TJD}.VpcConfig", {"SecurityGroupIds": []}),
        [
            (f"{TJD}.VpcConfig.Subnets", "is required"),
            (f"{TJD}.VpcConfig.SecurityGroupIds", "must have at least 1 item (has 0)"),
        ],
    ),
    "checkpoint-without-uri": (
        put(f"{TJD}.CheckpointConfig", {"LocalPath": "/opt/ml/checkpoints"}),
        [(f"{TJD}.CheckpointConfig.S3Uri", "is required")],
    ),
    "retry-attempts-too-many": (
        put(f"{TJD}.RetryStrategy", {"MaximumRetryAttempts": 31}),
        [(f"{TJD}.RetryStrategy.MaximumRetryAttempts", "must be at most 30")],
    ),
    # warm start
    "warm-start-no-parents": (put(PARENTS, []), [(PARENTS, "must have at least 1 item (has 0)")]),
    "warm-start-six-parents": (
        put(PARENTS, parents("a", "b", "c", "d", "e", "f")),
        [(PARENTS, "must have at most 5 items (has 6)")],
    ),
    "warm-start-duplicate-parent-case": (
        put(PARENTS, parents("xgb-2023-12-25", "XGB-2023-12-25")),
        [
            (
                f"{PARENTS}[1].HyperParameterTuningJobName",
                "duplicates parent 'XGB-2023-12-25' (names are case-insensitive)",
            )
        ],
    ),
    "warm-start-from-itself": (
        put(PARENTS, parents("XGB-weekly-2024-01-01")),
        [(PARENT0, "cannot be the new tuning job itself")],
    ),
    "warm-start-parent-without-name": (put(PARENTS, [{}]), [(PARENT0, "is required")]),
    "warm-start-parent-bad-name": (put(PARENT0, "xgb_old"), [(PARENT0, "must match pattern")]),
    "warm-start-type-missing": (
        drop("WarmStartConfig.WarmStartType"),
        [("WarmStartConfig.WarmStartType", "is required")],
    ),
    "warm-start-type-unknown": (
        put("WarmStartConfig.WarmStartType", "Transfer"),
        [("WarmStartConfig.WarmStartType", "must be one of: IdenticalDataAndAlgorithm, TransferLearning")],
    ),
    # tags
    "tags-51": (put("Tags", tags(51)), [("Tags", "must have at most 50 items (has 51)")]),
    "tags-duplicate-key": (put("Tags[1].Key", "team"), [("Tags[1].Key", "duplicates tag key 'team'")]),
    "tag-key-aws-prefix": (put("Tags[0].Key", "AWS:owner"), [("Tags[0].Key", "must not start with 'aws:'")]),
    "tag-key-empty": (put("Tags[0].Key", ""), [("Tags[0].Key", "must be at least 1 character long")]),
    "tag-key-hash": (
        put("Tags[0].Key", "team#1"),
        [("Tags[0].Key", r"must match pattern ([\p{L}\p{Z}\p{N}_.:/=+\-@]*)")],
    ),
    "tag-key-too-long": (put("Tags[0].Key", "k" * 129), [("Tags[0].Key", "must be at most 128 characters")]),
    "tag-value-missing": (drop("Tags[1].Value"), [("Tags[1].Value", "is required")]),
    "tags-a-mapping": (put("Tags", {"team": "ds"}), [("Tags", "must be a list (got {'team': 'ds'})")]),
    # several problems at once: all are reported
    "multi-four-unrelated": (
        both(
            put("HyperParameterTuningJobName", "bad name"),
            put(f"{CFG}.Strategy", "Genetic"),
            put("Tags[1].Key", "team"),
            put(f"{INT0}.MinValue", "20"),
        ),
        [
            ("HyperParameterTuningJobName", "must match pattern"),
            (f"{CFG}.Strategy", "must be one of"),
            ("Tags[1].Key", "duplicates tag key"),
            (f"{INT0}.MaxValue", "must be greater than MinValue (20)"),
        ],
    ),
    "multi-coercion-and-model-and-cross-field": (
        both(
            put(f"{LIMITS}.MaxParallelTrainingJobs", "two"),
            drop(f"{TJD}.RoleArn"),
            put(f"{CONT1}.MaxValue", "2"),
            put("WarmStartConfig.WarmStartType", "TRANSFER"),
        ),
        [
            (f"{LIMITS}.MaxParallelTrainingJobs", "must be an integer (got 'two')"),
            (f"{TJD}.RoleArn", "is required"),
            (f"{CONT1}.MaxValue", "must be less than 1 with ReverseLogarithmic"),
            ("WarmStartConfig.WarmStartType", "must be one of: IdenticalDataAndAlgorithm"),
        ],
    ),
    "multi-ranges": (
        put(
            RANGES,
            {
                "IntegerParameterRanges": [{"Name": "a", "MinValue": "x", "MaxValue": "1"}],
                "ContinuousParameterRanges": [{"Name": "a", "MinValue": "1", "MaxValue": "0.5"}],
                "CategoricalParameterRanges": [{"Name": "num_round", "Values": ["1", "1"]}],
            },
        ),
        [
            (f"{INT0}.MinValue", "must be an integer written as a string (got 'x')"),
            (f"{CONT0}.Name", "duplicates parameter name 'a'"),
            (f"{CONT0}.MaxValue", "must be greater than MinValue (1)"),
            (f"{CAT0}.Name", "'num_round' is also a static hyperparameter"),
            (f"{CAT0}.Values[1]", "duplicates categorical value '1'"),
        ],
    ),
    "multi-warm-start-and-tags": (
        both(
            put(PARENTS, parents("p1", "P1", "p2", "p3", "p4", "p5")),
            put("Tags", [*tags(50), {"Key": "aws:x", "Value": "y"}, {"Key": "k0", "Value": "again"}]),
        ),
        [
            (PARENTS, "must have at most 5 items (has 6)"),
            (f"{PARENTS}[1].HyperParameterTuningJobName", "duplicates parent 'P1'"),
            ("Tags", "must have at most 50 items (has 52)"),
            ("Tags[50].Key", "must not start with 'aws:'"),
            ("Tags[51].Key", "duplicates tag key 'k0'"),
        ],
    ),
    "multi-definition-everything-missing": (
        put(TJD, {"StaticHyperParameters": {"a": 1}}),
        [
            (f"{TJD}.AlgorithmSpecification", "is required"),
            (f"{TJD}.RoleArn", "is required"),
            (f"{TJD}.OutputDataConfig", "is required"),
            (f"{TJD}.StoppingCondition", "is required"),
            (f"{TJD}.ResourceConfig", "is required (or HyperParameterTuningResourceConfig)"),
        ],
    ),
    # what SageMaker refuses at Create although the model allows it
    "objective-missing": (
        drop(OBJECTIVE),
        [(OBJECTIVE, "is required: the tuning job ranks its training jobs by this metric")],
    ),
    "multi-definitions-without-objective": (
        both(to_multi, drop(OBJECTIVE)),
        [
            ("TrainingJobDefinitions[0].TuningObjective", f"is required (or {OBJECTIVE})"),
            ("TrainingJobDefinitions[1].TuningObjective", f"is required (or {OBJECTIVE})"),
        ],
    ),
    "ranges-missing": (
        both(put(f"{CFG}.Strategy", "Random"), drop(RANGES)),
        [(RANGES, "is required: a tuning job needs at least one hyperparameter range")],
    ),
    "ranges-empty": (
        put(RANGES, {"IntegerParameterRanges": []}),
        [(RANGES, "must hold at least one range")],
    ),
    "multi-definitions-one-without-ranges": (
        both(to_multi, drop("TrainingJobDefinitions[1].HyperParameterRanges")),
        [("TrainingJobDefinitions[1].HyperParameterRanges", "is required")],
    ),
    "max-jobs-missing-bayesian": (
        drop(f"{LIMITS}.MaxNumberOfTrainingJobs"),
        [(f"{LIMITS}.MaxNumberOfTrainingJobs", "is not given with the Bayesian strategy: SageMaker accepts")],
    ),
    "max-jobs-missing-hyperband": (
        both(to_hyperband, drop(f"{LIMITS}.MaxNumberOfTrainingJobs")),
        [
            (
                f"{LIMITS}.MaxNumberOfTrainingJobs",
                "is not given with the Hyperband strategy: SageMaker accepts",
            )
        ],
    ),
    "hyperband-no-max-resource-no-epochs": (
        both(to_hyperband, drop(f"{HYPERBAND}.MaxResource")),
        [
            (
                f"{HYPERBAND}.MaxResource",
                "is required: Hyperband cannot infer it, TrainingJobDefinition.StaticHyperParameters has "
                "none of epochs, numepochs, n-epochs, n_epochs, num_epochs",
            )
        ],
    ),
    "hyperband-no-strategy-config-no-epochs": (
        both(to_hyperband, drop(f"{CFG}.StrategyConfig")),
        [(f"{HYPERBAND}.MaxResource", "is required: Hyperband cannot infer it")],
    ),
    "hyperband-epochs-not-a-number": (
        both(to_hyperband, drop(f"{HYPERBAND}.MaxResource"), put(f"{STATIC}.num_epochs", "many")),
        [(f"{STATIC}.num_epochs", "must be a whole number from 1 to 20000: Hyperband infers MaxResource")],
    ),
    "resource-configs-both": (
        put(TUNING_RESOURCES, {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 10}),
        [(TUNING_RESOURCES, "cannot be given together with ResourceConfig")],
    ),
    "resource-configs-neither": (
        drop(f"{TJD}.ResourceConfig"),
        [(f"{TJD}.ResourceConfig", "is required (or HyperParameterTuningResourceConfig)")],
    ),
    "instance-configs-with-instance-type": (
        both(
            drop(f"{TJD}.ResourceConfig"),
            put(TUNING_RESOURCES, {"InstanceType": "ml.m5.xlarge", "InstanceConfigs": INSTANCE_CONFIGS}),
        ),
        [(f"{TUNING_RESOURCES}.InstanceType", "cannot be given together with InstanceConfigs")],
    ),
    "instance-configs-with-count-and-volume": (
        both(
            drop(f"{TJD}.ResourceConfig"),
            put(
                TUNING_RESOURCES,
                {"InstanceConfigs": INSTANCE_CONFIGS, "InstanceCount": 1, "VolumeSizeInGB": 10},
            ),
        ),
        [
            (f"{TUNING_RESOURCES}.InstanceCount", "cannot be given together with InstanceConfigs"),
            (f"{TUNING_RESOURCES}.VolumeSizeInGB", "cannot be given together with InstanceConfigs"),
        ],
    ),
    "tuning-resources-without-instance-type": (
        both(drop(f"{TJD}.ResourceConfig"), put(TUNING_RESOURCES, {"InstanceCount": 1})),
        [(f"{TUNING_RESOURCES}.InstanceType", "is required (or InstanceConfigs)")],
    ),
    "spot-without-max-wait": (
        put(f"{TJD}.EnableManagedSpotTraining", True),
        [(WAIT, "is required with EnableManagedSpotTraining")],
    ),
    "spot-max-wait-below-runtime": (
        both(put(f"{TJD}.EnableManagedSpotTraining", True), put(WAIT, 1800)),
        [(WAIT, "must be at least MaxRuntimeInSeconds (3600) (got 1800)")],
    ),
    "spot-max-wait-below-default-runtime": (
        both(
            put(f"{TJD}.EnableManagedSpotTraining", True),
            drop(f"{TJD}.StoppingCondition.MaxRuntimeInSeconds"),
            put(WAIT, 7200),
        ),
        [(WAIT, "must be at least MaxRuntimeInSeconds (86400, its default) (got 7200)")],
    ),
    "auto-parameters-without-autotune": (
        put(f"{RANGES}.AutoParameters", [{"Name": "alpha", "ValueHint": "0.1"}]),
        [(f"{RANGES}.AutoParameters", "is meant for Autotune (Mode Enabled)")],
    ),
    "autotune-without-objective": (
        both(put("Autotune", {"Mode": "Enabled"}), drop(OBJECTIVE), drop(f"{CFG}.ParameterRanges")),
        [(OBJECTIVE, "is required: the tuning job ranks its training jobs by this metric")],
    ),
    "max-wait-without-spot": (
        put(WAIT, 7200),
        [(WAIT, "is only supported when EnableManagedSpotTraining is true")],
    ),
}

# Cases that break only rules without evidence that SageMaker refuses them (warnings): strict mode
# lets them through. Every other case holds at least one refusal.
WARNINGS_ONLY = {
    "grid-with-numeric-ranges",
    "grid-fewer-jobs-than-combinations",
    "max-jobs-missing-bayesian",
    "max-jobs-missing-hyperband",
    "auto-parameters-without-autotune",
    "autotune-without-objective",
    "strategy-config-without-hyperband",
    "parallel-above-total",
    "integer-min-fractional",
    "integer-min-above-max",
    "integer-singleton",
    "integer-log-from-zero",
    "integer-reverse-log",
    "continuous-min-not-number",
    "continuous-max-infinite",
    "continuous-log-negative",
    "reverse-log-max-one",
    "reverse-log-min-negative",
    "categorical-duplicate",
    "range-name-duplicated-across-types",
    "range-name-also-static",
    "hyperband-min-above-max",
    "definition-missing",
    "definition-and-definitions",
    "definitions-duplicate-name",
    "definitions-range-set-checked-per-definition",
    "channel-duplicate",
    "warm-start-duplicate-parent-case",
    "warm-start-from-itself",
    "warm-start-parent-without-name",
    "tags-duplicate-key",
    "tag-key-aws-prefix",
    "multi-ranges",
    "objective-missing",
    "multi-definitions-without-objective",
    "ranges-missing",
    "ranges-empty",
    "multi-definitions-one-without-ranges",
    "resource-configs-both",
    "resource-configs-neither",
    "instance-configs-with-instance-type",
    "instance-configs-with-count-and-volume",
    "tuning-resources-without-instance-type",
    "spot-without-max-wait",
}


@pytest.mark.parametrize(("case", "mutation", "expected"), [(k, *v) for k, v in BAD.items()], ids=list(BAD))
def test_bad_request_reports_exactly_its_problems(case: str, mutation: Mutation, expected: Expected) -> None:
    request = copy.deepcopy(BASE)
    mutation(request)
    with pytest.raises(InvalidTuningRequest) as info:
        validate_request(request)
    problems = list(info.value.problems)
    unmatched = []
    for path, fragment in expected:
        match = next((p for p in problems if p.path == path and fragment in p.rule), None)
        if match is None:
            unmatched.append((path, fragment))
        else:
            problems.remove(match)
    assert not unmatched, f"missing {unmatched}; got {info.value.problems}"
    assert not problems, f"unexpected extra problems: {problems}"
    strict_refusals = refusals(info.value.problems, "strict")
    assert bool(strict_refusals) == (case not in WARNINGS_ONLY), info.value.problems
    assert refusals(info.value.problems, "warn") == []


@pytest.mark.parametrize(
    ("location", "accepted"),
    [
        ("s3://bucket/code/sourcedir.tar.gz", True),
        ('"s3://bucket/code/sourcedir.tar.gz"', True),  # the SageMaker SDK's JSON-quoted form
        ("file:///home/me/code", False),
        ("/home/me/code", False),
        ('"/home/me/code"', False),
        ("https://bucket.example/code.tar.gz", False),
    ],
)
def test_submit_directory_must_be_s3_on_aws(location: str, accepted: bool) -> None:
    """Only a connection without endpoint_url targets AWS; the local backend reads local code."""
    request = copy.deepcopy(BASE)
    request[TJD]["StaticHyperParameters"]["sagemaker_submit_directory"] = location
    assert validate_request(request, target_is_aws=False) == request
    if accepted:
        assert validate_request(request, target_is_aws=True) == request
        return
    with pytest.raises(InvalidTuningRequest) as info:
        validate_request(request, target_is_aws=True)
    [problem] = info.value.problems
    assert problem.path == f"{STATIC}.sagemaker_submit_directory"
    assert problem.rule.startswith("must be an s3:// URI when the connection targets AWS (no endpoint_url)")
    assert repr(location.strip('"')) in problem.rule


def test_corpus_is_large_enough() -> None:
    assert len(BAD) >= 60
    assert sum(len(expected) > 1 for _mutation, expected in BAD.values()) >= 5


# ---- injection: a hostile value fills its own leaf and nothing else

HOSTILE = [
    'a"b',
    "a'b",
    '"}, "Foo": {"Bar": "',
    '", "HyperParameterTuningJobName": "hijacked',
    "line one\nline two",
    "trailing newline\n",
    "\r\n\t",
    "{{ 7*7 }}",
    "{% raw %}{{ x }}{% endraw %}",
    "{# comment #}",
    "{{ params.other }}",
    "key: value",
    "- item\n- other",
    "Foo: {Bar: baz}\n---\nsecond: doc",
    '{"Strategy": "Grid"}',
    "[1, 2, 3]",
    "42",
    "true",
    "null",
    "",
    "\\u0022 \\n",
    "Ünïcödé 名前 😀 \u200b\u2028",
    "x" * 10000,
    "${HOME} $(id) `id`",
    "<script>alert(1)</script> & &amp;",
]

YAML_TEMPLATE = """\
HyperParameterTuningJobName: "xgb-{{ ds_nodash }}"
HyperParameterTuningJobConfig:
  Strategy: Bayesian
  ResourceLimits: {MaxParallelTrainingJobs: 2}
  ParameterRanges:
    CategoricalParameterRanges:
      - Name: booster
        Values: ["{{ params.value }}", "dart"]
TrainingJobDefinition:
  StaticHyperParameters:
    note: "{{ params.value }}"
    prefixed: 'v-{{ params.value }}-end'
  AlgorithmSpecification:
    MetricDefinitions:
      - {Name: auc, Regex: "{{ params.value }}"}
Tags:
  - {Key: note, Value: "{{ params.value }}"}
"""

JSON_TEMPLATE = json.dumps(
    {
        "HyperParameterTuningJobName": "xgb-{{ ds_nodash }}",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "ParameterRanges": {
                "CategoricalParameterRanges": [{"Name": "booster", "Values": ["{{ params.value }}", "dart"]}]
            },
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"note": "{{ params.value }}", "prefixed": "v-{{ params.value }}-end"},
            "AlgorithmSpecification": {"MetricDefinitions": [{"Name": "auc", "Regex": "{{ params.value }}"}]},
        },
        "Tags": [{"Key": "note", "Value": "{{ params.value }}"}],
    },
    indent=2,
)

LEAVES = [
    ("HyperParameterTuningJobConfig", "ParameterRanges", "CategoricalParameterRanges", 0, "Values", 0),
    ("TrainingJobDefinition", "StaticHyperParameters", "note"),
    ("TrainingJobDefinition", "AlgorithmSpecification", "MetricDefinitions", 0, "Regex"),
    ("Tags", 0, "Value"),
]


def _skeleton(node: Any) -> Any:
    """The structure with every string leaf blanked: keys, nesting, list lengths and types."""
    if isinstance(node, dict):
        return {key: _skeleton(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_skeleton(item) for item in node]
    return "<str>" if isinstance(node, str) else node


def _leaf(node: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        node = node[step]
    return node


@pytest.mark.parametrize("suffix", [".yaml.j2", ".json.j2"])
@pytest.mark.parametrize("value", HOSTILE, ids=[f"hostile{i}" for i in range(len(HOSTILE))])
def test_hostile_value_fills_only_its_own_leaf(tmp_path: Path, suffix: str, value: str) -> None:
    (tmp_path / f"r{suffix}").write_text(YAML_TEMPLATE if suffix.startswith(".yaml") else JSON_TEMPLATE)
    template = load_request_template(f"r{suffix}", [tmp_path])
    context = {"ds_nodash": "20240101", "params": {"value": value, "other": "SHOULD NOT APPEAR"}}

    benign = render_request(template, {**context, "params": {"value": "benign"}})
    hostile = render_request(template, context)

    assert _skeleton(hostile) == _skeleton(benign)
    assert list(hostile) == list(benign)
    for path in LEAVES:
        assert _leaf(hostile, path) == value
    assert hostile["TrainingJobDefinition"]["StaticHyperParameters"]["prefixed"] == f"v-{value}-end"
    assert hostile["HyperParameterTuningJobName"] == "xgb-20240101"
    assert hostile["HyperParameterTuningJobConfig"]["Strategy"] == "Bayesian"


def test_hostile_corpus_is_large_enough() -> None:
    assert len(set(HOSTILE)) >= 15


def test_hostile_value_cannot_break_validation_structure() -> None:
    """After rendering and validation, a hostile value is still one string in one place."""
    template = copy.deepcopy(BASE)
    template["TrainingJobDefinition"]["StaticHyperParameters"]["objective"] = "{{ params.value }}"
    value = '", "Strategy": "Grid", "x": "{{ 7*7 }}'
    rendered = render_request(template, {"params": {"value": value}})
    result = validate_request(rendered)
    assert result["TrainingJobDefinition"]["StaticHyperParameters"]["objective"] == value
    assert result["HyperParameterTuningJobConfig"]["Strategy"] == "Bayesian"
