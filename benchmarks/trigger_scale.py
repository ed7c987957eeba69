"""N deferred tuning jobs in one triggerer event loop (or several): TuningJobTrigger vs the amazon
provider's SageMakerTrigger.

    .venv/bin/python benchmarks/trigger_scale.py                        # N = 50, 200, 500
    .venv/bin/python benchmarks/trigger_scale.py --n 50                 # a quick run
    .venv/bin/python benchmarks/trigger_scale.py --n 1000 --triggerers 2

For each N and each side, a fresh set of N tuning jobs runs on the local backend (its own
process); every job's single training job waits, blocked on a shared lock the benchmark holds (no
polling: a thousand waiting jobs cost no CPU), so the jobs stay InProgress for as long as the
measurement needs and then all end within about a second of the lock's release. The triggers run
in fresh processes (spawned: nothing imported but what a triggerer imports), one event loop each;
with ``--triggerers K`` the jobs are split between K such processes in contiguous blocks, as
Airflow's triggerers, each taking up to its capacity of the oldest unassigned triggers, split them.

- API calls per interval: counted by the backend, per operation, during the steady window (all
  triggerers together);
- CPU seconds of each process: start-up (until every trigger had its first status, as the backend
  counts the calls: the first poll's List pages for ours, a Describe per job for theirs) and steady
  state (``--steady`` intervals) apart; the table shows the busiest triggerer's start-up;
- peak memory: RSS above each process's RSS before the triggers were built, per waiting job;
- the longest event-loop stall: a 20 ms ticker's worst lateness (the triggerer warns above 0.2 s),
  and the most CPU the process used between two of its ticks (what the stall would be on a core of
  its own: on a shared, loaded machine the lateness also counts the time the process waited for a
  core),
  the worst of the triggerers, at start-up, in the steady state and in the completion burst;
- completion-to-event delay: event time minus the job's HyperParameterTuningEndTime.

On SageMaker the training jobs run on instances of their own, not on the triggerer's machine. So,
where the machine has two CPUs or more, the backend and its training jobs (and the benchmark's own
client) run on one part of them and the triggerers on the other. 500 jobs ending within a second
start about 1,000 processes and end about 3,000 (per job: the toolkit's launcher, two shells,
``flock`` and the ``true`` it runs, ``awk``), about 2.5 CPU-seconds, most of it in the kernel; on a
shared CPU, every process of the machine waits through that. ``--shared-cpus`` runs everything on
every CPU, to see it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import math
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_hpt.local import TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY

OPERATIONS = ("ListHyperParameterTuningJobs", "DescribeHyperParameterTuningJob", "DescribeTrainingJob")
STATUS_OPERATIONS = OPERATIONS[:2]
# The benchmark stops creating jobs when the machine has less memory than this left.
MEMORY_FLOOR_BYTES = 3 * 2**30

# The training script: blocks until the benchmark releases its lock (flock, in the kernel: no
# polling, and a shell rather than a second Python per job, so a thousand waiting jobs fit in memory),
# reports the objective, ends.
RELEASE_SCRIPT = """\
#!/bin/sh
while [ $# -gt 0 ]; do
    case "$1" in
        --release) lock=$2; shift 2 ;;
        -x | --x) x=$2; shift 2 ;;
        *) shift ;;
    esac
