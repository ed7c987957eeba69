"""STS GetCallerIdentity on the backend's endpoint, through a real boto3 STS client."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from airflow_hpt.local import LocalSageMaker
from airflow_hpt.local.state.store import ACCOUNT_ID
from tests.local.conftest import REGION


def sts_client(backend: LocalSageMaker, secret: str = "testing") -> object:
    return boto3.client(
        "sts",
        endpoint_url=backend.endpoint_url,
        region_name=REGION,
        aws_access_key_id=backend.access_key_id,
        aws_secret_access_key=secret,
    )


def test_get_caller_identity_names_the_account_root(backend: LocalSageMaker) -> None:
    identity = sts_client(backend).get_caller_identity()  # type: ignore[attr-defined]
    assert identity["Account"] == ACCOUNT_ID
    assert identity["Arn"] == f"arn:aws:iam::{ACCOUNT_ID}:root"
    assert identity["UserId"] == ACCOUNT_ID


def test_other_actions_are_invalid(backend: LocalSageMaker) -> None:
    with pytest.raises(ClientError) as refused:
        sts_client(backend).get_session_token()  # type: ignore[attr-defined]
    assert refused.value.response["Error"]["Code"] == "InvalidAction"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_wrong_secret_is_refused(backend: LocalSageMaker) -> None:
    with pytest.raises(ClientError) as refused:
        sts_client(backend, secret="wrong").get_caller_identity()  # type: ignore[attr-defined]
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
