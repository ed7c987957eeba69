"""Requests real SageMaker accepted, and refusals it answered, against the validator and the operator.

tests/corpus/accepted/*.json: CreateHyperParameterTuningJob requests from suites that ran against AWS,
each with its provenance (repository, path, commit, how it was translated, what is a placeholder).
Every one must pass without a refusal, and render through the operator unchanged.
tests/corpus/refused/*.json: requests SageMaker refused, its answer quoted in a public issue; each
must be refused at exactly the JSON paths it names.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_hpt.operators.tuning import CreateTuningJobOperator, RequestTemplate
from airflow_hpt.request import INTERNAL_TAG_PREFIX, check_request, refusals

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
ACCEPTED = sorted((CORPUS / "accepted").glob("*.json"))
REFUSED = sorted((CORPUS / "refused").glob("*.json"))
CONTEXT = {"run_id": "manual__1", "ti": SimpleNamespace(map_index=None)}


def load(path: Path) -> dict[str, Any]:
    case: dict[str, Any] = json.loads(path.read_text())
    return case


def test_the_accepted_corpus_is_large_and_varied() -> None:
    repositories = {load(path)["provenance"]["repository"] for path in ACCEPTED}
    assert len(ACCEPTED) >= 30
    assert len(repositories) >= 4, repositories


@pytest.mark.parametrize("path", ACCEPTED, ids=[p.stem for p in ACCEPTED])
def test_every_accepted_request_names_where_it_comes_from(path: Path) -> None:
    provenance = load(path)["provenance"]
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", provenance["repository"])
    assert provenance["path"] and re.fullmatch(r"[0-9a-f]{40}", provenance["commit"])
    assert provenance["ran_against_aws"] and provenance["translation"] and provenance["placeholders"]


def test_the_accepted_corpus_covers_what_issue_19_lists() -> None:
    requests = [load(path)["request"] for path in ACCEPTED]
    text = [json.dumps(request) for request in requests]

    def some(member: str) -> bool:
        return any(f'"{member}"' in body for body in text)

    for member in (
        "Autotune",
        "AutoParameters",
        "TuningJobCompletionCriteria",
        "RandomSeed",
        "HyperbandStrategyConfig",
        "TrainingJobDefinitions",
        "WarmStartConfig",
        "InstanceConfigs",
        "VpcConfig",
        "AlgorithmName",
        "EnableManagedSpotTraining",
        "CheckpointConfig",
        "MetricDefinitions",
    ):
        assert some(member), member
    images_without_metrics = [
        r
        for r in requests
        if "TrainingImage" in r.get("TrainingJobDefinition", {}).get("AlgorithmSpecification", {})
        and "MetricDefinitions" not in r["TrainingJobDefinition"]["AlgorithmSpecification"]
    ]
    assert images_without_metrics
    assert any(r["HyperParameterTuningJobConfig"]["Strategy"] == "Hyperband" for r in requests)


@pytest.mark.parametrize("path", ACCEPTED, ids=[p.stem for p in ACCEPTED])
def test_sagemaker_accepted_it_so_the_validator_refuses_nothing(path: Path) -> None:
    request = load(path)["request"]
    normalized, problems = check_request(request)
    assert refusals(problems, "strict") == []
    assert normalized == request, "the wire request is already in the service model's types"


@pytest.fixture
def local_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """An endpoint_url connection: prepare_request makes no call, and the rules read a local target."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"):
        monkeypatch.delenv(name, raising=False)
    extra = {"region_name": "us-west-2", "endpoint_url": "http://127.0.0.1:9"}
    connection = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))


@pytest.mark.usefixtures("local_connection")
@pytest.mark.parametrize("path", ACCEPTED, ids=[p.stem for p in ACCEPTED])
def test_the_operator_renders_and_sends_it_unchanged(path: Path) -> None:
    """The operator's own path: its RequestTemplate renders every leaf, prepare_request coerces and
    validates (strict), names and tags the request. Only its ownership tags may be added."""
    request = load(path)["request"]
    dag = DAG("corpus", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"))
    rendered = RequestTemplate(request)(context=CONTEXT, jinja_env=dag.get_template_env())  # type: ignore[arg-type]
    operator = CreateTuningJobOperator(task_id="tune", request=rendered)
    sent, _fingerprint = operator.prepare_request(CONTEXT)  # type: ignore[arg-type]
    own_tags = [tag for tag in sent.pop("Tags") if not tag["Key"].startswith(INTERNAL_TAG_PREFIX)]
    if own_tags:
        sent["Tags"] = own_tags
    assert sent == request


def test_the_refused_corpus_holds_sagemakers_answers() -> None:
    assert REFUSED
    for path in REFUSED:
        provenance = load(path)["provenance"]
        assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+/issues/\d+", provenance["url"])
        assert "ValidationException" in provenance["quote"] or "validation" in provenance["quote"].lower()


@pytest.mark.parametrize("path", REFUSED, ids=[p.stem for p in REFUSED])
def test_what_sagemaker_refused_is_refused_at_its_path(path: Path) -> None:
    case = load(path)
    _normalized, problems = check_request(case["request"])
    refused = refusals(problems, "strict")
    assert sorted(problem.path for problem in refused) == sorted(case["refused_at"])
