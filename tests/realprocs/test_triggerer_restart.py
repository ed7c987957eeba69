"""Real Airflow processes (api-server, scheduler, dag-processor, triggerer; LocalExecutor, SQLite):
the triggerer is SIGKILLed while a tuning task is deferred, a new one takes over, the task succeeds."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_hpt.local.server import LocalSageMaker
from tests.local.conftest import SCRIPTS, make_client

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).with_name("airflow"))
DAG_ID = "hpt_local_realprocs"
TEST_BUDGET_SECONDS = 230

pytestmark = [pytest.mark.slow, pytest.mark.timeout(TEST_BUDGET_SECONDS + 30)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Airflow:
    """One AIRFLOW_HOME with its own SQLite database and the processes started on it."""

    def __init__(self, home: Path, endpoint_url: str) -> None:
        self.home = home
        self.logs = home / "process-logs"
        self.logs.mkdir(parents=True)
        dags = home / "dags"
        dags.mkdir()
        shutil.copy(REPO / "tests" / "dags" / f"{DAG_ID}.py", dags)
        shutil.copytree(REPO / "tests" / "dags" / "templates", dags / "templates")
        port = _free_port()
        self.database = home / "airflow.db"
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.database}",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            # every process must sign and check the task tokens with the same secret
            "AIRFLOW__API_AUTH__JWT_SECRET": "realprocs-test-secret-realprocs-test-secret",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
            # a dead triggerer's triggers go to a live one after this long without a heartbeat
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "5",
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                {
                    "conn_type": "aws",
                    "login": "testing",
                    "password": "testing",
                    "extra": {"endpoint_url": endpoint_url, "region_name": "us-east-1"},
                }
            ),
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, f"airflow {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [AIRFLOW, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.processes[name] = process
        return process

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(name)
        # the whole session: a triggerer's supervisor and its runner child
        os.killpg(process.pid, sig)
        process.wait(30)

    def stop_all(self) -> None:
        for name in list(self.processes):
            process = self.processes[name]
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for name in list(self.processes):
            process = self.processes.pop(name)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.database, timeout=10) as connection:
            return connection.execute(sql, params).fetchall()

    def log_tail(self) -> str:
        return "\n".join(
            f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-40:])
            for path in sorted(self.logs.glob("*.log"))
        )


def wait_until(what: str, check: Callable[[], Any], deadline: float, airflow: Airflow) -> Any:
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{airflow.log_tail()}")
        time.sleep(1)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalSageMaker]:
    with LocalSageMaker(tmp_path / "sagemaker") as started:
        yield started


@pytest.fixture
def airflow(tmp_path: Path, backend: LocalSageMaker) -> Iterator[Airflow]:
    instance = Airflow(tmp_path / "airflow", backend.endpoint_url)
    try:
        yield instance
    finally:
        instance.stop_all()


def test_task_survives_a_triggerer_killed_mid_wait(airflow: Airflow, backend: LocalSageMaker) -> None:
    deadline = time.monotonic() + TEST_BUDGET_SECONDS
    airflow.run("db", "migrate")
    airflow.start("api-server", "api-server")
    airflow.start("scheduler", "scheduler")
    airflow.start("dag-processor", "dag-processor")
    first = airflow.start("triggerer-1", "triggerer")

    wait_until(
        "the DAG to be parsed",
        lambda: airflow.query("select 1 from serialized_dag where dag_id = ?", DAG_ID),
        deadline,
        airflow,
    )
    airflow.run("dags", "trigger", DAG_ID, "--conf", json.dumps({"scripts": SCRIPTS.as_uri()}))

    def trigger_running() -> Any:
        return airflow.query(
            "select t.id from task_instance ti join trigger t on t.id = ti.trigger_id "
            "where ti.dag_id = ? and ti.state = 'deferred' and t.triggerer_id is not null",
            DAG_ID,
        )

    wait_until("the task to defer to the first triggerer", trigger_running, deadline, airflow)
    time.sleep(2)  # let it poll a few times
    assert first.poll() is None
    airflow.kill("triggerer-1")

    client = make_client(backend.endpoint_url)
    jobs = client.list_hyper_parameter_tuning_jobs(NameContains="hpt-local-realprocs")
    (summary,) = jobs["HyperParameterTuningJobSummaries"]
    name = summary["HyperParameterTuningJobName"]
    # killed mid-wait: the job runs on, and nothing stopped it
    assert summary["HyperParameterTuningJobStatus"] == "InProgress"
    assert airflow.query("select state from task_instance where dag_id = ?", DAG_ID) == [("deferred",)]

    airflow.start("triggerer-2", "triggerer")

    def task_state() -> str | None:
        (state,) = airflow.query("select state from task_instance where dag_id = ?", DAG_ID)[0]
        return state if state in {"success", "failed", "up_for_retry"} else None

    assert wait_until("the task to end", task_state, deadline, airflow) == "success", airflow.log_tail()

    described = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    xcoms = dict(airflow.query("select key, value from xcom where dag_id = ? and task_id = 'tune'", DAG_ID))
    assert json.loads(xcoms["tuning_job_name"]) == name
    assert json.loads(xcoms["best_training_job_arn"]) == described["BestTrainingJob"]["TrainingJobArn"]
    result = json.loads(xcoms["return_value"])
    assert result["status"] == "Completed"
    artifacts = client.describe_training_job(TrainingJobName=described["BestTrainingJob"]["TrainingJobName"])
    assert result["model_artifacts"] == artifacts["ModelArtifacts"]["S3ModelArtifacts"]
