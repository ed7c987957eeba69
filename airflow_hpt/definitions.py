"""The training job definitions of a tuning request, or of a Describe. No Airflow or boto3 import.

One rule for every reader (validation, defaults, budget, lineage, warm start, and the local
backend's scheduler, quotas, support checks and IAM context): ``TrainingJobDefinition`` if it is
an object, then each object of ``TrainingJobDefinitions``, each with its JSON path. Validation
refuses a request with both or neither, so a valid request gives one or the other.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def training_job_definitions(request: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(JSON path, definition) of every training job definition of the request."""
    single = request.get("TrainingJobDefinition")
    if isinstance(single, Mapping):
        yield "TrainingJobDefinition", single
    many = request.get("TrainingJobDefinitions")
    if isinstance(many, list | tuple):
        for index, definition in enumerate(many):
            if isinstance(definition, Mapping):
                yield f"TrainingJobDefinitions[{index}]", definition
