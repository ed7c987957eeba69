"""Overhead of the local backend's runner per training job, without HTTP or the tuning engine.

A trivial script (``tests/local/scripts/noop.py``) run as a training job through ``Runner`` (job
folder, SageMaker environment, log pump, metric parsing, model packing) against the same script run
directly with subprocess. Runs alternate between the two ways and medians are compared, so that a
burst of load elsewhere skews neither; the direct runs get the runner's bytecode settings, so that
only the runner's own cost differs. That cost includes the sagemaker-training toolkit's work per
job (about 70 ms of CPU, docs/local-backend.md), so a 25 ms script measures about 3.5x. This was
an assertion of the test suite until a loaded CI machine made it flaky: a ratio of wall times is
measured, not tested.

    .venv/bin/python benchmarks/runner_overhead.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from airflow_hpt.local.s3.paths import LocalS3  # noqa: E402
from airflow_hpt.local.training.runner import Runner, TrainingSpec, _bytecode_environment  # noqa: E402

SCRIPTS = REPO / "tests" / "local" / "scripts"


def spec(index: int) -> TrainingSpec:
    return TrainingSpec(
        training_job_name=f"noop-{index:03d}",
        hyperparameters={"sagemaker_program": "noop.py", "sagemaker_submit_directory": str(SCRIPTS)},
        input_data_config=[],
        output_path="s3://out/models/",
        metric_definitions=[{"Name": "loss", "Regex": r"loss=([0-9.eE+-]+)"}],
        max_runtime_seconds=60,
        environment={},
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15, help="runs of each way, alternating (default 15)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        runner = Runner(Path(home), LocalS3(Path(home)))
        env = _bytecode_environment(dict(os.environ), runner.bytecode_cache)
        direct: list[float] = []
        through_runner: list[float] = []
        # one of each first, not measured: the bytecode cache fills on the first run
        for index in range(-1, args.runs):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, str(SCRIPTS / "noop.py")], check=True, capture_output=True, env=env
            )
            direct_seconds = time.perf_counter() - started
            started = time.perf_counter()
            outcome = runner.start(spec(index + 1)).wait(120)
            runner_seconds = time.perf_counter() - started
            if outcome is None or outcome.status != "Completed":
                raise SystemExit(f"the training job did not complete: {outcome}")
            if index >= 0:
                direct.append(direct_seconds)
                through_runner.append(runner_seconds)
    per_job, baseline = statistics.median(through_runner), statistics.median(direct)
    print(f"direct subprocess: {baseline * 1000:7.1f} ms per run (median of {args.runs})")
    print(f"through Runner:    {per_job * 1000:7.1f} ms per job (median of {args.runs})")
    print(f"ratio: {per_job / baseline:.2f}x (about 3.5x for this script: the toolkit's own work per job)")


if __name__ == "__main__":
    main()
