"""Which IAM actions, on which resource ARNs, a call to the local backend needs: what the policy checks.

Pure: no I/O, no HTTP. The names are IAM's, which are not always the operations' (S3 most of all):
AWS's service authorization reference gives them per service.

SageMaker: ``sagemaker:<Operation>`` on the resource the operation names, as
``arn:aws:sagemaker:<region>:<account>:<type>/<name>`` (names lowercased, as SageMaker writes its
ARNs): ``DescribeTrainingJob`` on ``training-job/<name>``, ``CreateEndpoint`` and ``UpdateEndpoint``
on the endpoint and on the endpoint configuration they use, ``ListTrainingJobsForHyperParameterTuningJob``
on the tuning job, the tag operations on ``ResourceArn``.
Tags given on create are authorized as ``sagemaker:AddTags`` on the new resource, as SageMaker does,
and the execution roles a Create hands over (``RoleArn``, ``ExecutionRoleArn``) as ``iam:PassRole``
on each role with ``iam:PassedToService`` = ``sagemaker.amazonaws.com``.
Calls naming no resource (List, Search) are on ``*``.

S3: the table of :mod:`airflow_hpt.local.s3.operations`, which the S3 front also dispatches from.

CloudWatch Logs: :func:`logs_needs`.

Condition keys (:func:`sagemaker_context`, :func:`resource_tag_context`; S3's in its table): what a
request carries for a policy's ``Condition``, under IAM's names, each only where the request has it
(AWS's service authorization reference lists them per action; the tests check against it).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from airflow_hpt.definitions import training_job_definitions
from airflow_hpt.local.iam.conditions import ARN, ARRAY_OF_STRING, BOOL, NUMERIC, STRING
from airflow_hpt.local.state import store as kinds

Need = tuple[str, tuple[str, ...]]  # an action and the resources it must be allowed on

ANY = "*"
# the resource type an operation's noun names, and the request member holding the name
_SAGEMAKER_NOUNS: dict[str, tuple[str, str]] = {
    "HyperParameterTuningJob": (kinds.TUNING_JOBS, "HyperParameterTuningJobName"),
    "TrainingJob": (kinds.TRAINING_JOBS, "TrainingJobName"),
    "TransformJob": (kinds.TRANSFORM_JOBS, "TransformJobName"),
    "Model": (kinds.MODELS, "ModelName"),
    "EndpointConfig": (kinds.ENDPOINT_CONFIGS, "EndpointConfigName"),
    "Endpoint": (kinds.ENDPOINTS, "EndpointName"),
}
_VERBS = ("Create", "Describe", "Delete", "Stop", "Update")
# Lists that name the resource they list from: authorized on it (not on "*"), as AWS does
_LISTS_OF_ONE_RESOURCE = {"ListTrainingJobsForHyperParameterTuningJob": "HyperParameterTuningJob"}

# A Create that names an execution role hands it to SageMaker: iam:PassRole on the role, with
# iam:PassedToService, as AWS checks before creating anything
PASS_ROLE = "iam:PassRole"
PASSED_TO_SERVICE = "iam:passedtoservice"
SAGEMAKER_PRINCIPAL = "sagemaker.amazonaws.com"

# the condition keys requests carry (lowercased, as IAM compares them) and their value types
CONTEXT_KEYS: dict[str, str] = {
    "aws:requestedregion": STRING,  # every request, of every service (policy.Authorizer)
    PASSED_TO_SERVICE: STRING,
    "aws:tagkeys": ARRAY_OF_STRING,
    "sagemaker:instancetypes": ARRAY_OF_STRING,
    "sagemaker:volumekmskey": ARN,
    "sagemaker:outputkmskey": ARN,
    "sagemaker:vpcsubnets": ARRAY_OF_STRING,
    "sagemaker:vpcsecuritygroupids": ARRAY_OF_STRING,
    "sagemaker:networkisolation": BOOL,
    "sagemaker:intercontainertrafficencryption": BOOL,
    "sagemaker:maxruntimeinseconds": NUMERIC,
    "sagemaker:modelarn": ARN,
    "s3:prefix": STRING,
    "s3:delimiter": STRING,
    "s3:max-keys": NUMERIC,
}
# keys named after a tag: aws:RequestTag/<tag key> and the resource's own tags
REQUEST_TAG = "aws:requesttag/"
RESOURCE_TAGS = ("aws:resourcetag/", "sagemaker:resourcetag/")


def sagemaker_needs(operation: str, body: Mapping[str, Any], region: str) -> list[Need]:
    """The actions and resources a SageMaker API call needs."""
    action = f"sagemaker:{operation}"
    if operation in ("AddTags", "ListTags", "DeleteTags"):
        arn = body.get("ResourceArn")
        return [(action, (arn if isinstance(arn, str) and arn else ANY,))]
    verb = next((verb for verb in _VERBS if operation.startswith(verb)), None)
    noun = operation.removeprefix(verb) if verb else _LISTS_OF_ONE_RESOURCE.get(operation, "")
    if noun not in _SAGEMAKER_NOUNS:
        return [(action, (ANY,))]
    kind, member = _SAGEMAKER_NOUNS[noun]
    name = body.get(member)
    if not isinstance(name, str) or not name:
        return [(action, (ANY,))]
    resources = [kinds.arn_for(region, kind, name)]
    config = body.get("EndpointConfigName")
    if noun == "Endpoint" and verb in ("Create", "Update") and isinstance(config, str) and config:
        resources.append(kinds.arn_for(region, kinds.ENDPOINT_CONFIGS, config))
    needs: list[Need] = [(action, tuple(resources))]
    if verb == "Create" and body.get("Tags"):
        needs.append(("sagemaker:AddTags", (resources[0],)))
    roles = _passed_roles(body) if verb == "Create" else ()
    if roles:
        needs.append((PASS_ROLE, roles))
    return needs


def action_context(
    action: str, request_context: Mapping[str, tuple[str, ...]]
) -> Mapping[str, tuple[str, ...]]:
    """The condition keys an action of a SageMaker call is decided on: the request's, except for
    ``iam:PassRole``, whose keys are IAM's own (the service the role is handed to)."""
    return {PASSED_TO_SERVICE: (SAGEMAKER_PRINCIPAL,)} if action == PASS_ROLE else request_context


