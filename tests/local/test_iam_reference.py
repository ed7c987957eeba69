"""The backend's IAM model checked against AWS's service authorization reference, as policy_sentry
ships it: the action each call needs, the resource ARN it is authorized on, and the condition keys
it carries are the ones AWS names for that action."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import ClientError
from policy_sentry.querying.actions import get_action_data
from policy_sentry.querying.conditions import get_condition_key_details, get_condition_keys_for_service

from airflow_hpt.local import LocalSageMaker
from airflow_hpt.local.iam.actions import (
    CONTEXT_KEYS,
    REQUEST_TAG,
    RESOURCE_TAGS,
    endpoint_arn,
    logs_needs,
    resource_tag_context,
    sagemaker_context,
    sagemaker_needs,
)
from airflow_hpt.local.iam.conditions import ARN, ARRAY_OF_STRING, BOOL, NUMERIC, STRING
from airflow_hpt.local.s3.operations import s3_operation
from airflow_hpt.local.state import store as kinds
from airflow_hpt.request.model import operation_input_shape
from tests.local.conftest import backend_client, quadratic_request

REGION = "eu-west-1"
# every operation the local SageMaker API serves, listed so that a new one fails here until its IAM
# model is checked
SAGEMAKER_OPERATIONS = sorted(
    {
        "CreateHyperParameterTuningJob",
        "DescribeHyperParameterTuningJob",
        "ListHyperParameterTuningJobs",
        "ListTrainingJobsForHyperParameterTuningJob",
        "StopHyperParameterTuningJob",
        "DeleteHyperParameterTuningJob",
        "CreateTrainingJob",
        "DescribeTrainingJob",
        "ListTrainingJobs",
        "StopTrainingJob",
        "AddTags",
        "ListTags",
        "DeleteTags",
        "CreateModel",
        "DescribeModel",
        "DeleteModel",
        "CreateEndpointConfig",
        "DescribeEndpointConfig",
        "DeleteEndpointConfig",
        "CreateEndpoint",
        "DescribeEndpoint",
        "UpdateEndpoint",
        "DeleteEndpoint",
        "ListModels",
        "ListEndpointConfigs",
        "ListEndpoints",
        "CreateTransformJob",
        "DescribeTransformJob",
        "ListTransformJobs",
        "StopTransformJob",
    }
)
_REFERENCE_TYPES = {
    "string": STRING,
    "arrayofstring": ARRAY_OF_STRING,
    "arn": ARN,
    "bool": BOOL,
    "numeric": NUMERIC,
}


@cache
def reference(service: str, action: str) -> tuple[dict[str, Any], ...]:
    """The reference's rows for an action: one per resource type it may be authorized on."""
    rows = get_action_data(service, action).get(service, [])
    assert rows, f"{service}:{action} is not an action in AWS's authorization reference"
    return tuple(rows)


def arn_format(text: str) -> re.Pattern[str]:
    # arn:${Partition}:sagemaker:${Region}:${Account}:training-job/${TrainingJobName}
    return re.compile(re.sub(r"\\\$\\\{[^}]*\\\}", "[^:]+", re.escape(text)))


def assert_authorized_as_aws_names(service: str, action: str, resources: tuple[str, ...]) -> None:
    rows = reference(service, action.partition(":")[2])
    formats = [row["resource_arn_format"] for row in rows]
    for resource in resources:
        if resource == "*":
            assert "*" in formats, f"{action} needs a resource on AWS ({formats}), not *"
        else:
            assert any(f != "*" and arn_format(f).fullmatch(resource) for f in formats), (
                f"{action} on {resource}: AWS authorizes it on {formats}"
            )


def condition_keys(action: str) -> set[str]:
    service, _, name = action.partition(":")
    return {key.lower() for row in reference(service, name) for key in row["condition_keys"]}


def as_reference_key(key: str) -> str:
    """aws:requesttag/team -> aws:requesttag/${tagkey}, as the reference names the tag keys."""
    for prefix in (REQUEST_TAG, *RESOURCE_TAGS):
        if key.startswith(prefix):
            return prefix + "${tagkey}"
    return key


