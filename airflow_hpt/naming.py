"""Tuning job names and the ownership tags that make create idempotent. No Airflow import."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

MAX_NAME_LENGTH = 32
_HASH_LENGTH = 10
TAG_PREFIX = "airflow-hpt:"
TAG_DAG_ID = TAG_PREFIX + "dag-id"
TAG_TASK_ID = TAG_PREFIX + "task-id"
TAG_RUN_ID = TAG_PREFIX + "run-id"
TAG_MAP_INDEX = TAG_PREFIX + "map-index"
TAG_FINGERPRINT = TAG_PREFIX + "fingerprint"
TAG_LINEAGE = TAG_PREFIX + "lineage"
MAX_TAGS = 50
MAX_TAG_VALUE_LENGTH = 256
_NOT_NAME_CHARS = re.compile(r"[^a-zA-Z0-9]+")


def derive_job_name(dag_id: str, task_id: str, run_id: str, map_index: int = -1) -> str:
    """A valid tuning job name, unique per task instance and the same for every try of it.

    The readable part comes from the dag and task ids; the hash of the full identity keeps two task
    instances apart even when their readable parts are cut to the same prefix. SageMaker compares
    names case-insensitively, so the hash is lowercase hex.
    """
    identity = "\x1f".join((dag_id, task_id, run_id, str(map_index)))
    digest = hashlib.sha256(identity.encode()).hexdigest()[:_HASH_LENGTH]
    return f"{readable_prefix(dag_id, task_id)}-{digest}"


def readable_prefix(dag_id: str, task_id: str) -> str:
    """The part of derived names that every run of a task shares (so a List can find them)."""
    readable = _NOT_NAME_CHARS.sub("-", f"{dag_id}-{task_id}").strip("-")
    return readable[: MAX_NAME_LENGTH - _HASH_LENGTH - 1].rstrip("-") or "hpt"


def ownership_tags(
    dag_id: str, task_id: str, run_id: str, map_index: int, request_fingerprint: str, lineage: str
) -> list[dict[str, str]]:
    """The tags that let a later try recognise the job as its own, and later runs find their parents."""
    return [
        {"Key": TAG_DAG_ID, "Value": dag_id[:MAX_TAG_VALUE_LENGTH]},
        {"Key": TAG_TASK_ID, "Value": task_id[:MAX_TAG_VALUE_LENGTH]},
        {"Key": TAG_RUN_ID, "Value": run_id[:MAX_TAG_VALUE_LENGTH]},
        {"Key": TAG_MAP_INDEX, "Value": str(map_index)},
        {"Key": TAG_FINGERPRINT, "Value": request_fingerprint},
        {"Key": TAG_LINEAGE, "Value": lineage[:MAX_TAG_VALUE_LENGTH]},
    ]


def with_tags(request: Mapping[str, Any], tags: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """A copy of the request whose Tags are the user's own (minus stale ours) followed by `tags`."""
    ours = {tag["Key"] for tag in tags}
    kept = [dict(tag) for tag in request.get("Tags", []) if tag.get("Key") not in ours]
    return {**request, "Tags": [*kept, *(dict(tag) for tag in tags)]}


def tag_value(tags: Sequence[Mapping[str, str]], key: str) -> str | None:
    return next((tag.get("Value") for tag in tags if tag.get("Key") == key), None)


def fingerprint_of(tags: Sequence[Mapping[str, str]]) -> str | None:
    """The request fingerprint recorded in a job's tags, if any."""
    return tag_value(tags, TAG_FINGERPRINT)
