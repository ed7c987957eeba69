"""Real Airflow processes for tests: one AIRFLOW_HOME on SQLite with LocalExecutor (or on the
Postgres of tests/realprocs/stack.py, with its settings), the processes started on it (each in its own session, so a kill reaches its children), and the local SageMaker
backend as a process of its own. Shared by tests/realprocs and tests/soak (and benchmarks/soak.py)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from tests import waiting

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AIRFLOW = str(BIN / "airflow")
AIRFLOW_HPT = str(BIN / "airflow-hpt")
TEST_DAGS = REPO / "tests" / "dags"

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop_group(process: subprocess.Popen[bytes], grace: float = 20) -> None:
    """SIGTERM the process's session, then SIGKILL it if it has not ended within `grace` seconds."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def _kill_group(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    process.wait(30)


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"--- {path.name}: (none)"
    return f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _leftover_training_processes(home: Path) -> list[int]:
    """Training scripts a killed backend left running (their environment points into its home)."""
    marker = str(home).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if (
                marker in (entry / "environ").read_bytes()
                and b"SM_MODEL_DIR" in (entry / "environ").read_bytes()
            ):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def kill_leftover_training(home: Path) -> None:
    """SIGKILL the training scripts a killed backend with this home left running."""
    for pid in _leftover_training_processes(home):
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


class Airflow:
    """One AIRFLOW_HOME with its own SQLite database (or the Postgres `postgres_dsn` points at, when
    extra_env configures it) and the processes started on it."""

    def __init__(
        self,
        home: Path,
        endpoint_url: str,
        dag_files: Iterable[str],
        extra_env: Mapping[str, str] | None = None,
        postgres_dsn: str | None = None,
        migrated_db: Path | None = None,
    ) -> None:
        self.home = home
        self.logs = home / "process-logs"
        self.logs.mkdir(parents=True)
        dags = home / "dags"
        dags.mkdir()
        for dag_file in dag_files:
            shutil.copy(TEST_DAGS / dag_file, dags)
        shutil.copytree(TEST_DAGS / "templates", dags / "templates")
        self.port = free_port()
        self.database = home / "airflow.db"
        self.postgres_dsn = postgres_dsn
        # a copy of a migrated SQLite database saves `airflow db migrate` in start_services
        self.migrated = migrated_db is not None and postgres_dsn is None
        if migrated_db is not None and postgres_dsn is None:
            shutil.copyfile(migrated_db, self.database)
        self.env = {
            **os.environ,
            # the test DAGs import what they share from tests.dags
            "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH")))),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.database}",
            "AIRFLOW__API__PORT": str(self.port),
            # the schedulers' and triggerers' log servers: not the default ports, which the Airflow
            # of a test on another pytest-xdist worker would hold
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
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
            **(extra_env or {}),
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._token: str | None = None

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=600, check=False
        )
        assert done.returncode == 0, f"airflow {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start_services(self, dag_ids: Iterable[str], deadline: float, *processes: str) -> None:
        """The api-server, then `processes` (their names are their commands); returns once the
        api-server answers (a task queued before would fail its try) and `dag_ids` are parsed."""
        if not self.migrated:
            self.run("db", "migrate")
        self.start("api-server", "api-server")
        wait_until("the api-server to answer", self.api_healthy, deadline, self)
        for name in processes:
            self.start(name, name)
        wanted = set(dag_ids)
        marks = ", ".join("?" * len(wanted))
        wait_until(
            "the DAGs to be parsed",
            lambda: (
                len(self.query(f"select dag_id from serialized_dag where dag_id in ({marks})", *wanted))
                == len(wanted)
            ),
            deadline,
            self,
        )

    def start(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start `airflow *args` in its own session, logging to process-logs/<name>.log; `env` adds
        settings for this process alone (its own log-server port, say)."""
        with (self.logs / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [AIRFLOW, *args],
                env={**self.env, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        # the whole session: a triggerer's supervisor and its runner child
        _kill_group(self.processes.pop(name), sig)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        for name in list(self.processes):
            _stop_group(self.processes.pop(name))

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of `sql` (with `?` placeholders) on the metadata database."""
        if self.postgres_dsn is not None:
            import psycopg2  # the stack extra: only the Postgres stack needs it

            with contextlib.closing(psycopg2.connect(self.postgres_dsn)) as connection:
                connection.autocommit = True
                with connection.cursor() as cursor:
                    cursor.execute(sql.replace("?", "%s"), params)
                    return list(cursor.fetchall())
        with sqlite3.connect(self.database, timeout=30) as connection:
            return connection.execute(sql, params).fetchall()

    def api_healthy(self) -> bool:
        """The api-server answers its health check."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/api/v2/monitor/health", timeout=5
            ) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the api-server's public REST API (/api/v2/...) with a token: the simple auth manager
        in all-admins mode gives one to anybody who asks (GET /auth/token)."""
        if self._token is None:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/auth/token", timeout=30) as answer:
                self._token = str(json.load(answer)["access_token"])
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v2/{path.lstrip('/')}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self._token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                text = answer.read()
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{method} {path}: HTTP {error.code}: {error.read()[:2000]!r}") from error
        return json.loads(text) if text else None

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """The task log of one try ("" until the try has started writing it)."""
        path = (
            self.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        ) / f"attempt={try_number}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def log_tail(self) -> str:
        return "\n".join(tail(path) for path in sorted(self.logs.glob("*.log")))


class BackendProcess:
    """`airflow-hpt local-sagemaker` as a process of its own, so it can be killed and restarted on
    the same home and port. Signs with the documented test credentials testing/testing."""

    def __init__(self, home: Path, log: Path, args: Iterable[str] = ()) -> None:
        self.home = home
        self.log = log
        self.args = list(args)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        """Start it (on the port it had before, if any) and wait until it listens."""
        assert self.process is None
        offset = self.log.stat().st_size if self.log.exists() else 0
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "AIRFLOW_HPT_LOCAL_SECRET_ACCESS_KEY": "testing"}
        argv = [
            AIRFLOW_HPT,
            "local-sagemaker",
            "--port",
            str(self.port),
            "--home",
            str(self.home),
            *self.args,
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.starts += 1

        def listening() -> int | None:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"the local backend exited: {self.process.returncode}\n{tail(self.log)}")
            with self.log.open("rb") as log:
                log.seek(offset)
                found = re.search(rb"listening on http://127\.0\.0\.1:(\d+)", log.read())
            return int(found.group(1)) if found else None

        port = poll_until(
            "the local backend to listen", listening, time.monotonic() + timeout, lambda: tail(self.log)
        )
        assert self.port in (0, port), f"restarted on port {port}, not {self.port}"
        self.port = port

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.process is not None
        _kill_group(self.process, sig)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            _stop_group(self.process)
            self.process = None


def poll_until(
    what: str, check: Callable[[], T | None], deadline: float, context: Callable[[], str] = str
) -> T:
    """`check()` every second until it gives a true value, which is returned; fail at `deadline`."""
    return waiting.wait_until(what, check, deadline - time.monotonic(), 1.0, context)


def wait_until(what: str, check: Callable[[], Any], deadline: float, airflow: Airflow) -> Any:
    return poll_until(what, check, deadline, airflow.log_tail)
