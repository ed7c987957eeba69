"""Where a deployment stands, read from DescribeEndpoint (airflow_hpt.endpoints: no Airflow, no boto3)."""

from __future__ import annotations

import pytest

from airflow_hpt.endpoints import Outcome, failure_message, outcome, summary


@pytest.mark.parametrize(
    ("status", "serving", "target", "expected"),
    [
        ("Creating", None, "new", Outcome.SETTLING),
        ("Updating", "old", "new", Outcome.SETTLING),
        ("SystemUpdating", "new", "new", Outcome.SETTLING),
        ("RollingBack", "old", "new", Outcome.SETTLING),
        ("InService", "new", "new", Outcome.IN_SERVICE),
        ("InService", "old", "new", Outcome.ROLLED_BACK),
        ("Failed", "new", "new", Outcome.FAILED),
        ("UpdateRollbackFailed", "old", "new", Outcome.FAILED),
        ("OutOfService", "new", "new", Outcome.FAILED),
        ("Deleting", "new", "new", Outcome.FAILED),
        # waiting for an earlier change to end before updating: any settled state will do
        ("InService", "old", None, Outcome.IN_SERVICE),
        ("Failed", "old", None, Outcome.IN_SERVICE),
        ("Updating", "old", None, Outcome.SETTLING),
    ],
)
def test_outcome(status: str, serving: str | None, target: str | None, expected: Outcome) -> None:
    endpoint = {"EndpointName": "e", "EndpointStatus": status, "EndpointConfigName": serving}
    assert outcome(endpoint, target) is expected


def test_a_rolled_back_update_names_the_reason_and_what_still_serves() -> None:
    endpoint = {
        "EndpointName": "digits",
        "EndpointStatus": "InService",
        "EndpointConfigName": "old-config",
        "FailureReason": "model artifact unreadable",
    }
    message = failure_message(endpoint, "new-config", ["old-model"])
    assert "Updating endpoint digits to new-config failed and SageMaker rolled it back" in message
    assert "model artifact unreadable" in message
    assert "still serves configuration old-config (model old-model)" in message


def test_a_failed_endpoint_names_its_status_and_reason() -> None:
    endpoint = {"EndpointName": "digits", "EndpointStatus": "Failed", "FailureReason": "no capacity"}
    assert failure_message(endpoint, "c", []) == "Endpoint digits is Failed, not serving c: no capacity"


def test_summary_keeps_json_safe_members_only() -> None:
    endpoint = {
        "EndpointName": "e",
        "EndpointStatus": "InService",
        "CreationTime": object(),
        "FailureReason": None,
    }
    assert summary(endpoint) == {"EndpointName": "e", "EndpointStatus": "InService"}
