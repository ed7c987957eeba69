"""The production-shaped stack (scripts/stack: Postgres, Redis, CeleryExecutor, two triggerers) as
real processes: one trigger held by both triggerers at once doubles nothing, and `down` leaves no
process and no port behind.

Both triggerers hold the same trigger as Airflow documents it can happen: the triggerer running it
stalls (SIGSTOP) past `[triggerer] triggerer_health_check_threshold`, set low here (10 s, against
Airflow's 30 s default) so that it happens within the test; the other takes the trigger over and
runs it; the stalled one resumes (SIGCONT) with the trigger still running in it. The job completes
while both are stopped, and both resume together, so both see it end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.local.conftest import SCRIPTS
from tests.realprocs import services
from tests.realprocs.harness import REPO, wait_until
from tests.realprocs.stack import STATE_FILE, Stack, port_in_use, session_members

DAG_ID = "hpt_local_realprocs"
HEALTH_CHECK_THRESHOLD = 10
TEST_BUDGET_SECONDS = 420
# a triggerer polls a single job once per check_interval (1 s): two triggerers, about two a second
MOST_DESCRIBES_IN_TWO_SECONDS = 8

# one at a time, on one pytest-xdist worker (--dist loadgroup), beside the soaks' worker: each starts
# a whole Airflow, and more at once on a 2-core machine would starve each other's processes
pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("airflow-processes"),
    pytest.mark.timeout(2 * TEST_BUDGET_SECONDS),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    started = Stack(
        tmp_path_factory.mktemp("stack"),
        settings={
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(HEALTH_CHECK_THRESHOLD),
            # two cores: the worker slots of the real-process tests (parallelism 4)
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "4",
        },
        dag_files=[f"{DAG_ID}.py"],
    )
    try:
        started.up()
        yield started
    finally:
        if (started.state / STATE_FILE).exists():
            started.down()


def _requests(stack: Stack, action: str) -> list[float]:
    """When the backend answered `action` (its request log: `<epoch> <service:Action> <allowed>`)."""
    log = stack.backend.home / "requests.log"
    times = []
    for line in log.read_text().splitlines():
        stamp, name, _ = line.split()
        if name == f"sagemaker:{action}":
            times.append(float(stamp))
    return times


def _most_in_window(times: list[float], seconds: float) -> int:
    times = sorted(times)
    return max((sum(1 for t in times[i:] if t - start < seconds) for i, start in enumerate(times)), default=0)


def _stored_status(stack: Stack) -> str | None:
    (path,) = (stack.backend.home / "state" / "hyper-parameter-tuning-job").glob("*.json")
    try:
        return str(json.loads(path.read_text())["fields"]["HyperParameterTuningJobStatus"])
    except ValueError:  # being replaced right now
        return None


def _signal_session(stack: Stack, name: str, sig: int) -> None:
    assert stack.airflow is not None
    os.killpg(stack.airflow.processes[name].pid, sig)


def test_a_trigger_in_two_triggerers_at_once_doubles_nothing(stack: Stack, tmp_path: Path) -> None:
    airflow = stack.airflow
    assert airflow is not None
    deadline = time.monotonic() + TEST_BUDGET_SECONDS
    release = tmp_path / "release"
    wait_until(
        "the DAG to be parsed",
        lambda: airflow.query("select 1 from serialized_dag where dag_id = ?", DAG_ID),
        deadline,
        airflow,
    )
    airflow.run(
        "dags", "trigger", DAG_ID, "--conf", json.dumps({"scripts": SCRIPTS.as_uri(), "hold": str(release)})
    )

    def holder() -> int | None:
        rows = airflow.query(
            "select t.triggerer_id from task_instance ti join trigger t on t.id = ti.trigger_id "
            "where ti.dag_id = ? and ti.state = 'deferred' and t.triggerer_id is not null",
            DAG_ID,
        )
        return int(rows[0][0]) if rows else None

    first_id = wait_until("the task to defer to a triggerer", holder, deadline, airflow)
    by_id = {job_id: name for name, job_id in stack.triggerer_jobs.items()}
    first = by_id[first_id]
    (second,) = set(stack.triggerer_jobs) - {first}
    wait_until(
        f"{first} to poll the job",
        lambda: len(_requests(stack, "DescribeHyperParameterTuningJob")) >= 2,
        deadline,
        airflow,
    )

    stopped = [first]
    _signal_session(stack, first, signal.SIGSTOP)
    try:
        # past the threshold the stalled triggerer counts as dead: the other takes the trigger
        wait_until(
            f"{second} to take the trigger over",
            lambda: holder() == stack.triggerer_jobs[second],
            deadline,
            airflow,
        )
        taken_over = time.time()
        wait_until(
            f"{second} to poll the job",
            lambda: any(t > taken_over for t in _requests(stack, "DescribeHyperParameterTuningJob")),
            deadline,
            airflow,
        )
        # both stopped while the job ends; both resume with the trigger running in each
        _signal_session(stack, second, signal.SIGSTOP)
        stopped.append(second)
        release.touch()
        wait_until("the job to complete", lambda: _stored_status(stack) == "Completed", deadline, airflow)
        completed_at = time.time()
    finally:
        for name in stopped:
            _signal_session(stack, name, signal.SIGCONT)

    def ended() -> str | None:
        (state,) = airflow.query("select state from task_instance where dag_id = ?", DAG_ID)[0]
        return state if state in {"success", "failed", "up_for_retry"} else None

    assert wait_until("the task to end", ended, deadline, airflow) == "success", airflow.log_tail()

    # one event resumed the task once: one try, no retry, and one job
    assert airflow.query("select try_number from task_instance where dag_id = ?", DAG_ID) == [(1,)]
    assert airflow.query("select count(*) from task_instance_history where dag_id = ?", DAG_ID) == [(0,)]
    assert len(_requests(stack, "CreateHyperParameterTuningJob")) == 1
    # no burst of Describes, and nothing stopped the job
    describes = _requests(stack, "DescribeHyperParameterTuningJob")
    assert _most_in_window(describes, 2.0) <= MOST_DESCRIBES_IN_TWO_SECONDS, sorted(describes)
    # the job stopped at most once, and never while it ran: the stalled triggerer, resuming, cancels
    # its copy of the trigger, which Airflow 3.3 does as for a user kill (on_kill; docs/deploying.md)
    stops = _requests(stack, "StopHyperParameterTuningJob")
    assert len(stops) <= 1 and all(stop > completed_at for stop in stops), (stops, completed_at)
    assert _stored_status(stack) == "Completed"
    # both triggerers ran the trigger: each logged its shared poll (in the trigger's log of that
    # triggerer, attempt=1.log.trigger.<triggerer job id>.log)
    for name in (first, second):
        (log,) = (airflow.home / "logs").rglob(f"attempt=1.log.trigger.{stack.triggerer_jobs[name]}.log")
        assert "Shared poll: 1 tuning job(s) watched" in log.read_text()


def test_down_leaves_no_process_and_no_port(stack: Stack) -> None:
    recorded = json.loads((stack.state / STATE_FILE).read_text())
    assert set(recorded["processes"]) == {
        *services.SERVERS,
        services.BACKEND,
        "api-server",
        "scheduler",
        "dag-processor",
        "worker",
        "triggerer-1",
        "triggerer-2",
    }
    members = {pid for entry in recorded["processes"].values() for pid in session_members(entry["pid"])}
    assert len(members) > len(recorded["processes"])  # the children (postgres' and the worker's) too
    # the documented command: scripts/stack down runs this module
    done = subprocess.run(
        [sys.executable, "-m", "tests.realprocs.stack", "down", "--state", str(stack.state)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for process in stack.processes().values():
        process.poll()  # reap the children of this process, so that none lingers as a zombie
    alive = [pid for pid in members if Path(f"/proc/{pid}").exists() and _not_zombie(pid)]
    assert alive == []
    assert [port for port in recorded["ports"].values() if port and port_in_use(port)] == []
    assert not (stack.state / STATE_FILE).exists()


def _not_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
