"""The soak: real Airflow processes run 40 tuning tasks against the local backend (its own process)
while faults are injected, then the backend's records and Airflow's are counted against each other.

Used by tests/soak/test_soak.py (which asserts the figures) and benchmarks/soak.py (which prints them).

Faults, all in one run:
- 30 % of the backend's Describe*/List* calls throttled and 10 % answered 5xx (its own fault injection);
- the triggerer SIGKILLed (with its runner) while tasks are deferred, and a new one started, twice;
- the first try of every soak_crash task exits right after its create call (retries configured);
- 3 % of the connections to the backend closed right after it answered, before the answer is
  passed on (a proxy between Airflow and the backend): creates included;
- the backend SIGKILLed while jobs run and tasks poll (connections refused and dropped), and
  restarted on the same home and port.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from airflow_hpt.hooks.tuning import is_transient
from airflow_hpt.naming import TAG_DAG_ID, TAG_MAP_INDEX, TAG_RUN_ID, TAG_TASK_ID
from tests.local.conftest import SCRIPTS, make_client
from tests.realprocs.harness import Airflow, BackendProcess, kill_leftover_training, poll_until
from tests.soak.proxy import DroppingProxy

DAG_FILE = "soak_dags.py"
DAG_IDS = ("soak_deferred", "soak_sync", "soak_mixed", "soak_crash")
CRASH_DAG = "soak_crash"
RUNS_PER_DAG = 2
TASKS_PER_RUN = 5
EXPECTED_TASKS = len(DAG_IDS) * RUNS_PER_DAG * TASKS_PER_RUN
STATUS_OPERATIONS = (
    "DescribeHyperParameterTuningJob",
    "DescribeTrainingJob",
    "ListHyperParameterTuningJobs",
    "ListTrainingJobsForHyperParameterTuningJob",
    "ListTrainingJobs",
    "ListTags",
)
TERMINAL_TI = ("success", "failed", "upstream_failed", "skipped", "removed")

TaskKey = tuple[str, str, str, int]


@dataclass
class SoakConfig:
    throttle_rate: float = 0.3  # of the status calls
    server_error_rate: float = 0.1  # of the status calls
    fault_seed: int = 1
    triggerer_kills: int = 2
    backend_restarts: int = 1
    drop_rate: float = 0.03  # of the connections to the backend, closed before the answer
    crash_after_create: bool = True  # soak_crash's first tries exit right after the create
    training_sleep: float = 2.0  # seconds per epoch of quadratic.py
    budget_seconds: float = 600.0

    def backend_args(self) -> list[str]:
        rate = self.throttle_rate + self.server_error_rate
        if rate <= 0:
            return []
        spec = ",".join(f"{operation}={rate:g}" for operation in STATUS_OPERATIONS)
        share = self.server_error_rate / rate
        return ["--faults", spec, "--server-error-share", f"{share:g}", "--fault-seed", str(self.fault_seed)]


@dataclass
class Figures:
    tasks: int = 0
    tasks_succeeded: int = 0
    jobs_created: int = 0
    jobs_in_store: int = 0
    duplicates: int = 0
    tasks_without_job: int = 0
    orphans: int = 0
    xcom_mismatches: int = 0
    tasks_not_succeeded: int = 0
    tries_failed_by_transient_faults: int = 0
    crashes_after_create: int = 0
    triggerer_kills: int = 0
    backend_restarts: int = 0
    connections_dropped: int = 0
    retries_from_airflow_race: int = 0
    transient_errors_retried: int = 0
    connection_errors_retried: int = 0
    wall_seconds: float = 0.0
    details: list[str] = field(default_factory=list)

    ROWS = (
        ("tasks (4 DAGs x 2 runs x 5)", "tasks"),
        ("tasks succeeded", "tasks_succeeded"),
        ("tuning jobs created (List on the backend)", "jobs_created"),
        ("tuning jobs in the backend's store", "jobs_in_store"),
        ("duplicates (jobs beyond one per task)", "duplicates"),
        ("tasks without a job", "tasks_without_job"),
        ("orphans (InProgress/Stopping, no task waiting)", "orphans"),
        ("XCom results disagreeing with the backend", "xcom_mismatches"),
        ("tasks not succeeded", "tasks_not_succeeded"),
        ("tries failed by an error (a transient fault...)", "tries_failed_by_transient_faults"),
        ("extra tries ended by Airflow, not by an error", "retries_from_airflow_race"),
        ("injected: crashes right after create", "crashes_after_create"),
        ("injected: triggerer SIGKILLs (restarted)", "triggerer_kills"),
        ("injected: backend SIGKILLs (restarted)", "backend_restarts"),
        ("injected: connections closed before the answer", "connections_dropped"),
        ("transient errors waited out by hook/trigger (logged)", "transient_errors_retried"),
        ("  of which connection errors", "connection_errors_retried"),
        ("wall time (s)", "wall_seconds"),
    )

    def clean(self) -> bool:
        """Nothing lost, duplicated, orphaned or failed, and every task ran."""
        return (
            self.tasks == EXPECTED_TASKS
            and self.tasks_succeeded == EXPECTED_TASKS
            and self.jobs_created == EXPECTED_TASKS
            and self.duplicates == 0
            and self.tasks_without_job == 0
            and self.orphans == 0
            and self.xcom_mismatches == 0
            and self.tries_failed_by_transient_faults == 0
            and self.retries_from_airflow_race == 0
        )

    def table(self) -> str:
        width = max(len(label) for label, _ in self.ROWS)
        lines = [f"| {'figure'.ljust(width)} | value |", f"| {'-' * width} | ----- |"]
        for label, attribute in self.ROWS:
            value = getattr(self, attribute)
            shown = f"{value:.0f}" if isinstance(value, float) else str(value)
            lines.append(f"| {label.ljust(width)} | {shown.rjust(5)} |")
        return "\n".join(lines)


class RetryingClient:
    """A boto3 client whose calls are repeated at once through the backend's injected faults."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, operation: str) -> Callable[..., Any]:
        method = getattr(self._client, operation)
        if not callable(method) or operation.startswith("get_"):
            return method

        def call(**kwargs: Any) -> Any:
            for _ in range(200):
                try:
                    return method(**kwargs)
                except ClientError as error:
                    if not is_transient(error):
                        raise
                    time.sleep(0.02)
            return method(**kwargs)

        return call