done
flock --shared "$lock" true
awk -v x="$x" 'BEGIN { printf "loss=%.6f\\n", (x - 0.3) ^ 2 }'
"""


def serve_backend(home: str, capacity: int, counters: Any, ready: Any, stop: Any) -> None:
    """The local backend in its own process; every call it receives is counted in `counters`."""
    from airflow_hpt.local import Faults, LocalSageMaker

    class CountingFaults(Faults):
        def draw(self, operation: str) -> Any:
            index = OPERATIONS.index(operation) if operation in OPERATIONS else len(OPERATIONS)
            with counters.get_lock():
                counters[index] += 1
            return None

    # the training script is written next to the backend's home, in the benchmark's work folder
    with LocalSageMaker(
        home,
        max_concurrent_tuning_jobs=capacity,
        faults=CountingFaults(),
        code_roots=[Path(home).parent],
    ) as backend:
        ready.put(backend.endpoint_url)
        stop.wait()


def _request(name: str, scripts: Path, release: Path) -> dict[str, Any]:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 1, "MaxParallelTrainingJobs": 1},
            "ParameterRanges": {
                "ContinuousParameterRanges": [{"Name": "x", "MinValue": "-1", "MaxValue": "1"}]
            },
            "TrainingJobEarlyStoppingType": "Off",
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {
                "sagemaker_program": "release.sh",
                "sagemaker_submit_directory": scripts.as_uri(),
                "release": str(release),
            },
            "AlgorithmSpecification": {
                "TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/bench:latest",
                "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "loss", "Regex": "loss=([0-9.]+)"}],
            },
            "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
            "OutputDataConfig": {"S3OutputPath": "s3://bench/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
    }


def sagemaker_client(endpoint_url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sagemaker",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=TEST_ACCESS_KEY_ID,
        aws_secret_access_key=TEST_SECRET_ACCESS_KEY,
        config=Config(
            retries={"mode": "standard", "total_max_attempts": 5},
            max_pool_connections=20,
            read_timeout=300,
        ),
    )


def start_waiting_jobs(client: Any, names: list[str], scripts: Path, release: Path) -> None:
    import psutil

    for name in names:
        # each waiting job holds processes of about 10 MB: the machine is shared, so stop short
        if psutil.virtual_memory().available < MEMORY_FLOOR_BYTES:
            raise RuntimeError(f"less than {MEMORY_FLOOR_BYTES / 2**30:g} GiB of memory left: fewer jobs")
        # ResourceInUse: an attempt that timed out had created it (hundreds of jobs starting their
        # toolkit on the backend's CPUs can keep an answer waiting)
        with contextlib.suppress(client.exceptions.ResourceInUse):
            client.create_hyper_parameter_tuning_job(**_request(name, scripts, release))
    # every job's script waits on the lock, so none ends before the release, and the backend's
    # CPUs are quiet again before anything is measured: the jobs' toolkits have done starting
    waiting_on_lock = ["flock", "--shared", str(release), "true"]
    deadline = time.monotonic() + 120 + len(names)
    while True:
        waiting = sum(
            process.info["cmdline"] == waiting_on_lock for process in psutil.process_iter(["cmdline"])
        )
        if waiting == len(names):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {waiting} of {len(names)} training jobs wait on {release}")
        time.sleep(1.0)


@dataclass(frozen=True)
class Round:
    """One triggerer process's part of a side's run, and what it shares with the others."""

    side: str
    names: list[str]
    all_jobs: int
    triggerers: int
    interval: float
    steady: int
    counters: Any
    # every triggerer waits here before start-up and before the release: they start together, and
    # the burst is measured in all of them at once
    barrier: Any
    # set when the jobs may end: the benchmark then releases the lock the training jobs wait on
    release: Any
    # the CPUs the triggerers run on; empty: every CPU
    cpus: frozenset[int]


def _run_triggerer(round_: Round, out: Any, log: str) -> None:
    """A triggerer's event loop with one trigger per job: measures and reports through `out`."""
    if round_.cpus:
        os.sched_setaffinity(0, round_.cpus)
    with open(log, "ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
    out.put(asyncio.run(_measure(round_)))


async def _measure(round_: Round) -> dict[str, Any]:
    import psutil
    from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger
    from airflow.triggers.base import BaseTrigger

    from airflow_hpt.triggers.tuning import TuningJobTrigger

    side, names, interval, counters = round_.side, round_.names, round_.interval, round_.counters
    process = psutil.Process()
    baseline_rss = process.memory_info().rss
    probe = {"stall": 0.0, "cpu_stall": 0.0, "peak_rss": baseline_rss}

    async def ticker() -> None:
        ticks = 0
        while True:
            before, cpu_before = time.perf_counter(), time.process_time()
            await asyncio.sleep(0.02)
            probe["stall"] = max(probe["stall"], time.perf_counter() - before - 0.02)
            probe["cpu_stall"] = max(probe["cpu_stall"], time.process_time() - cpu_before)
            ticks += 1
            if ticks % 5 == 0:
                probe["peak_rss"] = max(probe["peak_rss"], process.memory_info().rss)

    def make(name: str) -> BaseTrigger:
        if side == "ours":
            return TuningJobTrigger(
                tuning_job_name=name,
                aws_conn_id="aws_default",
                region_name=None,
                verify=None,
                botocore_config=None,
                check_interval=interval,
                deadline=None,
                stop_on_kill=False,
            )
        return SageMakerTrigger(
            job_name=name, job_type="tuning", waiter_delay=int(interval), waiter_max_attempts=1_000_000
        )

    event_times: dict[str, float] = {}

    async def wait(name: str, trigger: BaseTrigger) -> None:
        event = await anext(trigger.run())
        event_times[name] = time.time()
        assert event.payload.get("status") in {"ended", "success"}, event.payload

    def calls() -> list[int]:
        return list(counters[:])

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.2)
    await asyncio.to_thread(round_.barrier.wait)
    probe["stall"] = probe["cpu_stall"] = 0.0
    calls_before, cpu_before, started = calls(), time.process_time(), time.perf_counter()
    tasks = [asyncio.create_task(wait(name, make(name))) for name in names]
    # start-up ends once every trigger had its first status: one Describe each for theirs; for
    # ours, each triggerer's first poll: the List pages of every running job in the account
    if side == "ours":
        index, first_round = 0, round_.triggerers * math.ceil(round_.all_jobs / 100)
    else:
        index, first_round = 1, round_.all_jobs
    while calls()[index] - calls_before[index] < first_round:
        await asyncio.sleep(0.05)
    startup = {
        "cpu": time.process_time() - cpu_before,
        "wall": time.perf_counter() - started,
        "stall": probe["stall"],
        "cpu_stall": probe["cpu_stall"],
    }

    probe["stall"] = probe["cpu_stall"] = 0.0
    calls_before, cpu_before = calls(), time.process_time()
    await asyncio.sleep(round_.steady * interval)
    steady_calls = [after - before for after, before in zip(calls(), calls_before, strict=True)]
    steady_state = {
        "cpu": time.process_time() - cpu_before,
        "stall": probe["stall"],
        "cpu_stall": probe["cpu_stall"],
        "calls_per_interval": {
            operation: count / round_.steady
            for operation, count in zip(OPERATIONS, steady_calls, strict=False)
        },
    }
    peak_rss = probe["peak_rss"]

    await asyncio.to_thread(round_.barrier.wait)
    probe["stall"] = probe["cpu_stall"] = 0.0
    round_.release.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=120 + 2 * round_.all_jobs)
    ticking.cancel()
    return {
        "startup": startup,
        "steady": steady_state,
        "burst_stall": probe["stall"],
        "burst_cpu_stall": probe["cpu_stall"],
        "rss_above_baseline_mb": (peak_rss - baseline_rss) / 2**20,
        "peak_rss_mb": peak_rss / 2**20,
        "event_times": event_times,
    }