def test_the_list_of_operations_is_what_the_backend_serves(backend: LocalSageMaker) -> None:
    # every operation of SageMaker's service model, sent without its members: the ones served answer
    # a list or SageMaker's ValidationException for the missing member (never a 500)
    client = backend_client(
        backend, "sagemaker", Config(parameter_validation=False, retries={"max_attempts": 1})
    )
    answers = {}
    for operation in client.meta.service_model.operation_names:
        try:
            getattr(client, xform_name(operation))()
            answers[operation] = "answered"
        except ClientError as error:
            answers[operation] = error.response["Error"]["Code"]
    served = {operation: code for operation, code in answers.items() if code != "UnknownOperationException"}
    assert sorted(served) == SAGEMAKER_OPERATIONS
    assert {
        operation: code
        for operation, code in served.items()
        if code not in ("answered", "ValidationException")
    } == {}
    assert served["ListHyperParameterTuningJobs"] == "answered"
    assert served["DescribeEndpoint"] == "ValidationException"


@pytest.mark.parametrize("operation", SAGEMAKER_OPERATIONS)
def test_each_sagemaker_call_is_authorized_on_the_resource_aws_names(operation: str) -> None:
    role = "arn:aws:iam::123456789012:role/service/SageMakerRole"
    members = operation_input_shape(operation).members
    body: dict[str, Any] = {
        "HyperParameterTuningJobName": "Tune-1",
        "TrainingJobName": "Train-1",
        "TransformJobName": "Score-1",
        "ModelName": "Model-1",
        "EndpointConfigName": "Config-1",
        "EndpointName": "Endpoint-1",
        "ResourceArn": kinds.arn_for(REGION, kinds.TRAINING_JOBS, "Train-1"),
        "Tags": [{"Key": "team", "Value": "ml"}],
        **{member: role for member in ("RoleArn", "ExecutionRoleArn") if member in members},
        **({"TrainingJobDefinition": {"RoleArn": role}} if "TrainingJobDefinition" in members else {}),
    }
    needs = sagemaker_needs(operation, body, REGION)
    assert needs[0][0] == f"sagemaker:{operation}"
    for action, resources in needs:
        service, _, _ = action.partition(":")
        assert_authorized_as_aws_names(service, action, resources)
    # on create, tags need sagemaker:AddTags and a role iam:PassRole: what AWS lists as the action's
    # dependent actions
    if operation.startswith("Create"):
        dependent = {a for row in reference("sagemaker", operation) for a in row["dependent_actions"] or ()}
        assert {action for action, _ in needs[1:]} == dependent & {"sagemaker:AddTags", "iam:PassRole"}
        assert "sagemaker:AddTags" in dependent
    else:
        assert len(needs) == 1


def test_invoke_endpoint_is_authorized_on_the_endpoint() -> None:
    assert_authorized_as_aws_names("sagemaker", "sagemaker:InvokeEndpoint", (endpoint_arn(REGION, "E"),))


@pytest.mark.parametrize(
    ("method", "bucket", "key", "args", "copy_source"),
    [
        ("GET", "", "", {}, None),
        ("GET", "b", "", {"list-type": "2", "prefix": "p/"}, None),
        ("HEAD", "b", "", {}, None),
        ("GET", "b", "", {"location": ""}, None),
        ("PUT", "b", "", {}, None),
        ("DELETE", "b", "", {}, None),
        ("GET", "b", "k", {}, None),
        ("HEAD", "b", "k", {}, None),
        ("PUT", "b", "k", {}, None),
        ("PUT", "b", "k", {}, ("a", "src")),
        ("POST", "b", "k", {"uploads": ""}, None),
        ("PUT", "b", "k", {"uploadId": "u", "partNumber": "1"}, None),
        ("DELETE", "b", "k", {"uploadId": "u"}, None),
        ("DELETE", "b", "k", {}, None),
    ],
)
def test_each_s3_request_needs_the_action_and_resource_aws_names(
    method: str, bucket: str, key: str, args: dict[str, str], copy_source: Any
) -> None:
    operation = s3_operation(method, bucket, key, args, copy_source is not None)
    assert operation is not None
    needs = operation.needs(bucket, key, copy_source)
    assert needs
    for action, resources in needs:
        assert_authorized_as_aws_names("s3", action, resources)
        assert {as_reference_key(k) for k in operation.context(args)} <= condition_keys(action)