def _log(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", flush=True)


@contextmanager
def soak_processes(
    workdir: Path, config: SoakConfig, migrated_db: Path | None = None
) -> Iterator[tuple[Airflow, BackendProcess, DroppingProxy]]:
    """The backend, the proxy Airflow reaches it through, and the Airflow home (its database copied
    from `migrated_db` if given, else migrated); always stopped (with any training script left over)."""
    backend_home = workdir / "sagemaker"
    backend = BackendProcess(backend_home, workdir / "local-sagemaker.log", config.backend_args())
    proxy: DroppingProxy | None = None
    try:
        backend.start()
        proxy = DroppingProxy(backend.port, config.drop_rate, seed=config.fault_seed).start()
        airflow = Airflow(
            workdir / "airflow",
            proxy.endpoint_url,
            [DAG_FILE],
            {
                "SOAK_SCRIPTS": SCRIPTS.as_uri(),
                "SOAK_TRAINING_SLEEP": str(config.training_sleep),
                "SOAK_CRASH_AFTER_CREATE": "1" if config.crash_after_create else "0",
            },
            migrated_db=migrated_db,
        )
        try:
            yield airflow, backend, proxy
        finally:
            airflow.stop_all()
    finally:
        if proxy is not None:
            proxy.close()
        backend.stop()
        kill_leftover_training(backend_home)


class Soak:
    def __init__(
        self, airflow: Airflow, backend: BackendProcess, proxy: DroppingProxy, config: SoakConfig
    ) -> None:
        self.airflow = airflow
        self.backend = backend
        self.proxy = proxy
        self.config = config
        self.started = time.monotonic()
        self.deadline = self.started + config.budget_seconds
        self.triggerers = 0
        self.figures = Figures()

    # --- reading Airflow's and the backend's state -------------------------------------------------
    def _context(self) -> str:
        return self.airflow.log_tail() + "\n" + self.backend.log.read_text(errors="replace")[-3000:]

    def until(self, what: str, check: Callable[[], Any]) -> Any:
        return poll_until(what, check, self.deadline, self._context)

    def task_states(self) -> list[tuple[str, str, str, int, str | None, int]]:
        """Every soak task instance."""
        placeholders = ",".join("?" * len(DAG_IDS))
        return [
            (dag_id, task_id, run_id, int(map_index), state, int(try_number))
            for dag_id, task_id, run_id, map_index, state, try_number in self.airflow.query(
                "select dag_id, task_id, run_id, map_index, state, try_number from task_instance "
                f"where dag_id in ({placeholders})",
                *DAG_IDS,
            )
        ]

    def stored_jobs(self) -> list[dict[str, Any]]:
        folder = self.backend.home / "state" / "hyper-parameter-tuning-job"
        if not folder.exists():
            return []
        jobs = []
        for path in folder.glob("*.json"):
            try:
                jobs.append(json.loads(path.read_text())["fields"])  # its Describe members
            except (OSError, ValueError):  # being replaced right now
                continue
        return jobs

    def assigned_triggers(self, triggerer_id: int | None = None) -> int:
        sql = (
            "select count(*) from task_instance ti join trigger t on t.id = ti.trigger_id "
            "where ti.state = 'deferred' and t.triggerer_id is not null"
        )
        if triggerer_id is None:
            return int(self.airflow.query(sql)[0][0])
        return int(self.airflow.query(sql + " and t.triggerer_id = ?", triggerer_id)[0][0])

    def triggerer_job_ids(self) -> set[int]:
        return {
            int(row[0]) for row in self.airflow.query("select id from job where job_type = 'TriggererJob'")
        }

    def running_sync_tasks(self) -> int:
        return int(
            self.airflow.query(
                "select count(*) from task_instance where dag_id = 'soak_sync' and state = 'running'"
            )[0][0]
        )

    # --- faults ----------------------------------------------------------------------------------
    def start_triggerer(self) -> int:
        before = self.triggerer_job_ids()
        self.triggerers += 1
        self.airflow.start(f"triggerer-{self.triggerers}", "triggerer")
        new = self.until("the triggerer to register", lambda: self.triggerer_job_ids() - before)
        return int(min(new))

    def kill_triggerer(self, triggerer_id: int) -> int:
        self.until(
            f"deferred tasks on triggerer {triggerer_id}",
            lambda: self.assigned_triggers(triggerer_id) >= 2,
        )
        deferred = self.assigned_triggers(triggerer_id)
        self.airflow.kill(f"triggerer-{self.triggerers}")
        self.figures.triggerer_kills += 1
        _log(f"SIGKILLed triggerer {triggerer_id} with {deferred} deferred task(s) on it; starting another")
        return self.start_triggerer()

    def restart_backend(self) -> None:
        self.until(
            "jobs running on the backend while sync tasks poll",
            lambda: (
                self.running_sync_tasks() >= 1
                and sum(
                    job.get("HyperParameterTuningJobStatus") == "InProgress" for job in self.stored_jobs()
                )
                >= 2
            ),
        )
        in_progress = sum(
            job.get("HyperParameterTuningJobStatus") == "InProgress" for job in self.stored_jobs()
        )
        self.backend.kill()
        kill_leftover_training(self.backend.home)
        self.figures.backend_restarts += 1
        _log(f"SIGKILLed the backend with {in_progress} job(s) InProgress")
        # down until a client has seen the connection refused (bounded: restart anyway after 20 s)
        down_until = min(self.deadline, time.monotonic() + 20)
        while time.monotonic() < down_until and not self.connection_errors():
            time.sleep(0.5)
        self.backend.start()
        _log(f"restarted the backend on port {self.backend.port} (same home)")

    def log_files(self) -> list[Path]:
        return [
            *self.airflow.logs.glob("*.log"),
            *(self.airflow.home / "logs").rglob("*.log"),
        ]

    def _count_in_logs(self, pattern: re.Pattern[str]) -> int:
        total = 0
        for path in self.log_files():
            try:
                total += len(pattern.findall(path.read_text(errors="replace")))
            except OSError:
                continue
        return total

    def tries_failed_with_an_error(self, key: TaskKey) -> list[int]:
        """The tries of a task whose log records an exception that failed it."""
        dag_id, task_id, run_id, map_index = key
        folder = self.airflow.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            folder /= f"map_index={map_index}"
        failed = []
        for path in folder.glob("attempt=*.log"):
            if TASK_ERROR in path.read_text(errors="replace"):
                failed.append(int(path.name.removeprefix("attempt=").removesuffix(".log")))
        return sorted(failed)

    def connection_errors(self) -> int:
        return self._count_in_logs(CONNECTION_ERROR)

    # --- the run ---------------------------------------------------------------------------------
    def run(self) -> Figures:
        airflow = self.airflow
        airflow.start_services(DAG_IDS, self.deadline, "scheduler", "dag-processor")
        triggerer = self.start_triggerer()
        placeholders = ",".join("?" * len(DAG_IDS))
        _log("DAGs parsed; the scheduler runs them (catchup: two runs each)")

        kills_left = self.config.triggerer_kills
        if kills_left:
            triggerer = self.kill_triggerer(triggerer)
            kills_left -= 1
        for _ in range(self.config.backend_restarts):
            self.restart_backend()
        while kills_left:
            triggerer = self.kill_triggerer(triggerer)
            kills_left -= 1

        def all_done() -> bool:
            runs = airflow.query(f"select state from dag_run where dag_id in ({placeholders})", *DAG_IDS)
            return len(runs) == len(DAG_IDS) * RUNS_PER_DAG and all(
                state in ("success", "failed") for (state,) in runs
            )

        self.until("every soak run to end", all_done)
        self.figures.wall_seconds = time.monotonic() - self.started
        _log("every run ended; counting")
        self.count()
        return self.figures

    # --- the count -------------------------------------------------------------------------------
    def count(self) -> None:
        figures = self.figures
        client = RetryingClient(make_client(self.backend.endpoint_url))
        summaries: list[dict[str, Any]] = []
        token: dict[str, str] = {}
        while True:
            page = client.list_hyper_parameter_tuning_jobs(MaxResults=100, **token)
            summaries.extend(page["HyperParameterTuningJobSummaries"])
            if not page.get("NextToken"):
                break
            token = {"NextToken": page["NextToken"]}
        figures.jobs_created = len(summaries)
        stored = self.stored_jobs()
        figures.jobs_in_store = len(stored)
        if {s["HyperParameterTuningJobName"] for s in summaries} != {
            job.get("HyperParameterTuningJobName") for job in stored
        }:
            figures.details.append("List and the store disagree on the job names")

        tasks = {(d, t, r, m): (state, tries) for d, t, r, m, state, tries in self.task_states()}
        figures.tasks = len(tasks)
        figures.tasks_succeeded = sum(state == "success" for state, _ in tasks.values())
        figures.tasks_not_succeeded = figures.tasks - figures.tasks_succeeded
        for key, (state, _) in tasks.items():
            if state != "success":
                figures.details.append(f"task {key} ended {state}")

        jobs_of: dict[TaskKey, list[str]] = {}
        for summary in summaries:
            name = summary["HyperParameterTuningJobName"]
            tags = {
                tag["Key"]: tag["Value"]
                for tag in client.list_tags(ResourceArn=summary["HyperParameterTuningJobArn"])["Tags"]
            }
            key = (
                tags.get(TAG_DAG_ID, ""),
                tags.get(TAG_TASK_ID, ""),
                tags.get(TAG_RUN_ID, ""),
                int(tags.get(TAG_MAP_INDEX, "-9")),
            )
            jobs_of.setdefault(key, []).append(name)
            waiting = tasks.get(key, (None, 0))[0] in (
                "running",
                "deferred",
                "queued",
                "scheduled",
                "up_for_retry",
            )
            if summary["HyperParameterTuningJobStatus"] in ("InProgress", "Stopping") and not waiting:
                figures.orphans += 1
                figures.details.append(f"orphan: {name} {summary['HyperParameterTuningJobStatus']} for {key}")
        for key, names in jobs_of.items():
            if key not in tasks:
                figures.duplicates += len(names)
                figures.details.append(f"jobs of no task: {names} tagged {key}")
            elif len(names) > 1:
                figures.duplicates += len(names) - 1
                figures.details.append(f"duplicates for {key}: {names}")
        figures.tasks_without_job = sum(key not in jobs_of for key in tasks)

        xcoms = {
            # a JSON string on SQLite, already decoded from Postgres' JSONB
            (d, t, r, int(m)): json.loads(value) if isinstance(value, str | bytes) else value
            for d, t, r, m, value in self.airflow.query(
                "select dag_id, task_id, run_id, map_index, value from xcom where key = 'return_value' "
                f"and dag_id in ({','.join('?' * len(DAG_IDS))})",
                *DAG_IDS,
            )
        }
        for key in tasks:
            problem = self._xcom_problem(client, key, jobs_of.get(key, []), xcoms.get(key))
            if problem:
                figures.xcom_mismatches += 1
                figures.details.append(f"xcom of {key}: {problem}")

        figures.crashes_after_create = sum(
            1 for (dag_id, *_), (_, tries) in tasks.items() if dag_id == CRASH_DAG and tries >= 2
        )
        # A try that failed with an error in the task (an exception: a transient fault let through
        # would be one) is in its log. Other extra tries were ended from outside the task: the
        # injected crash (one per soak_crash task), or Airflow's race between the executor's event for
        # a process that deferred and the trigger's resumption of the same try (the scheduler then
        # fails a try it should not; it is not a fault of the backend nor of the operator).
        for key, (_, tries) in tasks.items():
            failed = self.tries_failed_with_an_error(key)
            if failed:
                figures.tries_failed_by_transient_faults += len(failed)
                figures.details.append(f"{key}: tries {failed} failed with an error")
            expected = self.expected_tries(key)
            if tries - len(failed) > expected:
                figures.retries_from_airflow_race += tries - len(failed) - expected
                figures.details.append(f"{key} ran {tries} tries, expected {expected} (ended by Airflow)")
        figures.connections_dropped = self.proxy.dropped
        figures.transient_errors_retried = self._count_in_logs(TRANSIENT_ERROR)
        figures.connection_errors_retried = self.connection_errors()

    def expected_tries(self, key: TaskKey) -> int:
        """One, and one more for the injected crash's retry."""
        return 1 + (key[0] == CRASH_DAG and self.config.crash_after_create)

    @staticmethod
    def _xcom_problem(client: Any, key: TaskKey, names: list[str], result: Any) -> str | None:
        if len(names) != 1:
            return f"{len(names)} job(s) for the task"
        if not isinstance(result, dict):
            return f"no result ({result!r})"
        (name,) = names
        described = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        best = described.get("BestTrainingJob") or {}
        expected = {
            "tuning_job_name": name,
            "status": described["HyperParameterTuningJobStatus"],
            "best_training_job_name": best.get("TrainingJobName"),
            "best_training_job_arn": best.get("TrainingJobArn"),
            "objective_value": (best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}).get("Value"),
        }
        if best.get("TrainingJobName"):
            training = client.describe_training_job(TrainingJobName=best["TrainingJobName"])
            expected["model_artifacts"] = training["ModelArtifacts"]["S3ModelArtifacts"]
        wrong = {k: (result.get(k), v) for k, v in expected.items() if result.get(k) != v}
        if expected["status"] != "Completed":
            wrong["backend status"] = (expected["status"], "Completed")
        return f"(xcom, backend) differ: {wrong}" if wrong else None


TASK_ERROR = "Task failed with exception"
TRANSIENT_ERROR = re.compile(r"Transient SageMaker error|transient", re.IGNORECASE)
CONNECTION_ERROR = re.compile(
    r"Could not connect to the endpoint URL|Connection was closed|ConnectionClosedError"
)


def run_soak(workdir: Path, config: SoakConfig | None = None, migrated_db: Path | None = None) -> Figures:
    config = config or SoakConfig()
    with soak_processes(workdir, config, migrated_db) as (airflow, backend, proxy):
        soak = Soak(airflow, backend, proxy, config)
        figures = soak.run()
    _log("figures:\n" + figures.table())
    for detail in figures.details:
        _log(detail)
    return figures
