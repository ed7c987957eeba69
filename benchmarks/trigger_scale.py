"""N deferred tuning jobs in one triggerer event loop: TuningJobTrigger vs the amazon provider's SageMakerTrigger.

    .venv/bin/python benchmarks/trigger_scale.py               # N = 50, 200, 500
    .venv/bin/python benchmarks/trigger_scale.py --n 50        # a quick run

For each N and each side, a fresh set of N tuning jobs runs on the local backend (its own
process); every job's single training job waits for a release file, so the jobs stay InProgress
for as long as the measurement needs and then all end within about a second. The triggers run in
a fresh process (spawned: nothing imported but what a triggerer imports) on one event loop:

- API calls per interval: counted by the backend, per operation, during the steady window;
- CPU seconds of the process: start-up (until every trigger had its first status) and steady
  state (``--steady`` intervals) apart;
- peak memory: RSS above the process's RSS before the triggers were built, per waiting job;
- the longest event-loop stall: a 20 ms ticker's worst lateness (the triggerer warns above 0.2 s);
- completion-to-event delay: event time minus the job's HyperParameterTuningEndTime.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from airflow_hpt.local import TEST_ACCESS_KEY_ID, TEST_SECRET_ACCESS_KEY

OPERATIONS = ("ListHyperParameterTuningJobs", "DescribeHyperParameterTuningJob", "DescribeTrainingJob")
STATUS_OPERATIONS = OPERATIONS[:2]

# The training script: waits for the release file, reports the objective, ends.
RELEASE_SCRIPT = """\
import argparse, os, time
parser = argparse.ArgumentParser()
parser.add_argument("--release")
parser.add_argument("-x", "--x", type=float, default=0.0)
args, _ = parser.parse_known_args()
while not os.path.exists(args.release):
    time.sleep(1.0)
print(f"loss={(args.x - 0.3) ** 2:.6f}", flush=True)
"""


def _serve_backend(home: str, capacity: int, counters: Any, ready: Any, stop: Any) -> None:
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
                "sagemaker_program": "release.py",
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


def _client(endpoint_url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sagemaker",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=TEST_ACCESS_KEY_ID,
        aws_secret_access_key=TEST_SECRET_ACCESS_KEY,
        config=Config(retries={"mode": "standard", "total_max_attempts": 5}, max_pool_connections=20),
    )


def _start_jobs(client: Any, names: list[str], scripts: Path, release: Path) -> None:
    for name in names:
        client.create_hyper_parameter_tuning_job(**_request(name, scripts, release))
    # every job has launched its training job (so none ends before the release)
    deadline = time.monotonic() + 120 + len(names)
    for name in names:
        while not client.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
            "TrainingJobSummaries"
        ]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} launched no training job")
            time.sleep(0.2)


def _run_side(
    side: str, names: list[str], interval: float, steady: int, release: str, counters: Any, out: Any, log: str
) -> None:
    """A triggerer's event loop with one trigger per job: measures and reports through `out`."""
    with open(log, "ab") as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
    out.put(asyncio.run(_measure(side, names, interval, steady, Path(release), counters)))


async def _measure(
    side: str, names: list[str], interval: float, steady: int, release: Path, counters: Any
) -> dict[str, Any]:
    import psutil
    from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger
    from airflow.triggers.base import BaseTrigger

    from airflow_hpt.triggers.tuning import TuningJobTrigger

    process = psutil.Process()
    baseline_rss = process.memory_info().rss
    probe = {"stall": 0.0, "peak_rss": baseline_rss}

    async def ticker() -> None:
        ticks = 0
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.02)
            probe["stall"] = max(probe["stall"], time.perf_counter() - before - 0.02)
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
    calls_before, cpu_before, started = calls(), time.process_time(), time.perf_counter()
    tasks = [asyncio.create_task(wait(name, make(name))) for name in names]
    # start-up ends once every trigger had its first status: one Describe each for theirs, the
    # first shared List for ours
    first_round = len(names) if side == "theirs" else 1
    index = 1 if side == "theirs" else 0
    while calls()[index] - calls_before[index] < first_round:
        await asyncio.sleep(0.05)
    startup = {
        "cpu": time.process_time() - cpu_before,
        "wall": time.perf_counter() - started,
        "stall": probe["stall"],
    }

    probe["stall"] = 0.0
    calls_before, cpu_before = calls(), time.process_time()
    await asyncio.sleep(steady * interval)
    steady_calls = [after - before for after, before in zip(calls(), calls_before, strict=True)]
    steady_state = {
        "cpu": time.process_time() - cpu_before,
        "stall": probe["stall"],
        "calls_per_interval": {
            operation: count / steady for operation, count in zip(OPERATIONS, steady_calls, strict=False)
        },
    }
    peak_rss = probe["peak_rss"]

    release.touch()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=120 + 2 * len(names))
    ticking.cancel()
    return {
        "startup": startup,
        "steady": steady_state,
        "rss_per_job_mb": (peak_rss - baseline_rss) / len(names) / 2**20,
        "peak_rss_mb": peak_rss / 2**20,
        "event_times": event_times,
    }