def _passed_roles(body: Mapping[str, Any]) -> tuple[str, ...]:
    """The roles a Create hands to SageMaker: a training job's (each tuning definition's), a model's."""
    roles: list[str] = []
    for part in _definitions(body):
        for member in ("RoleArn", "ExecutionRoleArn"):
            role = part.get(member)
            if isinstance(role, str) and role and role not in roles:
                roles.append(role)
    return tuple(roles)


def context_key_type(key: str) -> str | None:
    """The value type of a (lowercased) condition key some request carries, None for any other key."""
    if any(key.startswith(prefix) and len(key) > len(prefix) for prefix in (REQUEST_TAG, *RESOURCE_TAGS)):
        return STRING
    return CONTEXT_KEYS.get(key)


def sagemaker_context(operation: str, body: Mapping[str, Any], region: str) -> dict[str, tuple[str, ...]]:
    """The condition keys of a SageMaker API call: the tags it sets or removes, and on
    Create the settings a platform team constrains (instance types, KMS keys, VPC, isolation...).

    A key the request does not set is absent (a ``Null`` condition tells), as on AWS. A single-valued
    key with several values (two training job definitions with their own volume keys) holds them all,
    and a condition on it must hold for each.
    """
    context: dict[str, list[str]] = {}
    if operation.startswith("Create") or operation == "AddTags":
        for tag in _mappings(body, "Tags"):
            _add(context, "aws:tagkeys", tag.get("Key"))
            if isinstance(tag.get("Key"), str):
                _add(context, REQUEST_TAG + tag["Key"].lower(), tag.get("Value"))
    if operation == "DeleteTags":
        for key in body.get("TagKeys") or ():
            _add(context, "aws:tagkeys", key)
    if operation.startswith("Create"):
        _add_settings(context, body, region)
    return {key: tuple(values) for key, values in context.items() if values}


