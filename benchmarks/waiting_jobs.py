"""What the local backend costs while N tuning jobs wait on their training jobs.

    .venv/bin/python benchmarks/waiting_jobs.py --n 300

N tuning jobs of one training job each, whose script waits on a lock the benchmark holds (the
training jobs of ``benchmarks/trigger_scale.py``), on a backend in its own process. Once every
script waits on the lock, the backend's CPU (user and system, as a share of one core) and its
thread count are measured over ``--seconds``; then the lock is released and the jobs end. This is
what a local backend with many long training jobs costs while nothing happens, and what slows its
answers to every client meanwhile.
"""

from __future__ import annotations

import argparse
import fcntl
import multiprocessing as mp
import tempfile
import time
from pathlib import Path

import psutil

# run as a script, its own folder is on the path
import trigger_scale


def measure(n: int, seconds: float) -> str:
    work = Path(tempfile.mkdtemp(prefix="waiting-jobs-"))
    context = mp.get_context("spawn")
    counters = context.Array("q", len(trigger_scale.OPERATIONS) + 1)
    ready, stop = context.Queue(), context.Event()
    backend = context.Process(
        target=trigger_scale.serve_backend, args=(str(work / "sagemaker"), n + 10, counters, ready, stop)
    )
    backend.start()
    try:
        client = trigger_scale.sagemaker_client(ready.get(timeout=60))
        scripts = work / "scripts"
        scripts.mkdir()
        (scripts / "release.sh").write_text(trigger_scale.RELEASE_SCRIPT)
        lock_path = work / "release"
        with open(lock_path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            started = time.monotonic()
            trigger_scale.start_waiting_jobs(
                client, [f"waiting-{index}" for index in range(n)], scripts, lock_path
            )
            start_seconds = time.monotonic() - started
            process = psutil.Process(backend.pid)
            before, clock = process.cpu_times(), time.monotonic()
            time.sleep(seconds)
            after, elapsed = process.cpu_times(), time.monotonic() - clock
            threads = process.num_threads()
            fcntl.flock(lock, fcntl.LOCK_UN)
    finally:
        stop.set()
        backend.join(120)
    share = (after.user + after.system - before.user - before.system) / elapsed
    system = (after.system - before.system) / elapsed
    return (
        f"{n} waiting tuning jobs (started in {start_seconds:.1f} s): the backend used"
        f" {100 * share:.1f}% of a core ({100 * system:.1f}% in the kernel), {threads} threads"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=300, help="waiting tuning jobs (default 300)")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window (default 10)")
    args = parser.parse_args()
    print(measure(args.n, args.seconds))


if __name__ == "__main__":
    main()