@pytest.mark.parametrize(
    ("operation", "request_body"),
    [
        ("DescribeLogGroups", {"logGroupNamePrefix": "/aws/sagemaker/"}),
        ("DescribeLogStreams", {"logGroupName": "/aws/sagemaker/TrainingJobs"}),
        ("FilterLogEvents", {"logGroupIdentifier": "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/g"}),
        ("GetLogEvents", {"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamName": "t/algo-1-1"}),
    ],
)
def test_each_logs_call_is_authorized_on_the_resource_aws_names(
    operation: str, request_body: dict[str, Any]
) -> None:
    for action, resources in logs_needs(operation, request_body, REGION):
        # less the trailing ":*" CloudWatch Logs' documentation tells IAM policies to give a group
        assert_authorized_as_aws_names("logs", action, tuple(r.removesuffix(":*") for r in resources))


def _requests() -> list[tuple[str, dict[str, Any]]]:
    tuning = quadratic_request("keys")
    definition = tuning["TrainingJobDefinition"]
    definition["ResourceConfig"]["VolumeKmsKeyId"] = "arn:aws:kms:eu-west-1:123456789012:key/v"
    definition["OutputDataConfig"]["KmsKeyId"] = "alias/out"
    definition["VpcConfig"] = {"Subnets": ["subnet-a"], "SecurityGroupIds": ["sg-1"]}
    definition["EnableNetworkIsolation"] = True
    definition["EnableInterContainerTrafficEncryption"] = True
    tags = [{"Key": "team", "Value": "ml"}]
    training = {
        "TrainingJobName": "t",
        **{k: v for k, v in definition.items() if k != "StaticHyperParameters"},
        "Tags": tags,
    }
    return [
        ("CreateHyperParameterTuningJob", {**tuning, "Tags": tags}),
        ("CreateTrainingJob", training),
        (
            "CreateModel",
            {
                "ModelName": "m",
                "VpcConfig": {"Subnets": ["subnet-a"], "SecurityGroupIds": ["sg-1"]},
                "EnableNetworkIsolation": False,
                "Tags": tags,
            },
        ),
        (
            "CreateEndpointConfig",
            {
                "EndpointConfigName": "c",
                "ProductionVariants": [{"VariantName": "v", "ModelName": "m", "InstanceType": "ml.m5.large"}],
                "KmsKeyId": "arn:aws:kms:eu-west-1:123456789012:key/v",
                "Tags": tags,
            },
        ),
        ("CreateEndpoint", {"EndpointName": "e", "EndpointConfigName": "c", "Tags": tags}),
        (
            "CreateTransformJob",
            {
                "TransformJobName": "s",
                "ModelName": "m",
                "TransformResources": {"InstanceType": "ml.m5.large", "VolumeKmsKeyId": "alias/v"},
                "TransformOutput": {"S3OutputPath": "s3://b/o", "KmsKeyId": "alias/o"},
                "Tags": tags,
            },
        ),
        ("AddTags", {"ResourceArn": "arn", "Tags": tags}),
        ("DeleteTags", {"ResourceArn": "arn", "TagKeys": ["team"]}),
    ]


@pytest.mark.parametrize(("operation", "body"), _requests(), ids=[op for op, _ in _requests()])
def test_each_request_carries_only_condition_keys_aws_gives_its_action(
    operation: str, body: dict[str, Any]
) -> None:
    carried = {as_reference_key(key) for key in sagemaker_context(operation, body, REGION)}
    assert len(carried) >= 1
    assert carried <= condition_keys(f"sagemaker:{operation}")


def test_resource_tags_are_keys_of_the_actions_on_existing_resources() -> None:
    carried = {as_reference_key(key) for key in resource_tag_context({"env": "prod"})}
    for action in ("DescribeTrainingJob", "StopHyperParameterTuningJob", "InvokeEndpoint", "UpdateEndpoint"):
        assert carried <= condition_keys(f"sagemaker:{action}")


@pytest.mark.parametrize("key", sorted(k for k in CONTEXT_KEYS if k != "aws:requestedregion"))
def test_each_condition_key_has_the_value_type_aws_gives_it(key: str) -> None:
    prefix = key.partition(":")[0]
    service = prefix if prefix in ("s3", "iam") else "sagemaker"  # aws:TagKeys as SageMaker lists it
    names = {name.lower(): name for name in get_condition_keys_for_service(service)}
    details = get_condition_key_details(service, names[key])
    assert _REFERENCE_TYPES[details["condition_value_type"]] == CONTEXT_KEYS[key]