def resource_tag_context(tags: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """``aws:ResourceTag/<key>`` and ``sagemaker:ResourceTag/<key>`` of an existing resource's tags."""
    return {prefix + key.lower(): (value,) for key, value in tags.items() for prefix in RESOURCE_TAGS}


def _add_settings(context: dict[str, list[str]], body: Mapping[str, Any], region: str) -> None:
    for part in _definitions(body):
        for config in (
            _mapping(part, "ResourceConfig"),
            _mapping(part, "HyperParameterTuningResourceConfig"),
            _mapping(part, "TransformResources"),
        ):
            _add(context, "sagemaker:instancetypes", config.get("InstanceType"))
            for group in (*_mappings(config, "InstanceGroups"), *_mappings(config, "InstanceConfigs")):
                _add(context, "sagemaker:instancetypes", group.get("InstanceType"))
            _add(context, "sagemaker:volumekmskey", config.get("VolumeKmsKeyId"))
        for output in (_mapping(part, "OutputDataConfig"), _mapping(part, "TransformOutput")):
            _add(context, "sagemaker:outputkmskey", output.get("KmsKeyId"))
        vpc = _mapping(part, "VpcConfig")
        for subnet in vpc.get("Subnets") or ():
            _add(context, "sagemaker:vpcsubnets", subnet)
        for group_id in vpc.get("SecurityGroupIds") or ():
            _add(context, "sagemaker:vpcsecuritygroupids", group_id)
        _add(context, "sagemaker:networkisolation", part.get("EnableNetworkIsolation"))
        _add(
            context,
            "sagemaker:intercontainertrafficencryption",
            part.get("EnableInterContainerTrafficEncryption"),
        )
        _add(
            context,
            "sagemaker:maxruntimeinseconds",
            _mapping(part, "StoppingCondition").get("MaxRuntimeInSeconds"),
        )
    variants = _mappings(body, "ProductionVariants")
    models = (
        [body.get("ModelName")] if "TransformResources" in body else [v.get("ModelName") for v in variants]
    )
    for model in models:
        if isinstance(model, str) and model:
            _add(context, "sagemaker:modelarn", kinds.arn_for(region, kinds.MODELS, model))
    for variant in variants:
        _add(context, "sagemaker:instancetypes", variant.get("InstanceType"))
    if variants:
        _add(context, "sagemaker:volumekmskey", body.get("KmsKeyId"))


def _definitions(body: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The request, and a tuning job's training job definitions: where the settings are."""
    yield body
    for _path, definition in training_job_definitions(body):
        yield definition


def _mapping(parent: Mapping[str, Any], member: str) -> Mapping[str, Any]:
    value = parent.get(member)
    return value if isinstance(value, Mapping) else {}


def _mappings(parent: Mapping[str, Any], member: str) -> list[Mapping[str, Any]]:
    value = parent.get(member)
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _add(context: dict[str, list[str]], key: str, value: Any) -> None:
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, int | float):
        value = str(value)
    values = context.setdefault(key, [])
    if isinstance(value, str) and value and value not in values:
        values.append(value)


def endpoint_arn(region: str, name: str) -> str:
    """What ``sagemaker:InvokeEndpoint`` is authorized on."""
    return kinds.arn_for(region, kinds.ENDPOINTS, name)


def logs_needs(operation: str, request: Mapping[str, Any], region: str) -> list[Need]:
    """The action and resource of a CloudWatch Logs call. A log group's calls are authorized on its ARN
    with the trailing ``:*`` (CloudWatch Logs' documentation: that form is the one IAM policies name,
    for every action but tagging), so ``log-group:<name>:*`` and ``log-group:/aws/sagemaker/*`` grant
    them; ``GetLogEvents`` is on the stream, ``log-group:<name>:log-stream:<stream>``."""
    action = f"logs:{operation}"
    identifier = request.get("logGroupIdentifier") or request.get("logGroupName")
    if operation == "DescribeLogGroups" or not isinstance(identifier, str) or not identifier:
        return [(action, (ANY,))]
    # an identifier may be the group's ARN (without the trailing :*) or its name
    name = (
        identifier.partition(":log-group:")[2].removesuffix(":*")
        if identifier.startswith("arn:")
        else identifier
    )
    group = f"arn:aws:logs:{region}:{kinds.ACCOUNT_ID}:log-group:{name}"
    stream = request.get("logStreamName")
    if operation == "GetLogEvents" and isinstance(stream, str) and stream:
        return [(action, (f"{group}:log-stream:{stream}",))]
    return [(action, (f"{group}:*",))]


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"
