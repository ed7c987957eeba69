"""Every request of tests/corpus/accepted (requests real SageMaker accepted) on the local backend,
with local code and data substituted (:func:`localized`): created, or refused with "the local
backend does not support ..." naming the member, and nothing else.

Jobs are stopped as soon as they are created: that the backend runs such requests to the end is
shown by test_sagemaker_shaped.py; here it is that none of them is refused for a reason SageMaker
would not give. Warm-start parents are created first, from the child's own request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from airflow_hpt.local import LocalSageMaker
from tests.conftest import REPO
from tests.local.conftest import make_client, s3_client, wait_for
from tests.local.test_sagemaker_shaped import CFG, NOT_SUPPORTED, localized

CORPUS = sorted((REPO / "tests" / "corpus" / "accepted").glob("*.json"))
# SageMaker names a job unique per account: the corpus reuses names across sources
_created: set[str] = set()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with LocalSageMaker(tmp_path_factory.mktemp("home")) as backend:
        s3 = s3_client(backend)
        s3.create_bucket(Bucket="data")
        s3.put_object(Bucket="data", Key="shaped/rows.csv", Body=b"1,0.5\n0,0.1\n")
        yield make_client(backend.endpoint_url)


def _stop(client: Any, name: str) -> None:
    try:
        client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    except ClientError as error:  # it ended already
        assert error.response["Error"]["Code"] == "ValidationException", error


def _create_parents(client: Any, request: dict[str, Any]) -> None:
    """The warm-start parents, as the child's request without warm start, ended (Stopped counts)."""
    for parent in request.get("WarmStartConfig", {}).get("ParentHyperParameterTuningJobs", []):
        name = parent["HyperParameterTuningJobName"]
        if name.lower() not in _created:
            twin = {key: value for key, value in request.items() if key != "WarmStartConfig"}
            twin["HyperParameterTuningJobName"] = name
            client.create_hyper_parameter_tuning_job(**twin)
            _created.add(name.lower())
        _stop(client, name)
        wait_for(client, name)


@pytest.mark.parametrize("path", CORPUS, ids=[path.stem for path in CORPUS])
def test_an_accepted_request_is_created_or_refused_as_unsupported(client: Any, path: Path) -> None:
    request = localized(json.loads(path.read_text())["request"])
    name = request["HyperParameterTuningJobName"]
    if name.lower() in _created:
        request["HyperParameterTuningJobName"] = name = f"{name[:27]}-{len(_created)}"
    try:
        # a parent is refused for what the child is: the child's request without its warm start
        _create_parents(client, request)
        client.create_hyper_parameter_tuning_job(**request)
    except ClientError as error:
        message = error.response["Error"]["Message"]
        problems = [line for line in message.splitlines() if line.startswith("  - ")]
        assert problems, message
        for problem in problems:
            assert NOT_SUPPORTED in problem, f"refused for a reason SageMaker would not give: {problem}"
        return
    _created.add(name.lower())
    described = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert described[CFG]["Strategy"] == request[CFG]["Strategy"]
    _stop(client, name)


def test_the_corpus_is_there() -> None:
    assert len(CORPUS) >= 30