def run_side(
    side: str, n: int, interval: float, steady: int, endpoint_url: str, counters: Any, work: Path
) -> dict[str, Any]:
    context = mp.get_context("spawn")
    client = _client(endpoint_url)
    scripts = work / "scripts"
    scripts.mkdir(exist_ok=True)
    (scripts / "release.py").write_text(RELEASE_SCRIPT)
    release = work / f"release-{side}-{n}"
    names = [f"bench-{side}-{n}-{index}" for index in range(n)]
    _start_jobs(client, names, scripts, release)
    out = context.Queue()
    child = context.Process(
        target=_run_side,
        args=(side, names, interval, steady, str(release), counters, out, str(work / f"{side}-{n}.log")),
    )
    child.start()
    report: dict[str, Any] = out.get(timeout=1800)
    child.join(60)
    delays = []
    for name in names:
        ended = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
            "HyperParameterTuningEndTime"
        ]
        delays.append(report["event_times"][name] - ended.timestamp())
    report["delay_max"] = max(delays)
    report["delay_median"] = statistics.median(delays)
    del report["event_times"]
    return report


def _row(label: str, ours: float, theirs: float, unit: str, digits: int = 2) -> str:
    ratio = f"{theirs / ours:.1f}x" if ours > 0 else "-"
    return f"| {label} | {ours:.{digits}f} {unit} | {theirs:.{digits}f} {unit} | {ratio} |"


def table(n: int, interval: float, ours: dict[str, Any], theirs: dict[str, Any]) -> str:
    def status_calls(side: dict[str, Any]) -> float:
        return sum(side["steady"]["calls_per_interval"][operation] for operation in STATUS_OPERATIONS)

    lines = [
        f"N = {n}, interval {interval:g} s",
        "",
        "| measure | ours | theirs | theirs/ours |",
        "| --- | --- | --- | --- |",
        _row("status calls per interval (steady)", status_calls(ours), status_calls(theirs), "", 1),
        _row("start-up CPU", ours["startup"]["cpu"], theirs["startup"]["cpu"], "s"),
        _row("start-up wall time", ours["startup"]["wall"], theirs["startup"]["wall"], "s"),
        _row("longest loop stall, start-up", ours["startup"]["stall"], theirs["startup"]["stall"], "s", 3),
        _row("longest loop stall, steady", ours["steady"]["stall"], theirs["steady"]["stall"], "s", 3),
        _row(
            "steady CPU per job per interval",
            1000 * ours["steady"]["cpu"] / n / STEADY_INTERVALS,
            1000 * theirs["steady"]["cpu"] / n / STEADY_INTERVALS,
            "ms",
            3,
        ),
        _row("peak RSS above baseline per job", ours["rss_per_job_mb"], theirs["rss_per_job_mb"], "MB", 3),
        _row("peak RSS of the process", ours["peak_rss_mb"], theirs["peak_rss_mb"], "MB", 0),
        _row("completion-to-event delay, median", ours["delay_median"], theirs["delay_median"], "s"),
        _row("completion-to-event delay, max", ours["delay_max"], theirs["delay_max"], "s"),
    ]
    return "\n".join(lines)


STEADY_INTERVALS = 5


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, action="append", help="jobs (repeatable); default 50, 200, 500")
    parser.add_argument("--interval", type=float, default=2.0, help="poll interval in seconds (default 2)")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument(
        "--side", choices=("ours", "theirs"), action="append", help="measure only this side (repeatable)"
    )
    args = parser.parse_args()
    sizes = args.n or [50, 200, 500]

    work = Path(tempfile.mkdtemp(prefix="trigger-scale-"))
    os.environ.setdefault("AIRFLOW_HOME", str(work / "airflow"))
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    context = mp.get_context("spawn")
    counters = context.Array("q", len(OPERATIONS) + 1)
    ready, stop = context.Queue(), context.Event()
    backend = context.Process(
        target=_serve_backend, args=(str(work / "sagemaker"), 2 * max(sizes) + 10, counters, ready, stop)
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
                side: run_side(side, n, args.interval, STEADY_INTERVALS, endpoint_url, counters, work)
                for side in args.side or ("ours", "theirs")
            }
            if len(figures[str(n)]) == 2:
                print(table(n, args.interval, **figures[str(n)]), end="\n\n", flush=True)
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
