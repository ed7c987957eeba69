"""The soak on the production-shaped stack (tests/realprocs/stack.py: Postgres, Redis, the
CeleryExecutor, two triggerers): today's 40 tasks and faults (tests/soak/soak.py), plus

- a triggerer SIGKILLed while it holds deferred tasks: they move to the other triggerer once
  `[triggerer] triggerer_health_check_threshold` has passed, set to 10 s here (Airflow's default is
  30 s) so that the move happens within the soak; the killed one is started again, as a container
  would be; twice, early, while many tasks are deferred;
- the Celery worker that runs soak_crash's tasks (queue `crash`, a worker of its own so that the
  kill reaches only tasks configured with retries) SIGKILLed while a first try of soak_crash runs
  its create, and started again (soak_crash gets two retries here: a retry running on that worker
  dies too, and its task is allowed one more try); Airflow detects the dead tries after
  `[scheduler] task_instance_heartbeat_timeout`, set to 60 s here (default 300 s);
- the scheduler SIGKILLed and started again, once, right after the worker: the tries it queued are
  adopted by the new scheduler only after `[scheduler] orphaned_tasks_check_interval`, set to 20 s
  here (default 300 s), and only then checked for their heartbeat.

A try the crash worker had begun to start but not yet marked running dies with it, its task still
queued, and Airflow queues it again only once `[scheduler] task_queued_timeout` has passed (two
soaks in eight waited 600 s or 240 s for it). Such a try never reached our operator, so the worker
is killed only while no try of soak_crash is starting. As a safety net the timeout is 240 s here,
checked every 30 s (defaults 600 s and 120 s): three times the longest a try waited here for a
worker slot (77 s, one core busy), since a try requeued while it starts could die by Airflow's hand.

Every training job waits, after its epoch, for a release file (`SOAK_HOLD`) that the soak creates
once all faults are injected: each fault waits for a state that lasts (a triggerer holding
deferred tasks, a try running on the crash worker, jobs InProgress while sync tasks poll) instead
of one that may pass unseen on a busy machine. The default worker has 16 slots (Airflow's default),
so the 14 sync tasks held in theirs leave room for the deferrable tasks to create and defer.

Used by benchmarks/soak.py --stack production and tests/soak/test_production_soak.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.realprocs import services
from tests.realprocs.harness import free_port
from tests.realprocs.stack import STATE_FILE, Stack
from tests.soak.proxy import DroppingProxy
from tests.soak.soak import (
    CRASH_DAG,
    DAG_FILE,
    DAG_IDS,
    RUNS_PER_DAG,
    Figures,
    Soak,
    SoakConfig,
    TaskKey,
    _log,
)

HEALTH_CHECK_THRESHOLD = 10
HEARTBEAT_TIMEOUT = 60
ORPHAN_CHECK_INTERVAL = 20
QUEUED_TIMEOUT = 240
QUEUED_TIMEOUT_CHECK_INTERVAL = 30
CRASH_QUEUE = "crash"
CRASH_WORKER = "worker-crash"
RELEASE_FILE = "release-training"
SHARED_POLL = re.compile(r"Shared poll: (\d+) tuning job\(s\) watched, (?:([\d.]+) job\(s\) per List call)?")


@dataclass
class ProductionFigures(Figures):
    triggers_moved: int = 0
    worker_kills: int = 0
    tries_killed_with_the_worker: int = 0
    scheduler_restarts: int = 0
    triggerers_with_shared_poll: int = 0
    triggerers_with_triggers: int = 0

    ROWS = (
        *Figures.ROWS[:-1],
        ("injected: deferred tasks on a killed triggerer, moved", "triggers_moved"),
        ("injected: Celery worker SIGKILLs during a create", "worker_kills"),
        ("  tries killed with it (failed by Airflow, retried)", "tries_killed_with_the_worker"),
        ("injected: scheduler restarts (SIGKILL)", "scheduler_restarts"),
        ("triggerers that ran triggers", "triggerers_with_triggers"),
        ("  of which logged their shared poll", "triggerers_with_shared_poll"),
        Figures.ROWS[-1],
    )

    def clean(self) -> bool:
        return super().clean() and self.triggerers_with_shared_poll == self.triggerers_with_triggers


@contextmanager
def production_processes(workdir: Path, config: SoakConfig) -> Iterator[tuple[Stack, DroppingProxy]]:
    """The stack with the soak's DAGs and settings, Airflow reaching the backend through the proxy,
    and the crash queue's worker; always taken down."""
    stack = Stack(
        workdir / "stack",
        settings={
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(HEALTH_CHECK_THRESHOLD),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
            "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": str(ORPHAN_CHECK_INTERVAL),
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": str(QUEUED_TIMEOUT),
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": str(QUEUED_TIMEOUT_CHECK_INTERVAL),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "16",
            "SOAK_SCRIPTS": config_scripts(),
            "SOAK_TRAINING_SLEEP": str(config.training_sleep),
            "SOAK_CRASH_AFTER_CREATE": "1" if config.crash_after_create else "0",
            "SOAK_CRASH_QUEUE": CRASH_QUEUE,
            "SOAK_CRASH_RETRIES": "2",
            "SOAK_HOLD": str(workdir / RELEASE_FILE),
        },
        dag_files=[DAG_FILE],
        backend_args=config.backend_args(),
    )
    proxy: DroppingProxy | None = None
    try:
        stack.start_servers()
        proxy = DroppingProxy(stack.backend.port, config.drop_rate, seed=config.fault_seed).start()
        stack.start_airflow(proxy.endpoint_url)
        start_crash_worker(stack)
        stack.wait_ready()
        yield stack, proxy
    finally:
        if proxy is not None:
            proxy.close()
        if (stack.state / STATE_FILE).exists():
            stack.down()


