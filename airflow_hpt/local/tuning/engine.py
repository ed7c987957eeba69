"""Runs tuning jobs: one scheduler thread per job, its training jobs through the Runner.

A scheduler keeps up to MaxParallelTrainingJobs training jobs running, asks the job's
TuningStrategy for hyperparameters, feeds the objective's intermediate values to it (it answers
whether to stop a job early), tells it the outcomes, and keeps the tuning job's record (counters,
best job, consumed runtime, completion details) current after every change.

How a tuning job ends (documented in docs/local-backend.md):

- Completed: the budget (MaxNumberOfTrainingJobs; omitted, the grid or SageMaker's quota of
  ``strategies.MAX_TRAINING_JOBS``) is used up, or a TuningJobCompletionCriteria is met (target,
  not improving, ``records.converged``), or ResourceLimits.MaxRuntimeInSeconds is reached
  (running training jobs are stopped then) -- provided at least one training job produced the
  objective.
- Failed: no training job produced the objective metric. The scheduler gives up early once the
  first ``scheduler.FAIL_FAST_AFTER`` finished training jobs all ended Failed (a broken script or training
  definition) rather than burning the whole budget.
- Stopped: StopHyperParameterTuningJob (InProgress -> Stopping -> Stopped).

A training job interrupted by a backend shutdown or crash ends Failed, counted as RetryableError
and not against the budget; the tuning job resumes on the next start with a strategy re-seeded
with its finished trials.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_hpt.local.state import store as kinds
from airflow_hpt.local.state.records import Record, Stored, Tag, TrainingJob, TuningJobBook
from airflow_hpt.local.state.store import Store
from airflow_hpt.local.training.runner import Runner
from airflow_hpt.local.training.stopping import check_stoppable
from airflow_hpt.local.tuning.records import (
    INTERRUPTED,
    interrupted,
    objective_counters,
    set_fields,
    status_counters,
    training_job_summary,
)
from airflow_hpt.local.tuning.scheduler import TuningRun

__all__ = ["INTERRUPTED", "TuningEngine", "training_job_summary"]

log = logging.getLogger(__name__)


class TuningEngine:
    """Owns the scheduler threads of all tuning jobs of one backend."""

    def __init__(self, store: Store, runner: Runner, region: str, poll_interval: float = 1.0) -> None:
        self.store = store
        self.runner = runner
        self.region = region
        # a tuning job's loop wakes on every event (a training job's end or metric, a request);
        # this is how often it also wakes to write its runtime and check its runtime limit
        self.poll_interval = poll_interval
        self._lock = threading.Lock()
        self._runs: dict[str, TuningRun] = {}

    def create(self, request: Mapping[str, Any], tags: Sequence[Mapping[str, str]]) -> None:
        """Record a new (validated) tuning job and start its scheduler."""
        name = request["HyperParameterTuningJobName"]
        now = time.time()
        record: Record = {
            **{key: value for key, value in request.items() if key != "Tags"},
            "HyperParameterTuningJobArn": kinds.arn_for(self.region, kinds.TUNING_JOBS, name),
            "HyperParameterTuningJobStatus": "InProgress",
            "CreationTime": now,
            "LastModifiedTime": now,
            "TrainingJobStatusCounters": status_counters([]),
            "ObjectiveStatusCounters": objective_counters([]),
            "ConsumedResources": {"RuntimeInSeconds": 0},
            "TuningJobCompletionDetails": {"NumberOfTrainingJobsObjectiveNotImproving": 0},
        }
        book = TuningJobBook(
            tags=[Tag(Key=tag["Key"], Value=tag["Value"]) for tag in tags], id=uuid.uuid4().hex
        )
        self.store.put(kinds.TUNING_JOBS, name, Stored(record, book))
        self._start(name, resume=False)

    def recover(self) -> None:
        """After a (re)start: interrupted training jobs end Failed, unfinished tuning jobs go on."""
        unfinished = self.store.all(
            kinds.TRAINING_JOBS,
            where=lambda record: record["TrainingJobStatus"] in ("InProgress", "Stopping"),
        )
        for record in unfinished:
            self.store.update_entry(kinds.TRAINING_JOBS, record["TrainingJobName"], interrupted)
        for job in self.store.all(kinds.TUNING_JOBS):
            if job["HyperParameterTuningJobStatus"] in ("InProgress", "Stopping"):
                self._start(job["HyperParameterTuningJobName"], resume=True)

    def _start(self, name: str, resume: bool) -> None:
        run = TuningRun(self, name, resume)
        with self._lock:
            self._runs[name.lower()] = run
        run.thread.start()

    def training_jobs_of(self, tuning_job_name: str) -> list[TrainingJob]:
        """The training jobs a tuning job launched (not those of a deleted job of the same name)."""
        job = self.store.entry(kinds.TUNING_JOBS, tuning_job_name)
        if job is None:
            return []
        tuning_job_id = job.book.id
        return self.store.entries(
            kinds.TRAINING_JOBS, where=lambda training_job: training_job.book.tuning_job_id == tuning_job_id
        )

    def request_stop(self, name: str) -> None:
        """InProgress -> Stopping now; the scheduler stops the training jobs, then -> Stopped."""
        with self.store.transaction():
            job = self.store.get(kinds.TUNING_JOBS, name)
            if job is None or job["HyperParameterTuningJobStatus"] != "InProgress":
                status = job["HyperParameterTuningJobStatus"] if job else "deleted"
                raise ValueError(
                    f"The request was rejected because the tuning job {name} is in status {status}"
                )
            self.store.update(kinds.TUNING_JOBS, name, set_fields(HyperParameterTuningJobStatus="Stopping"))
        with self._lock:
            run = self._runs.get(name.lower())
        if run is not None:
            run.stop_requested.set()
            run.wakeup.set()

    def stop_trial(self, training_job_name: str) -> None:
        """Ask the scheduler of the training job's tuning job to stop it (ValueError if it cannot)."""
        job = check_stoppable(self.store.entry(kinds.TRAINING_JOBS, training_job_name))
        with self._lock:
            run = self._runs.get((job.book.tuning_job_name or "").lower())
        if run is None or not run.thread.is_alive():
            raise ValueError(f"Training job {training_job_name} is not running")
        run.trials_to_stop.put(job.fields["TrainingJobName"])
        run.wakeup.set()

    def forget(self, name: str) -> None:
        """A scheduler is done: its job no longer has a thread."""
        with self._lock:
            self._runs.pop(name.lower(), None)

    def shutdown(self) -> None:
        """Interrupt every scheduler; their tuning jobs stay InProgress and resume on the next start."""
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.shutting_down.set()
            run.wakeup.set()
        for run in runs:
            run.thread.join()
