"""The demo runner: local backend, fresh Airflow home, two weekly runs of retrain_weekly, report, chart.

Airflow reads its configuration when it is first imported, so nothing here imports it before
:func:`configure_airflow` has set the environment.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow_hpt.demo.chart import write_chart
from airflow_hpt.demo.data import DEFAULT_DATA_URI, DEFAULT_HOLDOUT_URI, stage_digits
from airflow_hpt.demo.holdout import predict_holdout, render_predictions
from airflow_hpt.demo.report import RunSummary, TrainingPoint, render_table, training_points
from airflow_hpt.quality import Champion, champion_from_tags, decide

DAG_ID = "retrain_weekly"
REPO = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
# The in-process backend's default credentials: well-known test values, as moto's; it listens on
# loopback only and lives as long as the demo.
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"


def say(text: str) -> None:
    print(text, flush=True)


def last_weekly_dates(count: int, now: datetime | None = None) -> list[datetime]:
    """The last ``count`` times ``@weekly`` fired (Sunday 00:00 UTC) up to ``now``, oldest first.

    As the scheduler would have run them: Airflow 3 reads a cron schedule as a CronTriggerTimetable,
    whose runs' logical date is the time they fire.
    """
    now = now or datetime.now(tz=UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    newest = midnight - timedelta(days=(midnight.weekday() + 1) % 7)
    return [newest - timedelta(weeks=count - 1 - i) for i in range(count)]


def configure_airflow(home: Path, dags_folder: Path, endpoint_url: str) -> None:
    """A private Airflow home (SQLite) whose dags folder is the repository's and whose connection is the backend."""
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            # task and trigger logs stay in their files; the console is for the demo's own lines
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(
                {
                    "conn_type": "aws",
                    "login": ACCESS_KEY_ID,
                    "password": SECRET_ACCESS_KEY,
                    "extra": {"endpoint_url": endpoint_url, "region_name": REGION},
                }
            ),
            # never reach a real account from the demo
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(variable, None)


def migrate_database() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
    )
    if done.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{done.stdout}\n{done.stderr}")


class Progress(threading.Thread):
    """Prints a line whenever the newest tuning job's counters change, while a run is going on."""

    def __init__(self, client: Any, interval: float = 1.0) -> None:
        super().__init__(name="demo-progress", daemon=True)
        self.client = client
        self.interval = interval
        self.done = threading.Event()

    def run(self) -> None:
        last = ""
        while not self.done.wait(self.interval):
            line = self._line()
            if line and line != last:
                say(f"      {line}")
                last = line

    def _line(self) -> str | None:
        jobs = self.client.list_hyper_parameter_tuning_jobs(
            SortBy="CreationTime", SortOrder="Descending", MaxResults=1
        )["HyperParameterTuningJobSummaries"]
        if not jobs or jobs[0]["HyperParameterTuningJobStatus"] != "InProgress":
            return None
        describe = self.client.describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=jobs[0]["HyperParameterTuningJobName"]
        )
        counters = describe["TrainingJobStatusCounters"]
        finished = sum(counters[key] for key in ("Completed", "Stopped", "NonRetryableError"))
        limit = describe["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"]
        best = (describe.get("BestTrainingJob") or {}).get("FinalHyperParameterTuningJobObjectiveMetric")
        score = f", best {best['MetricName']} {best['Value']:.4f}" if best else ""
        return (
            f"{describe['HyperParameterTuningJobName']}: {finished}/{limit} training jobs finished, "
            f"{counters['InProgress']} running{score}"
        )


def champion(client: Any, endpoint_name: str) -> Champion | None:
    """The model the endpoint serves now, as the quality gate sees it (its objective tags)."""
    try:
        endpoint = client.describe_endpoint(EndpointName=endpoint_name)
    except client.exceptions.ClientError as error:
        # SageMaker's answer for a missing endpoint: nothing deployed yet, no champion
        if error.response["Error"]["Code"] != "ValidationException":
            raise
        return None
    config = client.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model = client.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    tags = client.list_tags(ResourceArn=model["ModelArn"])["Tags"]
    return champion_from_tags(model["ModelName"], {tag["Key"]: tag["Value"] for tag in tags})


def run_week(dag: Any, number: int, logical_date: datetime, client: Any) -> RunSummary:
    """One run of the DAG through Airflow (``dag.test``: the deferred tuning task's trigger runs inline)."""
    from airflow_hpt.demo.airflow_state import task_states, xcom

    # The gate's log line is not kept by dag.test; its reason is recomputed with the gate's own rule
    # from what the gate saw: the result and the champion before the run.
    before = champion(client, dag.params["endpoint_name"])
    progress = Progress(client)
    progress.start()
    started = time.monotonic()
    try:
        dag_run = dag.test(logical_date=logical_date)
    finally:
        progress.done.set()
        progress.join()
    recorded = task_states(dag_run)
    states = {task_id: recorded.get(task_id) for task_id in dag.task_ids}
    tune = xcom(dag_run, "tune")
    reason = None
    if tune is not None:
        threshold = float(dag.params["min_accuracy"])
        reason = decide(tune, min_objective=threshold, champion=before).reason
    return RunSummary(
        number=number,
        logical_date=logical_date,
        seconds=time.monotonic() - started,
        states=states,
        tune=tune,
        gate_reason=reason,
        deploy=xcom(dag_run, "deploy"),
    )


