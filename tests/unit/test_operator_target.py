"""The operator applies the AWS-only rules exactly when its calls go to AWS itself: a connection
or botocore variable with an endpoint_url (the local backend) reads local code."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_hpt.exceptions import InvalidTuningRequest
from airflow_hpt.operators.tuning import CreateTuningJobOperator

BASE = json.loads((Path(__file__).parent / "corpus" / "base_request.json").read_text())
SUBMIT = "TrainingJobDefinition.StaticHyperParameters.sagemaker_submit_directory"
CONTEXT = {"run_id": "manual__1", "ti": SimpleNamespace(map_index=None)}
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")


@pytest.fixture(autouse=True)
def no_endpoint_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def connection(monkeypatch: pytest.MonkeyPatch, **extra: str) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"region_name": "us-east-1", **extra},
            }
        ),
    )


def prepared(submit_directory: str, aws_conn_id: str | None = "aws_default") -> dict[str, Any]:
    request = copy.deepcopy(BASE)
    request["TrainingJobDefinition"]["StaticHyperParameters"]["sagemaker_submit_directory"] = submit_directory
    operator = CreateTuningJobOperator(task_id="tune", request=request, aws_conn_id=aws_conn_id)
    return operator.prepare_request(CONTEXT)[0]  # type: ignore[arg-type]


def warnings_logged(capfd: pytest.CaptureFixture[str], fragment: str) -> list[str]:
    """The task log's warning lines naming ``fragment`` (Airflow's structlog writes to the console)."""
    console = "".join(capfd.readouterr())
    return [line for line in console.splitlines() if "warning" in line and fragment in line]


def test_local_code_is_a_warning_before_any_call_when_the_connection_targets_aws(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """SageMaker accepts the Create (every training job then fails fetching its code): a warning,
    not a refusal, since no source shows SageMaker refusing it (docs/request.md, "Evidence")."""
    connection(monkeypatch)
    assert prepared("file:///home/me/code")
    [warning] = warnings_logged(capfd, SUBMIT)
    assert "Request warning" in warning
    assert "must be an s3:// URI when the connection targets AWS" in warning
    assert prepared("s3://bucket/code/sourcedir.tar.gz")["TrainingJobDefinition"]["StaticHyperParameters"]
    assert warnings_logged(capfd, SUBMIT) == []


def test_local_code_is_accepted_with_an_endpoint_url(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    connection(monkeypatch, endpoint_url="http://127.0.0.1:9")
    statics = prepared("file:///home/me/code")["TrainingJobDefinition"]["StaticHyperParameters"]
    assert statics["sagemaker_submit_directory"] == "file:///home/me/code"
    assert warnings_logged(capfd, SUBMIT) == []


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SAGEMAKER"])
def test_botocores_endpoint_variables_count_as_an_endpoint_url(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], variable: str
) -> None:
    monkeypatch.setenv(variable, "http://127.0.0.1:9")
    assert prepared("file:///home/me/code", aws_conn_id=None)
    assert warnings_logged(capfd, SUBMIT) == []
    # botocore then ignores them, and so does the rule
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert prepared("file:///home/me/code", aws_conn_id=None)
    assert len(warnings_logged(capfd, SUBMIT)) == 1


def test_strict_mode_refuses_what_warn_mode_lets_through(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    connection(monkeypatch, endpoint_url="http://127.0.0.1:9")
    request = copy.deepcopy(BASE)
    request["HyperParameterTuningJobConfig"]["TrainingJobEarlyStoppingType"] = "Auto"
    request["HyperParameterTuningJobConfig"]["Strategy"] = "Hyperband"
    request["HyperParameterTuningJobConfig"]["StrategyConfig"] = {
        "HyperbandStrategyConfig": {"MaxResource": 10}
    }
    early_stopping = "HyperParameterTuningJobConfig.TrainingJobEarlyStoppingType"
    strict = CreateTuningJobOperator(task_id="tune", request=request)
    with pytest.raises(InvalidTuningRequest) as raised:
        strict.prepare_request(CONTEXT)  # type: ignore[arg-type]
    assert [(p.path, p.severity) for p in raised.value.problems] == [(early_stopping, "refusal")]
    lenient = CreateTuningJobOperator(task_id="tune", request=request, validation="warn")
    prepared_request = lenient.prepare_request(CONTEXT)[0]  # type: ignore[arg-type]
    assert prepared_request["HyperParameterTuningJobConfig"]["TrainingJobEarlyStoppingType"] == "Auto"
    [warning] = warnings_logged(capfd, early_stopping)
    assert "Request refusal let through (validation='warn')" in warning


def test_an_unknown_validation_mode_is_refused_at_parse_time() -> None:
    with pytest.raises(ValueError, match="validation must be one of strict, warn"):
        CreateTuningJobOperator(task_id="tune", request=BASE, validation="lenient")  # type: ignore[arg-type]


def test_the_validation_parameter_keeps_the_operator_light_to_import() -> None:
    """DAG files import the operator at parse time: the request package (Jinja, YAML, the model's
    helpers) loads only when a task runs."""
    code = "import sys, airflow_hpt.operators.tuning; print('airflow_hpt.request' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[-1] == "False"
