"""Standalone training jobs (CreateTrainingJob): one job, run by the same Runner as a tuning job's.

The record is the request as DescribeTrainingJob echoes it, plus the lifecycle members SageMaker
adds (status, secondary status and its transitions, times, FinalMetricDataList, ModelArtifacts,
FailureReason). The job's own thread (the runner's) concludes it through
:meth:`TrainingProcess.add_done_callback`, so no watcher thread is needed.

A job that was InProgress when the backend went down starts again from the beginning on the next
start (the job folder is laid out anew, the script runs again), so a client waiting on it sees it
end as it would have; one that was Stopping ends Stopped.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from airflow_hpt.local.state import store as kinds
from airflow_hpt.local.state.records import Record, Stored, Tag, TrainingJob, TrainingJobBook
from airflow_hpt.local.state.store import Store
from airflow_hpt.local.training.runner import Runner, TrainingOutcome, TrainingProcess, TrainingSpec
from airflow_hpt.local.training.stopping import check_stoppable
from airflow_hpt.request.defaults import DEFAULT_MAX_RUNTIME_SECONDS

log = logging.getLogger(__name__)

RESTARTED = "Restarted from the beginning: the local backend stopped while this job ran"


@functools.cache
def _described_members() -> frozenset[str]:
    """The members DescribeTrainingJob answers with (a request member outside them is not echoed)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model("DescribeTrainingJob").output_shape
    assert shape is not None
    return frozenset(shape.members)


class TrainingJobs:
    """The standalone training jobs of one backend: create, stop, conclude, recover."""

    def __init__(self, store: Store, runner: Runner, region: str) -> None:
        self.store = store
        self.runner = runner
        self.region = region
        self._lock = threading.Lock()
        self._running: dict[str, TrainingProcess] = {}
        self._shutting_down = False

    def create(self, request: Mapping[str, Any], tags: list[Tag]) -> str:
        """Record a new (validated, name checked free under the store's transaction) job; start it."""
        name = request["TrainingJobName"]
        now = time.time()
        record: Record = {key: value for key, value in request.items() if key in _described_members()}
        record.setdefault("StoppingCondition", {}).setdefault(
            "MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS
        )
        record.update(
            TrainingJobArn=kinds.arn_for(self.region, kinds.TRAINING_JOBS, name),
            TrainingJobStatus="InProgress",
            SecondaryStatus="Starting",
            CreationTime=now,
            LastModifiedTime=now,
            SecondaryStatusTransitions=[
                {
                    "Status": "Starting",
                    "StartTime": now,
                    "StatusMessage": "Preparing the job's folder locally",
                }
            ],
        )
        # recorded before it starts: a backend dying in between leaves a job to resume
        self.store.put(kinds.TRAINING_JOBS, name, Stored(record, TrainingJobBook(tags=tags)))
        self._launch(record)
        return str(record["TrainingJobArn"])

    def stop(self, name: str) -> None:
        """InProgress -> Stopping; the runner's outcome then makes it Stopped."""
        with self.store.transaction():
            check_stoppable(self.store.entry(kinds.TRAINING_JOBS, name))
            with self._lock:
                process = self._running.get(name.lower())
            if process is None:
                raise ValueError(f"Training job {name} is not running")
            self.store.update(
                kinds.TRAINING_JOBS, name, _transition("Stopping", "Stopping", "Stop requested")
            )
        process.stop("Stopped by StopTrainingJob")

    def unfinished(self) -> list[TrainingJob]:
        """The jobs a backend stop interrupted, as recorded: taken before the tuning engine's
        recovery, which ends every unfinished training job Failed, and handed to :meth:`recover`."""
        return self.store.entries(
            kinds.TRAINING_JOBS,
            where=lambda job: (
                job.book.standalone and job.fields["TrainingJobStatus"] in ("InProgress", "Stopping")
            ),
        )

    def recover(self, unfinished: list[TrainingJob]) -> None:
        """After a (re)start: an interrupted job runs again, one being stopped ends Stopped."""
        for job in unfinished:
            record = job.fields
            name = record["TrainingJobName"]
            if record["TrainingJobStatus"] == "Stopping":
                _ended_stopped(record)
                self.store.put(kinds.TRAINING_JOBS, name, job)
            else:
                _transition("InProgress", "Starting", RESTARTED)(record)
                self.store.put(kinds.TRAINING_JOBS, name, job)
                self._launch(record)

    def shutdown(self) -> None:
        """Stop the running scripts; their jobs stay InProgress and run again on the next start."""
        with self._lock:
            self._shutting_down = True
            processes = list(self._running.values())
        for process in processes:
            process.stop("the local backend is shutting down")
        for process in processes:
            process.wait()

    def _launch(self, record: Record) -> None:
        name = record["TrainingJobName"]
        algorithm = record.get("AlgorithmSpecification") or {}
        output_path = record["OutputDataConfig"]["S3OutputPath"]
        spec = TrainingSpec(
            training_job_name=name,
            hyperparameters=record.get("HyperParameters") or {},
            input_data_config=record.get("InputDataConfig") or [],
            output_path=output_path,
            metric_definitions=algorithm.get("MetricDefinitions") or [],
            max_runtime_seconds=int(record["StoppingCondition"]["MaxRuntimeInSeconds"]),
            environment=record.get("Environment") or {},
        )
        self.store.update(
            kinds.TRAINING_JOBS,
            name,
            _transition(
                "InProgress", "Training", "Training the model locally", TrainingStartTime=time.time()
            ),
            copy=False,
        )
        process = self.runner.start(spec)
        with self._lock:
            self._running[name.lower()] = process
        process.add_done_callback(functools.partial(self._conclude, name))

    def _conclude(self, name: str, outcome: TrainingOutcome) -> None:
        with self._lock:
            self._running.pop(name.lower(), None)
            if self._shutting_down:
                return  # interrupted, not ended: the job runs again on the next start
        try:
            self.store.update(kinds.TRAINING_JOBS, name, _concluded(outcome), copy=False)
        except Exception:  # the runner's thread must not die of it; the job would stay InProgress
            log.exception("could not record the end of training job %s", name)


def _transition(status: str, secondary: str, message: str, **fields: Any) -> Callable[[Record], None]:
    """Move to a new (secondary) status, closing the current secondary status transition."""

    def change(record: Record) -> None:
        now = time.time()
        transitions = record.setdefault("SecondaryStatusTransitions", [])
        if transitions:
            transitions[-1].setdefault("EndTime", now)
        transitions.append({"Status": secondary, "StartTime": now, "StatusMessage": message})
        record.update(TrainingJobStatus=status, SecondaryStatus=secondary, LastModifiedTime=now, **fields)

    return change


def _concluded(outcome: TrainingOutcome) -> Callable[[Record], None]:
    def change(record: Record) -> None:
        _transition(
            outcome.status,
            outcome.final_secondary_status,
            outcome.status_message or outcome.status,
            **outcome.record_fields(),
        )(record)
        record["SecondaryStatusTransitions"][-1]["EndTime"] = outcome.end_time.timestamp()

    return change


def _ended_stopped(record: Record) -> None:
    now = time.time()
    _transition("Stopped", "Stopped", "Stopped while the local backend was down", TrainingEndTime=now)(record)
