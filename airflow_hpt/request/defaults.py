"""Values SageMaker gives the members a request leaves out, where its API reference states them."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from airflow_hpt.definitions import training_job_definitions

# StoppingCondition.MaxRuntimeInSeconds: "The default value is 1 day."
DEFAULT_MAX_RUNTIME_SECONDS = 86400


def with_sagemaker_defaults(request: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a valid request with SageMaker's documented defaults filled in.

    Only what SageMaker applies at Create and what changes how a job runs: each training job
    definition's ``StoppingCondition.MaxRuntimeInSeconds``.
    """
    result = copy.deepcopy(dict(request))
    for _path, definition in training_job_definitions(result):
        stopping = definition.get("StoppingCondition")
        if isinstance(stopping, dict):
            stopping.setdefault("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS)
    return result