def run_side(
    side: str,
    n: int,
    triggerers: int,
    interval: float,
    steady: int,
    endpoint_url: str,
    counters: Any,
    work: Path,
    triggerer_cpus: frozenset[int],
) -> dict[str, Any]:
    context = mp.get_context("spawn")
    client = sagemaker_client(endpoint_url)
    scripts = work / "scripts"
    scripts.mkdir(exist_ok=True)
    (scripts / "release.sh").write_text(RELEASE_SCRIPT)
    prefix = f"bench-{side}-{n}x{triggerers}-"
    names = [f"{prefix}{index}" for index in range(n)]
    lock_path = work / f"release-{side}-{n}x{triggerers}"
    with open(lock_path, "w") as lock:
        # held from before the jobs start: their training jobs block on it
        fcntl.flock(lock, fcntl.LOCK_EX)
        start_waiting_jobs(client, names, scripts, lock_path)
        barrier, release, out = context.Barrier(triggerers), context.Event(), context.Queue()
        share = math.ceil(n / triggerers)
        children = []
        for number in range(triggerers):
            round_ = Round(
                side,
                names[number * share : (number + 1) * share],
                n,
                triggerers,
                interval,
                steady,
                counters,
                barrier,
                release,
                triggerer_cpus,
            )
            log = str(work / f"{side}-{n}x{triggerers}-{number}.log")
            child = context.Process(target=_run_triggerer, args=(round_, out, log))
            child.start()
            children.append(child)
        while not release.wait(1.0):
            if not all(child.is_alive() for child in children):
                raise RuntimeError(f"a triggerer process died; see its log in {work}")
        fcntl.flock(lock, fcntl.LOCK_UN)
        reports: list[dict[str, Any]] = [out.get(timeout=1800) for _ in children]
    for child in children:
        child.join(60)
    ended: dict[str, float] = {}
    for page in client.get_paginator("list_hyper_parameter_tuning_jobs").paginate(
        NameContains=prefix, PaginationConfig={"PageSize": 100}
    ):
        for summary in page["HyperParameterTuningJobSummaries"]:
            ended[summary["HyperParameterTuningJobName"]] = summary["HyperParameterTuningEndTime"].timestamp()
    event_times = {name: when for report in reports for name, when in report["event_times"].items()}
    delays = [event_times[name] - ended[name] for name in names]
    return {
        "startup": {
            measure: max(report["startup"][measure] for report in reports)
            for measure in ("cpu", "wall", "stall", "cpu_stall")
        },
        "steady": {
            "cpu": sum(report["steady"]["cpu"] for report in reports),
            "stall": max(report["steady"]["stall"] for report in reports),
            "cpu_stall": max(report["steady"]["cpu_stall"] for report in reports),
            # each triggerer counted every call of the same window: their mean
            "calls_per_interval": {
                operation: statistics.mean(
                    report["steady"]["calls_per_interval"][operation] for report in reports
                )
                for operation in OPERATIONS
            },
        },
        "burst_stall": max(report["burst_stall"] for report in reports),
        "burst_cpu_stall": max(report["burst_cpu_stall"] for report in reports),
        "rss_per_job_mb": sum(report["rss_above_baseline_mb"] for report in reports) / n,
        "peak_rss_mb": max(report["peak_rss_mb"] for report in reports),
        "delay_max": max(delays),
        "delay_median": statistics.median(delays),
    }


