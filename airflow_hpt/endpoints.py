"""What an endpoint's DescribeEndpoint says about a deployment to it (no Airflow, no boto3).

A deployment puts one endpoint configuration on an endpoint. SageMaker answers with the endpoint's
status: it settles InService on that configuration (success), InService on the configuration it
served before (a failed update that SageMaker rolled back; the API reference's DescribeEndpoint
``FailureReason``: "If the status of the endpoint is Failed, or the status is InService but update
operation fails, this provides the reason why it failed"), or in a failed status.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any

# Statuses an endpoint leaves on its own (EndpointStatus in the API reference): wait while in them.
SETTLING_STATUSES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack"})
# What the deploy task keeps of a Describe (JSON-safe, no timestamps): its result and trigger events.
SUMMARY_KEYS = ("EndpointName", "EndpointArn", "EndpointStatus", "EndpointConfigName", "FailureReason")


class Outcome(Enum):
    SETTLING = "settling"
    IN_SERVICE = "in_service"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"


def summary(endpoint: Mapping[str, Any]) -> dict[str, str]:
    """The members of a Describe that say where a deployment stands."""
    return {key: str(endpoint[key]) for key in SUMMARY_KEYS if endpoint.get(key) is not None}


def outcome(endpoint: Mapping[str, Any], config_name: str | None) -> Outcome:
    """Where the deployment of ``config_name`` stands; None: any settled endpoint will do (an update
    waits for the endpoint to leave an earlier change before it may start its own)."""
    status = endpoint.get("EndpointStatus")
    if status in SETTLING_STATUSES:
        return Outcome.SETTLING
    if status == "InService":
        if config_name is None or endpoint.get("EndpointConfigName") == config_name:
            return Outcome.IN_SERVICE
        return Outcome.ROLLED_BACK
    if config_name is None and status == "Failed":
        return Outcome.IN_SERVICE  # settled; a failed endpoint may be updated
    return Outcome.FAILED


def failure_message(endpoint: Mapping[str, Any], config_name: str, serving_models: Sequence[str]) -> str:
    """Why the deployment of ``config_name`` did not go into service, and what serves instead."""
    name = endpoint.get("EndpointName")
    reason = endpoint.get("FailureReason") or "SageMaker gave no reason"
    status = endpoint.get("EndpointStatus")
    if outcome(endpoint, config_name) is Outcome.ROLLED_BACK:
        models = ", ".join(serving_models) or "its previous models"
        return (
            f"Updating endpoint {name} to {config_name} failed and SageMaker rolled it back: {reason}. "
            f"It still serves configuration {endpoint.get('EndpointConfigName')} (model {models})."
        )
    return f"Endpoint {name} is {status}, not serving {config_name}: {reason}"