def load_dag(dags_folder: Path) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("demo_retrain_weekly", dags_folder / f"{DAG_ID}.py")
    if spec is None or spec.loader is None:
        raise FileNotFoundError(dags_folder / f"{DAG_ID}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m airflow_hpt.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=REPO / ".demo", help="emptied first (default: .demo)")
    parser.add_argument("--dags-folder", type=Path, default=REPO / "dags", help="holds retrain_weekly.py")
    parser.add_argument("--weeks", type=int, default=2, help="consecutive weekly runs (default: 2)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workdir: Path = args.workdir.resolve()
    dags_folder: Path = args.dags_folder.resolve()
    if not (dags_folder / f"{DAG_ID}.py").is_file():
        say(f"No {DAG_ID}.py in {dags_folder}: pass --dags-folder")
        return 2
    began = time.monotonic()
    steps = args.weeks + 4

    say(f"[1/{steps}] Fresh demo folder {workdir}")
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)

    import boto3

    from airflow_hpt.local import LocalSageMaker

    with LocalSageMaker(workdir / "sagemaker", region=REGION) as backend:
        session = boto3.Session(
            region_name=REGION, aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY
        )
        client = session.client("sagemaker", endpoint_url=backend.endpoint_url)
        say(f"[2/{steps}] Local SageMaker backend on {backend.endpoint_url} (home {backend.home})")
        say(
            f"      training data: scikit-learn's digits as CSV at {DEFAULT_DATA_URI}, "
            f"but for the held-out ones at {DEFAULT_HOLDOUT_URI}"
        )
        stage_digits(backend.home, DEFAULT_DATA_URI)

        say(f"[3/{steps}] Airflow home {workdir / 'airflow'}: migrating the metadata database")
        configure_airflow(workdir / "airflow", dags_folder, backend.endpoint_url)
        migrate_database()
        dag = load_dag(dags_folder)
        # dag.test() runs the task API in-process through Starlette's test client, which warns about
        # its httpx use on every run: noise for the demo's reader
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")

        runs: list[RunSummary] = []
        for index, logical_date in enumerate(last_weekly_dates(args.weeks)):
            number = index + 1
            chain = "cold start" if number == 1 else "warm start from the earlier runs"
            say(
                f"[{3 + number}/{steps}] {DAG_ID}, run {number} (logical date {logical_date:%Y-%m-%d}, {chain})"
            )
            run = run_week(dag, number, logical_date, client)
            runs.append(run)
            say(
                f"      {', '.join(f'{task} {state}' for task, state in run.states.items())} ({run.seconds:.0f} s)"
            )
            failed = [task for task, state in run.states.items() if state == "failed"]
            if failed or run.tune is None:
                say(f"      run {number} failed ({', '.join(failed) or 'tune'}): the error is logged above")
                return 1

        say(f"[{steps}/{steps}] Report")
        say("")
        say(render_table(runs))
        say("")
        say(endpoint_line(client, runs))
        points: list[TrainingPoint] = []
        for run in runs:
            assert run.tune is not None  # checked after each run
            points += training_points(client, run.number, run.tune["tuning_job_name"])
        chart = write_chart(
            points,
            workdir / "objective.png",
            metric=str((runs[0].tune or {})["objective_metric"]),
            threshold=float(dag.params["min_accuracy"]),
            run_labels=[
                f"run {run.number}, {run.logical_date:%Y-%m-%d}: "
                + ("cold" if run.number == 1 else "warm start")
                for run in runs
            ],
        )
        say(f"Chart: {chart}")
        if any(run.deploy for run in runs):
            endpoint_name = str(dag.params["endpoint_name"])
            runtime = session.client("sagemaker-runtime", endpoint_url=backend.endpoint_url)
            s3 = session.client("s3", endpoint_url=backend.endpoint_url)
            say("")
            say(
                render_predictions(
                    endpoint_name, predict_holdout(runtime, s3, endpoint_name, DEFAULT_HOLDOUT_URI)
                )
            )
    say(f"Done in {time.monotonic() - began:.0f} s.")
    return 0


def endpoint_line(client: Any, runs: Sequence[RunSummary]) -> str:
    """What the production endpoint serves at the end, straight from the backend."""
    names = {run.deploy["endpoint_name"] for run in runs if run.deploy}
    if not names:
        return "No model was deployed (the quality gate closed on every run)."
    lines = []
    for name in sorted(names):
        endpoint = client.describe_endpoint(EndpointName=name)
        config = client.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        model = config["ProductionVariants"][0]["ModelName"]
        lines.append(f"Endpoint {name}: {endpoint['EndpointStatus']}, serving model {model}")
    return "\n".join(lines)
