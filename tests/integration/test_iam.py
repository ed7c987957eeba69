"""DAG runs under the documented least-privilege policy (docs/iam-minimal.json) on the local backend.

The backend refuses any action the policy does not allow (SageMaker, its runtime, S3, CloudWatch,
iam:PassRole), on the resources the policy names, and logs every action it served: a full run must
succeed, and use no action the policy does not document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_hpt.demo.data import stage_digits
from airflow_hpt.local import LocalSageMaker, Policy
from tests.conftest import REPO, load_dag_module
from tests.integration.airflow_state import task_states, xcom
from tests.local.conftest import SCRIPTS, make_client

pytestmark = [pytest.mark.usefixtures("airflow_db"), pytest.mark.slow]
MINIMAL = REPO / "docs" / "iam-minimal.json"
STOP = "sagemaker:StopHyperParameterTuningJob"
WEEK_1 = datetime(2026, 1, 4, tzinfo=UTC)
SMALL = {"max_jobs": 3, "max_parallel": 2, "epochs": 3}


def documented_actions(document: dict[str, Any]) -> set[str]:
    actions: set[str] = set()
    for statement in document["Statement"]:
        listed = statement["Action"]
        actions.update([listed] if isinstance(listed, str) else listed)
    return actions


def without(action: str) -> dict[str, Any]:
    document = json.loads(MINIMAL.read_text())
    for statement in document["Statement"]:
        listed = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement["Action"] = [a for a in listed if a != action] or ["sagemaker:NoSuchAction"]
    return document


@pytest.fixture
def start_backend(tmp_path: Path, aws_conn_env: Any) -> Iterator[Any]:
    started: list[LocalSageMaker] = []

    def start(policy: Policy | Path) -> LocalSageMaker:
        backend = LocalSageMaker(tmp_path / "sagemaker", policy=policy, endpoint_delay_seconds=0.2).start()
        started.append(backend)
        aws_conn_env(backend.endpoint_url)
        return backend

    yield start
    for backend in started:
        backend.stop()


def test_weekly_flow_and_sensor_under_the_minimal_policy(start_backend: Any, tmp_path: Path) -> None:
    backend = start_backend(MINIMAL)
    stage_digits(backend.home)
    weekly = load_dag_module("examples/retrain_weekly.py").dag

    first = weekly.test(logical_date=WEEK_1, run_conf={**SMALL, "min_accuracy": 0.5})
    assert task_states(first) == {
        "tune": "success",
        "gate": "success",
        "deploy": "success",
        "smoke_test": "success",
    }
    # week 2 lists and tags-checks week 1 for its warm start, and the gate reads the champion's tags
    second = weekly.test(logical_date=WEEK_1 + timedelta(weeks=1), run_conf=SMALL)
    assert task_states(second)["tune"] == "success"
    assert xcom(second, "tune")["warm_start_parents"] == [xcom(first, "tune")["tuning_job_name"]]
    assert task_states(second)["gate"] in {"success", "skipped"}

    sensor = load_dag_module("testing/hpt_local_wait.py").sensor_dag
    run_conf = {"scripts": SCRIPTS.as_uri(), "hold": str(tmp_path / "release"), "max_jobs": 2}
    assert set(task_states(sensor.test(run_conf=run_conf)).values()) == {"success"}

    assert not backend.requests.denied
    # GetCallerIdentity needs no permission on AWS
    used = backend.requests.actions - {"sts:GetCallerIdentity"}
    documented = documented_actions(json.loads(MINIMAL.read_text()))
    assert used <= documented, f"used but not in docs/iam-minimal.json: {sorted(used - documented)}"
    # S3 and the runtime are checked too: the smoke test's reads and invocation, the code upload
    assert {"s3:ListBucket", "s3:GetObject", "s3:PutObject", "sagemaker:InvokeEndpoint"} <= used
    # tags given on create are authorized as AddTags, although no AddTags call is made; the
    # execution role a Create hands to SageMaker as iam:PassRole
    assert {"sagemaker:AddTags", "iam:PassRole"} <= used
    # what the policy grants beyond this run, each explained in docs/iam.md: stopping (max_wait,
    # on_kill), updating an endpoint (a better week)
    assert documented - used <= {STOP, "sagemaker:UpdateEndpoint"}


@pytest.mark.parametrize("may_stop", [True, False], ids=["minimal", "minimal-without-stop"])
def test_max_wait_stops_the_job_or_says_it_could_not(
    start_backend: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str], may_stop: bool
) -> None:
    backend = start_backend(MINIMAL if may_stop else Policy(without(STOP)))
    dag = load_dag_module("testing/hpt_max_wait.py").dag
    run = dag.test(run_conf={"scripts": SCRIPTS.as_uri(), "hold": str(tmp_path / "never")})
    output = capfd.readouterr()
    shown = output.out + output.err
    assert task_states(run) == {"sync": "failed", "deferred": "failed"}

    client = make_client(backend.endpoint_url)
    jobs = client.list_hyper_parameter_tuning_jobs(NameContains="hpt-max-wait")[
        "HyperParameterTuningJobSummaries"
    ]
    statuses = sorted(job["HyperParameterTuningJobStatus"] for job in jobs)
    assert len(statuses) == 2
    if may_stop:
        assert set(statuses) <= {"Stopping", "Stopped"}
        assert shown.count("did not finish within max_wait") >= 2
        assert "stopped it" in shown
    else:
        # what the user sees: both tasks fail naming the missing action, and the jobs still run
        assert statuses == ["InProgress", "InProgress"]
        assert backend.requests.denied[STOP] == 2
        assert shown.count("was NOT stopped and keeps running") >= 2, shown[-5000:]
        assert f"the role may not call {STOP}" in shown
        assert f"is not authorized to perform: {STOP}" in shown
