"""No secret leaks: AWS secret keys, session tokens and connection passwords used in a request never
reach task logs, rendered-template fields, XCom, the metadata database or exceptions (see
docs/security.md).

Each run uses distinctive values, checks that they really were in use (the local backend verifies
SigV4 with the secret key and records the session tokens it is sent; the rendered request reached
the backend with the tracker password in it), then searches every place for them: zero hits.
Tasks run through Airflow's real task supervisor (see test_bad_input.py), which masks the log.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from airflow.models.renderedtifields import RenderedTaskInstanceFields
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session

from airflow_hpt.local import LocalSageMaker
from airflow_hpt.local.http.auth import SigV4Verifier
from tests.conftest import load_dag_module
from tests.integration.airflow_state import task_states, xcom
from tests.integration.test_bad_input import LOGS, run_supervised, task_error
from tests.local.conftest import SCRIPTS

pytestmark = pytest.mark.usefixtures("airflow_db")

ACCESS_KEY_ID = "AKIAHPTLEAKTEST0001"
AWS_SECRET = "hptSecretKey-7f3a9c1e2b4d-DoNotLeak"
AWS_TOKEN = "hptSessionToken-9d8e7f6a5b4c-DoNotLeak"
# a password with a "!" (breaks the tag value pattern in the failure DAG)
TRACKER_SECRET = "hptTrackerPass!4c5d6e7f8a-DoNotLeak"
VARIABLE_SECRET = "hptVariableApiKey-2b3c4d5e6f-DoNotLeak"
WRONG_SECRET = "hptWrongSecret-1a2b3c4d5e-DoNotLeak"
WRONG_TOKEN = "hptWrongToken-6f7e8d9c0b-DoNotLeak"
SECRETS = (AWS_SECRET, AWS_TOKEN, TRACKER_SECRET, VARIABLE_SECRET, WRONG_SECRET, WRONG_TOKEN)
DAG_FILE = "testing/hpt_bad_input.py"
RUN_CONF = {"scripts": SCRIPTS.as_uri()}


class Backend:
    """The local backend started with the distinctive credentials; it records the tokens it is sent."""

    def __init__(self, server: LocalSageMaker, tokens: list[str]) -> None:
        self.server = server
        self.tokens = tokens
        self.client = boto3.client(
            "sagemaker",
            endpoint_url=server.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=AWS_SECRET,
        )


@pytest.fixture
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Backend]:
    tokens: list[str] = []
    verify = SigV4Verifier.verify

    def recording_verify(self: SigV4Verifier, method: str, url: str, headers: Any, *rest: Any) -> None:
        if token := headers.get("X-Amz-Security-Token"):
            tokens.append(token)
        verify(self, method, url, headers, *rest)

    monkeypatch.setattr(SigV4Verifier, "verify", recording_verify)
    with LocalSageMaker(
        tmp_path / "sagemaker",
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=AWS_SECRET,
        endpoint_delay_seconds=0.2,
    ) as server:
        extra = {"endpoint_url": server.endpoint_url, "region_name": "us-east-1"}
        connections = {
            "AWS_DEFAULT": {
                "conn_type": "aws",
                "login": ACCESS_KEY_ID,
                "password": AWS_SECRET,
                "extra": {**extra, "aws_session_token": AWS_TOKEN},
            },
            "HPT_DENIED": {
                "conn_type": "aws",
                "login": ACCESS_KEY_ID,
                "password": WRONG_SECRET,
                "extra": {**extra, "aws_session_token": WRONG_TOKEN},
            },
            "HPT_TRACKER": {"conn_type": "generic", "login": "tracker", "password": TRACKER_SECRET},
        }
        for name, connection in connections.items():
            monkeypatch.setenv(f"AIRFLOW_CONN_{name}", json.dumps(connection))
        # "api_key" in its name: Airflow masks the value of such a variable once it is read
        monkeypatch.setenv("AIRFLOW_VAR_HPT_TRACKER_API_KEY", VARIABLE_SECRET)
        yield Backend(server, tokens)


# --------------------------------------------------------------------------------------------------
# Where secrets could end up


def _task_logs(dag_run: Any) -> dict[str, str]:
    folder = LOGS / f"dag_id={dag_run.dag_id}" / f"run_id={dag_run.run_id}"
    logs = {str(path.relative_to(LOGS)): path.read_text(encoding="utf-8") for path in folder.rglob("*.log")}
    assert logs, f"no task log under {folder}"
    return logs


def _rendered_fields(dag_run: Any) -> dict[str, Any]:
    with create_session() as session:
        rows = session.query(RenderedTaskInstanceFields).filter(
            RenderedTaskInstanceFields.dag_id == dag_run.dag_id,
            RenderedTaskInstanceFields.run_id == dag_run.run_id,
        )
        return {row.task_id: row.rendered_fields for row in rows}


def _xcom_rows(dag_run: Any) -> dict[str, Any]:
    with create_session() as session:
        rows = session.query(XComModel.task_id, XComModel.key, XComModel.value).filter(
            XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id
        )
        return {f"{task_id}/{key}": value for task_id, key, value in rows}


def _database_files() -> dict[str, bytes]:
    home = Path(os.environ["AIRFLOW_HOME"])
    files = {path.name: path.read_bytes() for path in home.glob("airflow.db*")}
    assert files, "the SQLite metadata database is where the tests expect it"
    return files


def leaks(places: dict[str, Any]) -> dict[str, list[str]]:
    """Each secret -> the places holding it, text or bytes, anywhere in them."""
    found: dict[str, list[str]] = {}
    for place, content in places.items():
        text = content if isinstance(content, str | bytes) else json.dumps(content, default=str)
        for secret in SECRETS:
            if (secret.encode() if isinstance(text, bytes) else secret) in text:
                found.setdefault(secret, []).append(place)
    return found


def all_places(dag_run: Any, console: str) -> dict[str, Any]:
    return {
        **{f"log {name}": text for name, text in _task_logs(dag_run).items()},
        **{f"rendered {task_id}": fields for task_id, fields in _rendered_fields(dag_run).items()},
        **{f"xcom {key}": value for key, value in _xcom_rows(dag_run).items()},
        **{f"database {name}": data for name, data in _database_files().items()},
        "console": console,
    }


# --------------------------------------------------------------------------------------------------
# The tests


def test_leaks_finds_a_secret_where_it_is() -> None:
    """The search itself works: a zero count below means something."""
    assert leaks(
        {"log": f"x {AWS_TOKEN} y", "db": f"\x00{TRACKER_SECRET}".encode(), "rtif": {"a": [AWS_SECRET]}}
    ) == {
        AWS_TOKEN: ["log"],
        TRACKER_SECRET: ["db"],
        AWS_SECRET: ["rtif"],
    }


@pytest.mark.slow
def test_success_run_leaks_no_secret(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    dag = load_dag_module(DAG_FILE).secrets_success_dag
    dag_run = run_supervised(dag, monkeypatch, run_conf=RUN_CONF)
    console = "".join(capfd.readouterr())
    assert task_states(dag_run) == {"tune": "success"}

    # the secrets were really in use: the backend verified every signature against AWS_SECRET, was
    # sent AWS_TOKEN, and received the tracker password in the rendered request
    assert backend.tokens and set(backend.tokens) == {AWS_TOKEN}
    result = xcom(dag_run, "tune")
    described = backend.client.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=result["tuning_job_name"]
    )
    assert described["TrainingJobDefinition"]["Environment"] == {
        "TRACKER_KEY": TRACKER_SECRET,
        "TRACKER_API_KEY": VARIABLE_SECRET,
    }
    assert result["status"] == "Completed"
    # ... and masked where Airflow shows the rendered request
    rendered = _rendered_fields(dag_run)["tune"]["request"]
    assert rendered["TrainingJobDefinition"]["Environment"] == {
        "TRACKER_KEY": "***",
        "TRACKER_API_KEY": "***",
    }

    assert leaks(all_places(dag_run, console)) == {}


def test_failure_runs_leak_no_secret(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    dag = load_dag_module(DAG_FILE).secrets_failure_dag
    dag_run = run_supervised(dag, monkeypatch, run_conf=RUN_CONF)
    console = "".join(capfd.readouterr())
    assert task_states(dag_run) == {"invalid": "failed", "denied": "failed"}

    # the tag value quoted in the error is the password: masked
    invalid = task_error(dag_run, "invalid")
    assert invalid.type == "InvalidTuningRequest"
    assert "Tags[0].Value: must match pattern" in invalid.message and "(got '***')" in invalid.message
    # the wrong credentials were really sent, and refused
    denied = task_error(dag_run, "denied")
    assert denied.type == "ClientError" and "InvalidSignatureException" in denied.message
    assert WRONG_TOKEN in backend.tokens
    assert backend.client.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"] == []

    assert leaks(all_places(dag_run, console)) == {}


def test_exceptions_hold_no_secret(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exception objects themselves (what on_failure_callback gets), not only their logged form."""
    import airflow.sdk.execution_time.supervisor as supervisor

    errors: dict[str, BaseException | None] = {}
    run_task_in_process = supervisor.run_task_in_process

    def keeping_errors(ti: Any, task: Any, client: Any = None) -> Any:
        result = run_task_in_process(ti=ti, task=task, client=client)
        errors[ti.task_id] = result.error
        return result

    monkeypatch.setattr(supervisor, "run_task_in_process", keeping_errors)
    dag_run = load_dag_module(DAG_FILE).secrets_failure_dag.test(run_conf=RUN_CONF)
    assert task_states(dag_run) == {"invalid": "failed", "denied": "failed"}
    assert all(errors.values()), errors

    chains: dict[str, Any] = {}
    for task_id, error in errors.items():
        seen: list[BaseException] = []
        while error is not None and error not in seen:
            seen.append(error)
            error = error.__cause__ or error.__context__
        chains[task_id] = [f"{type(e).__name__}: {e} {e!r} {e.args!r}" for e in seen]
    assert "(got '***')" in chains["invalid"][0], "the problem quoting the password is still there, masked"
    assert leaks(chains) == {}


def test_errors_redact_without_chaining_to_the_original() -> None:
    from airflow_hpt.exceptions import InvalidTuningRequest, Problem, TemplateError

    def mask(text: str) -> str:
        return text.replace(TRACKER_SECRET, "***")

    clean = InvalidTuningRequest([Problem("Tags[0].Value", "must match pattern x (got 'a')")])
    assert clean.redacted(mask) is clean, "nothing to mask: the same error, with its cause chain"
    error = InvalidTuningRequest([Problem("Tags[0].Value", f"must match pattern x (got {TRACKER_SECRET!r})")])
    masked = error.redacted(mask)
    assert masked.problems == [Problem("Tags[0].Value", "must match pattern x (got '***')")]
    assert TRACKER_SECRET not in str(masked) and masked.__cause__ is None and masked.__context__ is None

    template = TemplateError(f"cannot render the request:\n  - a: {TRACKER_SECRET}")
    assert str(template.redacted(mask)) == "cannot render the request:\n  - a: ***"
    plain = TemplateError("request template 'x.json' not found")
    assert plain.redacted(mask) is plain