def _row(label: str, ours: float, theirs: float, unit: str, digits: int = 2) -> str:
    ratio = f"{theirs / ours:.1f}x" if ours > 0 else "-"
    return f"| {label} | {ours:.{digits}f} {unit} | {theirs:.{digits}f} {unit} | {ratio} |"


def table(
    n: int, triggerers: int, interval: float, layout: str, ours: dict[str, Any], theirs: dict[str, Any]
) -> str:
    def status_calls(side: dict[str, Any]) -> float:
        return sum(side["steady"]["calls_per_interval"][operation] for operation in STATUS_OPERATIONS)

    busiest = " (busiest triggerer)" if triggerers > 1 else ""
    lines = [
        f"N = {n}, interval {interval:g} s"
        + (f", {triggerers} triggerers ({n // triggerers} jobs each)" if triggerers > 1 else "")
        + f"; {layout}",
        "",
        "| measure | ours | theirs | theirs/ours |",
        "| --- | --- | --- | --- |",
        _row("status calls per interval (steady)", status_calls(ours), status_calls(theirs), "", 1),
        _row("start-up CPU" + busiest, ours["startup"]["cpu"], theirs["startup"]["cpu"], "s"),
        _row("start-up wall time", ours["startup"]["wall"], theirs["startup"]["wall"], "s"),
        _row("longest loop stall, start-up", ours["startup"]["stall"], theirs["startup"]["stall"], "s", 3),
        _row("longest loop stall, steady", ours["steady"]["stall"], theirs["steady"]["stall"], "s", 3),
        _row("longest loop stall, completion burst", ours["burst_stall"], theirs["burst_stall"], "s", 3),
        _row(
            "most CPU between ticks, start-up",
            ours["startup"]["cpu_stall"],
            theirs["startup"]["cpu_stall"],
            "s",
            3,
        ),
        _row(
            "most CPU between ticks, steady",
            ours["steady"]["cpu_stall"],
            theirs["steady"]["cpu_stall"],
            "s",
            3,
        ),
        _row(
            "most CPU between ticks, completion burst",
            ours["burst_cpu_stall"],
            theirs["burst_cpu_stall"],
            "s",
            3,
        ),
        _row(
            "steady CPU per job per interval",
            1000 * ours["steady"]["cpu"] / n / STEADY_INTERVALS,
            1000 * theirs["steady"]["cpu"] / n / STEADY_INTERVALS,
            "ms",
            3,
        ),
        _row("peak RSS above baseline per job", ours["rss_per_job_mb"], theirs["rss_per_job_mb"], "MB", 3),
        _row("peak RSS of the process" + busiest, ours["peak_rss_mb"], theirs["peak_rss_mb"], "MB", 0),
        _row("completion-to-event delay, median", ours["delay_median"], theirs["delay_median"], "s"),
        _row("completion-to-event delay, max", ours["delay_max"], theirs["delay_max"], "s"),
    ]
    return "\n".join(lines)