def config_scripts() -> str:
    from tests.local.conftest import SCRIPTS

    return SCRIPTS.as_uri()


def start_crash_worker(stack: Stack) -> None:
    assert stack.airflow is not None
    stack.airflow.start(
        CRASH_WORKER,
        *services.WORKER.command,
        *("--queues", CRASH_QUEUE, "--celery-hostname", f"{CRASH_QUEUE}@%h"),
        env={"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())},
    )
    stack.record()


class ProductionSoak(Soak):
    def __init__(self, stack: Stack, proxy: DroppingProxy, config: SoakConfig, release: Path) -> None:
        assert stack.airflow is not None
        super().__init__(stack.airflow, stack.backend, proxy, config)
        self.stack = stack
        self.release = release
        self.figures: ProductionFigures = ProductionFigures()
        self.killed_retries: set[TaskKey] = set()

    # --- the new faults --------------------------------------------------------------------------
    def kill_a_holding_triggerer(self) -> None:
        def holding() -> str | None:
            # its shared poll logged first: a triggerer killed before its first poll has nothing to show
            return next(
                (
                    name
                    for name, job in self.stack.triggerer_jobs.items()
                    if self.assigned_triggers(job) >= 2 and self.shared_poll_logs(job)
                ),
                None,
            )

        name = self.until("a triggerer holding two deferred tasks, its shared poll logged", holding)
        job = self.stack.triggerer_jobs[name]
        held = {
            int(row[0])
            for row in self.airflow.query(
                "select t.id from trigger t join task_instance ti on ti.trigger_id = t.id "
                "where ti.state = 'deferred' and t.triggerer_id = ?",
                job,
            )
        }
        self.airflow.kill(name)
        self.figures.triggerer_kills += 1
        _log(f"SIGKILLed {name} (job {job}) holding {len(held)} deferred task(s)")

        def moved() -> bool:
            rows = self.airflow.query("select id, triggerer_id from trigger")
            return all(triggerer != job for trigger, triggerer in rows if trigger in held)

        self.until("its triggers to move to the other triggerer", moved)
        self.figures.triggers_moved += len(held)
        _log(f"the {len(held)} trigger(s) of {name} moved; starting {name} again")
        self.stack.start_component(services.TRIGGERER, int(name.rsplit("-", 1)[1]))

    def running_crash_tries(self) -> dict[TaskKey, int]:
        return {
            (CRASH_DAG, task_id, run_id, int(map_index)): int(try_number)
            for task_id, run_id, map_index, try_number in self.airflow.query(
                "select task_id, run_id, map_index, try_number from task_instance "
                "where dag_id = ? and state = 'running'",
                CRASH_DAG,
            )
        }

    def crash_tries_starting(self) -> int:
        """Tries of soak_crash sent to a worker but not yet running."""
        return len(
            self.airflow.query("select 1 from task_instance where dag_id = ? and state = 'queued'", CRASH_DAG)
        )

    def kill_the_crash_worker(self) -> None:
        # a first try dies by itself right after its create; a retry of a sync task waits (held).
        # None may be starting: a try the kill meets before it runs never reaches our operator, and
        # stays queued until Airflow's task_queued_timeout (minutes) queues it again.
        self.until(
            "a try of soak_crash running, and none starting",
            lambda: self.running_crash_tries() and not self.crash_tries_starting(),
        )
        self.airflow.kill(CRASH_WORKER)
        # read after the kill: a try cannot start on a dead worker, and the scheduler marks the killed
        # ones failed only after the heartbeat timeout
        running = self.running_crash_tries()
        self.figures.worker_kills += 1
        self.figures.tries_killed_with_the_worker += len(running)
        # a first try killed would have crashed anyway; a retry killed costs its task one more try
        self.killed_retries = {key for key, try_number in running.items() if try_number >= 2}
        _log(f"SIGKILLed the Celery worker of queue {CRASH_QUEUE} running tries {sorted(running.values())}")
        start_crash_worker(self.stack)

    def expected_tries(self, key: TaskKey) -> int:
        return super().expected_tries(key) + (key in self.killed_retries)

    def release_training(self) -> None:
        self.release.touch()
        _log("every fault injected; the held training jobs go on")

    def restart_scheduler(self) -> None:
        self.airflow.kill(services.SCHEDULER.command[0])
        self.figures.scheduler_restarts += 1
        _log("SIGKILLed the scheduler; starting it again")
        self.stack.start_component(services.SCHEDULER)

    # --- the run ---------------------------------------------------------------------------------
    def run(self) -> Figures:
        placeholders = ",".join("?" * len(DAG_IDS))
        self.until(
            "the soak DAGs to be parsed",
            lambda: (
                len(
                    self.airflow.query(
                        f"select dag_id from serialized_dag where dag_id in ({placeholders})", *DAG_IDS
                    )
                )
                == len(DAG_IDS)
            ),
        )
        _log("DAGs parsed; the scheduler runs them (catchup: two runs each)")
        # early: soak_crash's first tries run at the start, and the triggerer kills need tasks
        # deferred, which late in the run may not be
        if self.config.crash_after_create:
            self.kill_the_crash_worker()
        self.restart_scheduler()
        for _ in range(self.config.triggerer_kills):
            self.kill_a_holding_triggerer()
        for _ in range(self.config.backend_restarts):
            self.restart_backend()
        self.release_training()

        def all_done() -> bool:
            runs = self.airflow.query(f"select state from dag_run where dag_id in ({placeholders})", *DAG_IDS)
            return len(runs) == len(DAG_IDS) * RUNS_PER_DAG and all(
                state in ("success", "failed") for (state,) in runs
            )

        self.until("every soak run to end", all_done)
        self.figures.wall_seconds = time.monotonic() - self.started
        _log("every run ended; counting")
        self.count()
        self.count_shared_polls()
        return self.figures

    def trigger_logs(self) -> dict[int, list[Path]]:
        """The trigger logs of each triggerer job: `*.log.trigger.<triggerer job id>.log`."""
        logs: dict[int, list[Path]] = {}
        for path in (self.airflow.home / "logs").rglob("*.log.trigger.*.log"):
            logs.setdefault(int(path.name.rsplit(".", 2)[1]), []).append(path)
        return logs

    def shared_poll_logs(self, job: int) -> list[tuple[str, str]]:
        """The shared-poll lines a triggerer job logged: (jobs watched, jobs per List call)."""
        return [
            match
            for path in self.trigger_logs().get(job, [])
            for match in SHARED_POLL.findall(path.read_text(errors="replace"))
        ]

    def count_shared_polls(self) -> None:
        """Each triggerer that ran triggers logged its shared poll (in its trigger logs): the most
        jobs it watched, and per List call."""
        for job in sorted(self.trigger_logs()):
            polls = self.shared_poll_logs(job)
            self.figures.triggerers_with_triggers += 1
            if polls:
                self.figures.triggerers_with_shared_poll += 1
            watched = max((int(jobs) for jobs, _ in polls), default=0)
            per_list = max((float(ratio) for _, ratio in polls if ratio), default=0.0)
            listing = f"up to {per_list:.1f} job(s) per List call" if per_list else "no List call"
            line = (
                f"triggerer job {job}: {len(polls)} shared-poll line(s), up to {watched} job(s) watched, "
                f"{listing}"
            )
            self.figures.details.append(line)
            _log(line)


def run_production_soak(workdir: Path, config: SoakConfig | None = None) -> ProductionFigures:
    config = config or SoakConfig()
    with production_processes(workdir, config) as (stack, proxy):
        figures = ProductionSoak(stack, proxy, config, workdir / RELEASE_FILE).run()
    _log("figures:\n" + figures.table())
    for detail in figures.details:
        _log(detail)
    assert isinstance(figures, ProductionFigures)
    return figures
