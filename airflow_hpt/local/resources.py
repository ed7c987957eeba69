"""Which IAM actions, on which resource ARNs, a call to the local backend needs: what the policy checks.

Pure: no I/O, no HTTP. The names are IAM's, which are not always the operations' (S3 most of all):
AWS's service authorization reference gives them per service.

SageMaker: ``sagemaker:<Operation>`` on the resource the operation names, as
``arn:aws:sagemaker:<region>:<account>:<type>/<name>`` (names lowercased, as SageMaker writes its
ARNs): ``DescribeTrainingJob`` on ``training-job/<name>``, ``CreateEndpoint`` and ``UpdateEndpoint``
on the endpoint and on the endpoint configuration they use, the tag operations on ``ResourceArn``.
Tags given on create are authorized as ``sagemaker:AddTags`` on the new resource, as SageMaker does.
Calls naming no resource (List, Search) are on ``*``.

S3 (the REST operation -> IAM action): ListBuckets -> ``s3:ListAllMyBuckets`` on ``*``;
ListObjects(V2) and HeadBucket -> ``s3:ListBucket``, GetBucketLocation -> ``s3:GetBucketLocation``,
CreateBucket / DeleteBucket -> ``s3:CreateBucket`` / ``s3:DeleteBucket``, all on
``arn:aws:s3:::<bucket>``; GetObject and HeadObject -> ``s3:GetObject``, PutObject and the
multipart upload calls (create, part, complete) -> ``s3:PutObject``, AbortMultipartUpload ->
``s3:AbortMultipartUpload``, DeleteObject and each key of DeleteObjects -> ``s3:DeleteObject``, all
on ``arn:aws:s3:::<bucket>/<key>``; CopyObject -> ``s3:GetObject`` on the source and
``s3:PutObject`` on the target.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_hpt.local import store as kinds

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


def sagemaker_needs(operation: str, body: Mapping[str, Any], region: str) -> list[Need]:
    """The actions and resources a SageMaker API call needs."""
    action = f"sagemaker:{operation}"
    if operation in ("AddTags", "ListTags", "DeleteTags"):
        arn = body.get("ResourceArn")
        return [(action, (arn if isinstance(arn, str) and arn else ANY,))]
    verb = next((verb for verb in _VERBS if operation.startswith(verb)), None)
    noun = operation.removeprefix(verb) if verb else ""
    if verb is None or noun not in _SAGEMAKER_NOUNS:
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
    return needs


def endpoint_arn(region: str, name: str) -> str:
    """What ``sagemaker:InvokeEndpoint`` is authorized on."""
    return kinds.arn_for(region, kinds.ENDPOINTS, name)


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def s3_needs(
    method: str,
    bucket: str,
    key: str,
    args: Mapping[str, str],
    copy_source: tuple[str, str] | None = None,
    deleted_keys: tuple[str, ...] = (),
) -> list[Need]:
    """The IAM actions and resources an S3 REST request needs (see the module's table).

    ``copy_source``: the (bucket, key) of ``x-amz-copy-source``; ``deleted_keys``: the keys of a
    DeleteObjects document. A request the front does not serve needs nothing here: it is refused
    as NotImplemented either way.
    """
    if not bucket:
        return [("s3:ListAllMyBuckets", (ANY,))] if method == "GET" else []
    if not key:
        if method == "GET" and "location" in args:
            return [("s3:GetBucketLocation", (bucket_arn(bucket),))]
        if method == "POST" and "delete" in args:
            return [
                (
                    "s3:DeleteObject",
                    tuple(object_arn(bucket, k) for k in deleted_keys) or (bucket_arn(bucket),),
                )
            ]
        action = {
            "GET": "s3:ListBucket",
            "HEAD": "s3:ListBucket",
            "PUT": "s3:CreateBucket",
            "DELETE": "s3:DeleteBucket",
        }.get(method)
        return [(action, (bucket_arn(bucket),))] if action else []
    target = (object_arn(bucket, key),)
    if method == "PUT" and copy_source is not None and "uploadId" not in args:
        return [("s3:GetObject", (object_arn(*copy_source),)), ("s3:PutObject", target)]
    if method in ("GET", "HEAD"):
        return [("s3:GetObject", target)]
    if method == "DELETE":
        return [("s3:AbortMultipartUpload" if "uploadId" in args else "s3:DeleteObject", target)]
    if method in ("PUT", "POST"):
        return [("s3:PutObject", target)]
    return []