STEADY_INTERVALS = 5


def split_cpus(shared: bool) -> tuple[frozenset[int], frozenset[int]]:
    """The CPUs of the triggerers and of the backend: the lower half and the rest; none (every
    CPU, for both) when ``shared`` or when the machine has only one."""
    cpus = sorted(os.sched_getaffinity(0))
    if shared or len(cpus) < 2:
        return frozenset(), frozenset()
    half = len(cpus) // 2
    return frozenset(cpus[:half]), frozenset(cpus[half:])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, action="append", help="jobs (repeatable); default 50, 200, 500")
    parser.add_argument("--interval", type=float, default=2.0, help="poll interval in seconds (default 2)")
    parser.add_argument(
        "--triggerers", type=int, default=1, help="triggerer processes sharing the jobs (default 1)"
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument(
        "--side", choices=("ours", "theirs"), action="append", help="measure only this side (repeatable)"
    )
    parser.add_argument(
        "--shared-cpus",
        action="store_true",
        help="run the backend, its training jobs and the triggerers on every CPU (see above)",
    )
    args = parser.parse_args()
    sizes = args.n or [50, 200, 500]
    triggerer_cpus, backend_cpus = split_cpus(args.shared_cpus)
    if backend_cpus:
        # the backend is spawned from here: it and its training jobs inherit these CPUs
        os.sched_setaffinity(0, backend_cpus)
        layout = (
            f"triggerers on CPUs {sorted(triggerer_cpus)}, the backend and its jobs on {sorted(backend_cpus)}"
        )
    else:
        layout = "every process on every CPU"

    work = Path(tempfile.mkdtemp(prefix="trigger-scale-"))
    os.environ.setdefault("AIRFLOW_HOME", str(work / "airflow"))
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    context = mp.get_context("spawn")
    counters = context.Array("q", len(OPERATIONS) + 1)
    ready, stop = context.Queue(), context.Event()
    backend = context.Process(
        target=serve_backend, args=(str(work / "sagemaker"), 2 * max(sizes) + 10, counters, ready, stop)
    )
    backend.start()
    endpoint_url = ready.get(timeout=60)
    os.environ["AIRFLOW_CONN_AWS_DEFAULT"] = json.dumps(
        {
            "conn_type": "aws",
            "login": TEST_ACCESS_KEY_ID,
            "password": TEST_SECRET_ACCESS_KEY,
            "extra": {"endpoint_url": endpoint_url, "region_name": "us-east-1"},
        }
    )
    figures: dict[str, Any] = {}
    try:
        for n in sizes:
            figures[str(n)] = {
                side: run_side(
                    side,
                    n,
                    args.triggerers,
                    args.interval,
                    STEADY_INTERVALS,
                    endpoint_url,
                    counters,
                    work,
                    triggerer_cpus,
                )
                for side in args.side or ("ours", "theirs")
            }
            if len(figures[str(n)]) == 2:
                print(
                    table(n, args.triggerers, args.interval, layout, **figures[str(n)]),
                    end="\n\n",
                    flush=True,
                )
            else:
                print(json.dumps(figures[str(n)], indent=2), flush=True)
    finally:
        stop.set()
        backend.join(120)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    print(f"(logs of the trigger processes: {work})", file=sys.stderr)


if __name__ == "__main__":
    main()
