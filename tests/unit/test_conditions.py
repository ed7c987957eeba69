"""IAM conditions decided as IAM decides them, and the condition keys each request carries."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_hpt.local.iam.actions import (
    context_key_type,
    resource_tag_context,
    sagemaker_context,
)
from airflow_hpt.local.iam.conditions import Condition, ConditionError, Context, parse_conditions
from airflow_hpt.local.s3.operations import s3_operation
from tests.local.conftest import quadratic_request

REGION = "us-east-1"


def holds(block: dict[str, Any], context: Context) -> bool:
    return all(
        condition.holds(context) for condition in parse_conditions(block, "Condition", context_key_type)
    )


@pytest.mark.parametrize(
    ("block", "context", "expected"),
    [
        # the values listed for one key OR together
        ({"StringEquals": {"aws:RequestTag/team": ["ml", "data"]}}, {"aws:requesttag/team": ("data",)}, True),
        (
            {"StringEquals": {"aws:RequestTag/team": ["ml", "data"]}},
            {"aws:requesttag/team": ("Data",)},
            False,
        ),
        (
            {"StringEqualsIgnoreCase": {"aws:RequestTag/team": "DATA"}},
            {"aws:requesttag/team": ("data",)},
            True,
        ),
        # a negated operator NORs them
        (
            {"StringNotEquals": {"aws:RequestTag/team": ["ml", "data"]}},
            {"aws:requesttag/team": ("ml",)},
            False,
        ),
        (
            {"StringNotEquals": {"aws:RequestTag/team": ["ml", "data"]}},
            {"aws:requesttag/team": ("ops",)},
            True,
        ),
        # a missing key fails a condition, except a negated one, IfExists and ForAllValues
        ({"StringEquals": {"aws:RequestTag/team": "ml"}}, {}, False),
        ({"StringNotEquals": {"aws:RequestTag/team": "ml"}}, {}, True),
        ({"StringEqualsIfExists": {"aws:RequestTag/team": "ml"}}, {}, True),
        ({"StringEqualsIfExists": {"aws:RequestTag/team": "ml"}}, {"aws:requesttag/team": ("ops",)}, False),
        ({"ForAllValues:StringLike": {"sagemaker:InstanceTypes": "ml.m5.*"}}, {}, True),
        ({"ForAnyValue:StringLike": {"sagemaker:InstanceTypes": "ml.m5.*"}}, {}, False),
        # set operators over a multivalued key
        (
            {"ForAllValues:StringLike": {"sagemaker:InstanceTypes": ["ml.m5.*", "ml.c5.?large"]}},
            {"sagemaker:instancetypes": ("ml.m5.xlarge", "ml.c5.2xlarge")},
            False,
        ),
        (
            {"ForAllValues:StringLike": {"sagemaker:InstanceTypes": ["ml.m5.*", "ml.c5.?large"]}},
            {"sagemaker:instancetypes": ("ml.m5.xlarge", "ml.c5.xlarge")},
            True,
        ),
        (
            {"ForAllValues:StringLike": {"sagemaker:InstanceTypes": ["ml.m5.*", "ml.c5.?xlarge"]}},
            {"sagemaker:instancetypes": ("ml.m5.xlarge", "ml.c5.2xlarge")},
            True,
        ),
        (
            {"ForAnyValue:StringEquals": {"aws:TagKeys": ["owner", "team"]}},
            {"aws:tagkeys": ("team", "cost")},
            True,
        ),
        (
            {"ForAllValues:StringEquals": {"aws:TagKeys": ["owner", "team"]}},
            {"aws:tagkeys": ("team", "cost")},
            False,
        ),
        # Null tells whether the request carries the key
        ({"Null": {"sagemaker:VpcSubnets": "true"}}, {}, True),
        ({"Null": {"sagemaker:VpcSubnets": "true"}}, {"sagemaker:vpcsubnets": ("subnet-1",)}, False),
        ({"Null": {"sagemaker:VpcSubnets": "false"}}, {"sagemaker:vpcsubnets": ("subnet-1",)}, True),
        # numbers, booleans (JSON or text)
        (
            {"NumericLessThanEquals": {"sagemaker:MaxRuntimeInSeconds": 3600}},
            {"sagemaker:maxruntimeinseconds": ("3600",)},
            True,
        ),
        (
            {"NumericLessThan": {"sagemaker:MaxRuntimeInSeconds": "3600"}},
            {"sagemaker:maxruntimeinseconds": ("3600",)},
            False,
        ),
        (
            {"NumericNotEquals": {"sagemaker:MaxRuntimeInSeconds": 60}},
            {"sagemaker:maxruntimeinseconds": ("60",)},
            False,
        ),
        ({"Bool": {"sagemaker:NetworkIsolation": True}}, {"sagemaker:networkisolation": ("true",)}, True),
        ({"Bool": {"sagemaker:NetworkIsolation": "false"}}, {"sagemaker:networkisolation": ("true",)}, False),
        # ARNs: each colon-separated part on its own, so "*" does not span a colon
        (
            {"ArnLike": {"sagemaker:VolumeKmsKey": "arn:aws:kms:*:123456789012:key/*"}},
            {"sagemaker:volumekmskey": ("arn:aws:kms:eu-west-1:123456789012:key/abc",)},
            True,
        ),
        (
            {"ArnLike": {"sagemaker:VolumeKmsKey": "arn:aws:kms:*"}},
            {"sagemaker:volumekmskey": ("arn:aws:kms:eu-west-1:123456789012:key/abc",)},
            False,
        ),
        (
            {"ArnNotLike": {"sagemaker:VolumeKmsKey": "arn:aws:kms:*:*:key/*"}},
            {"sagemaker:volumekmskey": ("alias/mine",)},
            True,
        ),
        # operators AND together, and so do the keys under one operator
        (
            {
                "StringEquals": {"aws:RequestTag/team": "ml", "aws:RequestedRegion": "us-east-1"},
                "Bool": {"sagemaker:NetworkIsolation": "true"},
            },
            {
                "aws:requesttag/team": ("ml",),
                "aws:requestedregion": ("us-east-1",),
                "sagemaker:networkisolation": ("true",),
            },
            True,
        ),
        (
            {"StringEquals": {"aws:RequestTag/team": "ml", "aws:RequestedRegion": "eu-west-1"}},
            {"aws:requesttag/team": ("ml",), "aws:requestedregion": ("us-east-1",)},
            False,
        ),
        # key names are case-insensitive, values are not
        (
            {"StringEquals": {"AWS:REQUESTEDREGION": "us-east-1"}},
            {"aws:requestedregion": ("us-east-1",)},
            True,
        ),
    ],
)
def test_conditions_decide_as_iam_does(block: dict[str, Any], context: Context, expected: bool) -> None:
    assert holds(block, context) is expected


@pytest.mark.parametrize(
    ("block", "path", "rule"),
    [
        ({}, "Condition", "condition operators"),
        (
            {"StringEquals": {"aws:SourceIp": "10.0.0.1"}},
            "Condition.StringEquals.aws:SourceIp",
            "not in the context",
        ),
        (
            {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}},
            "Condition.DateLessThan",
            "not evaluated",
        ),
        (
            {"ForEveryValue:StringLike": {"aws:TagKeys": "a"}},
            "Condition.ForEveryValue:StringLike",
            "set operator",
        ),
        (
            {"StringLike": {"sagemaker:InstanceTypes": "ml.m5.*"}},
            "Condition.StringLike.sagemaker:InstanceTypes",
            "multivalued",
        ),
        (
            {"NumericLessThan": {"aws:RequestTag/x": "1"}},
            "Condition.NumericLessThan.aws:RequestTag/x",
            "does not compare",
        ),
        (
            {"NumericLessThan": {"sagemaker:MaxRuntimeInSeconds": "an hour"}},
            "Condition.NumericLessThan.sagemaker:MaxRuntimeInSeconds",
            "not a number",
        ),
        (
            {"Bool": {"sagemaker:NetworkIsolation": "yes"}},
            "Condition.Bool.sagemaker:NetworkIsolation",
            "'true' or 'false'",
        ),
        (
            {"Null": {"sagemaker:VpcSubnets": "maybe"}},
            "Condition.Null.sagemaker:VpcSubnets",
            "'true' or 'false'",
        ),
        (
            {"StringEquals": {"aws:RequestTag/owner": "${aws:username}"}},
            "Condition.StringEquals.aws:RequestTag/owner",
            "policy variables",
        ),
        (
            {"StringEquals": {"aws:RequestTag/owner": []}},
            "Condition.StringEquals.aws:RequestTag/owner",
            "at least one",
        ),
        (
            {"StringEquals": {"aws:RequestTag/owner": {"a": 1}}},
            "Condition.StringEquals.aws:RequestTag/owner",
            "strings, numbers",
        ),
        ({"StringEquals": []}, "Condition.StringEquals", "condition keys"),
    ],
)
def test_a_condition_that_cannot_be_decided_is_refused_naming_its_path(
    block: Any, path: str, rule: str
) -> None:
    with pytest.raises(ConditionError) as refused:
        parse_conditions(block, "Condition", context_key_type)
    message = str(refused.value)
    assert message.startswith(f"{path}: ")
    assert rule in message


def test_a_tuning_request_carries_its_settings_and_tags() -> None:
    request = quadratic_request("keys")
    definition = request["TrainingJobDefinition"]
    definition["ResourceConfig"]["VolumeKmsKeyId"] = "arn:aws:kms:us-east-1:123456789012:key/volume"
    definition["OutputDataConfig"]["KmsKeyId"] = "arn:aws:kms:us-east-1:123456789012:key/output"
    definition["VpcConfig"] = {"Subnets": ["subnet-a", "subnet-b"], "SecurityGroupIds": ["sg-1"]}
    definition["EnableNetworkIsolation"] = True
    request["Tags"] = [{"Key": "Team", "Value": "ml"}, {"Key": "cost", "Value": "research"}]
    context = sagemaker_context("CreateHyperParameterTuningJob", request, REGION)
    assert context == {
        "aws:tagkeys": ("Team", "cost"),
        "aws:requesttag/team": ("ml",),
        "aws:requesttag/cost": ("research",),
        "sagemaker:instancetypes": (definition["ResourceConfig"]["InstanceType"],),
        "sagemaker:volumekmskey": ("arn:aws:kms:us-east-1:123456789012:key/volume",),
        "sagemaker:outputkmskey": ("arn:aws:kms:us-east-1:123456789012:key/output",),
        "sagemaker:vpcsubnets": ("subnet-a", "subnet-b"),
        "sagemaker:vpcsecuritygroupids": ("sg-1",),
        "sagemaker:networkisolation": ("true",),
        "sagemaker:maxruntimeinseconds": (str(definition["StoppingCondition"]["MaxRuntimeInSeconds"]),),
    }
    # the same members outside a Create set nothing; a Describe carries no keys of its own
    assert (
        sagemaker_context("DescribeHyperParameterTuningJob", {"HyperParameterTuningJobName": "keys"}, REGION)
        == {}
    )


def test_endpoint_configs_transforms_and_tag_calls_carry_their_keys() -> None:
    config = {
        "EndpointConfigName": "c",
        "ProductionVariants": [
            {"VariantName": "AllTraffic", "ModelName": "Best", "InstanceType": "ml.m5.large"}
        ],
        "KmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/k",
    }
    assert sagemaker_context("CreateEndpointConfig", config, REGION) == {
        "sagemaker:modelarn": ("arn:aws:sagemaker:us-east-1:123456789012:model/best",),
        "sagemaker:instancetypes": ("ml.m5.large",),
        "sagemaker:volumekmskey": ("arn:aws:kms:us-east-1:123456789012:key/k",),
    }
    transform = {
        "TransformJobName": "t",
        "ModelName": "m",
        "TransformResources": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
        "TransformOutput": {"S3OutputPath": "s3://b/out", "KmsKeyId": "alias/out"},
    }
    assert sagemaker_context("CreateTransformJob", transform, REGION) == {
        "sagemaker:instancetypes": ("ml.m5.xlarge",),
        "sagemaker:outputkmskey": ("alias/out",),
        "sagemaker:modelarn": ("arn:aws:sagemaker:us-east-1:123456789012:model/m",),
    }
    tags = {"ResourceArn": "arn", "Tags": [{"Key": "env", "Value": "prod"}]}
    assert sagemaker_context("AddTags", tags, REGION) == {
        "aws:tagkeys": ("env",),
        "aws:requesttag/env": ("prod",),
    }
    assert sagemaker_context("DeleteTags", {"ResourceArn": "arn", "TagKeys": ["env"]}, REGION) == {
        "aws:tagkeys": ("env",)
    }
    assert resource_tag_context({"Env": "prod"}) == {
        "aws:resourcetag/env": ("prod",),
        "sagemaker:resourcetag/env": ("prod",),
    }


def s3_context(method: str, bucket: str, key: str, args: dict[str, str]) -> dict[str, tuple[str, ...]]:
    operation = s3_operation(method, bucket, key, args, copy_source=False)
    assert operation is not None
    return operation.context(args)


def test_an_s3_listing_carries_its_prefix() -> None:
    args = {"list-type": "2", "prefix": "data/", "delimiter": "/", "max-keys": "10"}
    assert s3_context("GET", "b", "", args) == {
        "s3:prefix": ("data/",),
        "s3:delimiter": ("/",),
        "s3:max-keys": ("10",),
    }
    assert s3_context("GET", "b", "data/x", {"prefix": "data/"}) == {}
    assert s3_context("GET", "b", "", {"location": ""}) == {}


def test_a_condition_is_a_value() -> None:
    # parsed conditions compare by value: a policy read twice decides the same
    block = {"ForAnyValue:StringLike": {"aws:TagKeys": "team*"}}
    assert parse_conditions(block, "C", context_key_type) == (
        Condition("StringLike", "aws:tagkeys", ("team*",), "ForAnyValue"),
    )
