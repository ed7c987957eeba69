"""The scheduler thread of one tuning job (see :mod:`airflow_hpt.local.tuning.engine` for the rules)."""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from airflow_hpt.definitions import training_job_definitions
from airflow_hpt.local.state import store as kinds
from airflow_hpt.local.state.records import Record, TrainingJob, TuningJob
from airflow_hpt.local.state.store import Store
from airflow_hpt.local.training.runner import Runner, TrainingOutcome, TrainingProcess
from airflow_hpt.local.tuning.records import (
    CompletionCriteria,
    banked,
    better,
    converged,
    failed_without_outcome,
    final_status,
    interrupted,
    launched_by,
    mark_convergence,
    new_training_job,
    objective_counters,
    objective_of,
    standing,
    status_counters,
    training_job_summary,
)
from airflow_hpt.local.tuning.strategies import MAX_TRAINING_JOBS, TuningStrategy
from airflow_hpt.statuses import TRAINING_JOB_ENDED


class Host(Protocol):
    """What a tuning job's scheduler needs of the engine that runs it (the engine imports this
    module, not the other way round)."""

    store: Store
    runner: Runner
    region: str
    poll_interval: float

    def training_jobs_of(self, tuning_job_name: str) -> list[TrainingJob]: ...

    def forget(self, name: str) -> None: ...


log = logging.getLogger(__name__)

FAIL_FAST_AFTER = 5


@dataclass
class _Arm:
    """One training definition and the strategy that searches its ranges."""

    definition: dict[str, Any]
    strategy: TuningStrategy
    exhausted: bool = False


@dataclass
class _Trial:
    """A running training job."""

    name: str
    arm: _Arm
    trial_number: int
    process: TrainingProcess
    metric_name: str
    last_value: float | None = None
    stopping: bool = False


class TuningRun:
    """The scheduler of one tuning job.

    Its thread is the only writer of its training jobs' lifecycle fields, so it keeps a mirror of
    their records (``self.records``) instead of reading the store on every poll.
    """

    def __init__(self, engine: Host, name: str, resume: bool) -> None:
        self.engine = engine
        self.store = engine.store
        self.name = name
        self.resume = resume
        self.stop_requested = threading.Event()
        self.shutting_down = threading.Event()
        # set when a training job ends or reports a metric, or a request arrives: the loop reacts
        # at once, and otherwise wakes every poll_interval for the runtime and its limit
        self.wakeup = threading.Event()
        self.trials_to_stop: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._main, name=f"tuning-{name}", daemon=True)
        self.running: dict[str, _Trial] = {}
        self.records: dict[str, TrainingJob] = {}
        self.arms: list[_Arm] = []
        self.prior_candidates: list[TrainingJob] = []
        self.objective: dict[str, Any] = {}
        self.objective_type = "Minimize"
        self.best: TrainingJob | None = None
        self.overall: TrainingJob | None = None
        self.best_value: float | None = None
        self.not_improving = 0
        self.converged = False
        self.runtime_banked = 0.0
        self.resumed_at = time.monotonic()

    # --- the loop ------------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            self._prepare()
            self._loop()
        except Exception as error:  # the job must end visibly, never hang InProgress
            log.exception("tuning job %s crashed", self.name)
            self._stop_all("the tuning job's scheduler failed")
            reason = f"InternalServerError: the local backend's scheduler failed: {error!r}"
            if self.resume:
                reason = f"The local backend restarted while this job ran and could not resume it: {error!r}"
            # e.g. a training job recorded, then the runner raised before it started
            for name, record in list(self.records.items()):
                if record.fields["TrainingJobStatus"] not in TRAINING_JOB_ENDED:
                    self._update_training_job(name, failed_without_outcome(reason, interrupted=False))
            self._end("Failed", reason)

    def _prepare(self) -> None:
        tuning_job = self._job()
        job = tuning_job.fields
        config = job["HyperParameterTuningJobConfig"]
        definitions = [dict(definition) for _path, definition in training_job_definitions(job)]
        self.objective = objective_of(job, definitions[0])
        self.objective_type = self.objective.get("Type", "Minimize")
        limits = config["ResourceLimits"]
        self.parallel = int(limits["MaxParallelTrainingJobs"])
        self.max_runtime = limits.get("MaxRuntimeInSeconds")
        self.criteria = CompletionCriteria.of(config)
        self.convergence_recorded = "ConvergenceDetectedTime" in job["TuningJobCompletionDetails"]
        self.runtime_banked = tuning_job.book.runtime_seconds
        self.records = {
            record.fields["TrainingJobName"]: record for record in self.engine.training_jobs_of(self.name)
        }
        if job["HyperParameterTuningJobStatus"] == "Stopping":
            self.stop_requested.set()  # the backend died between Stopping and Stopped
        for definition in definitions:
            strategy_config = dict(config)
            if definition.get("TuningObjective"):
                strategy_config["HyperParameterTuningJobObjective"] = definition["TuningObjective"]
            strategy = TuningStrategy.from_config(strategy_config, definition.get("HyperParameterRanges"))
            self.arms.append(_Arm(definition, strategy))
        for arm in self.arms:  # a resumed job: its strategies go on with their seeded sequences
            arm.strategy.skip(launched_by(self.records.values(), arm.definition))
        parents = self._parents_trials(job)
        limit = limits.get("MaxNumberOfTrainingJobs")
        # omitted: the grid, or as many as SageMaker's quota leaves beside the warm-start parents' jobs
        # (strategies.MAX_TRAINING_JOBS); the completion criteria and MaxRuntimeInSeconds end it sooner
        unset = min(
            sum(arm.strategy.max_training_jobs for arm in self.arms), MAX_TRAINING_JOBS - len(parents)
        )
        self.budget = int(limit) if limit is not None else unset
        # a resumed job re-seeds its fresh strategy with its own finished trials too
        seeds_from = parents + [record for record in self.records.values() if not record.book.retryable]
        for arm in self.arms:
            seeds = [
                (record.book.tuned, record.book.objective_value)
                for record in seeds_from
                if record.book.objective_value is not None
                and record.book.definition_name in (None, arm.definition.get("DefinitionName"))
            ]
            if seeds:
                arm.strategy.add_prior_trials(seeds)
        if (job.get("WarmStartConfig") or {}).get("WarmStartType") == "IdenticalDataAndAlgorithm":
            self.prior_candidates = parents
        self._recompute()
        self._write_status()

    def _parents_trials(self, job: Record) -> list[TrainingJob]:
        warm_start = job.get("WarmStartConfig") or {}
        records: list[TrainingJob] = []
        for parent in warm_start.get("ParentHyperParameterTuningJobs", []):
            records.extend(
                record
                for record in self.engine.training_jobs_of(parent["HyperParameterTuningJobName"])
                if not record.book.retryable
            )
        return records

    def _loop(self) -> None:
        last_write = time.monotonic()
        while True:
            self.wakeup.clear()
            if self.shutting_down.is_set():
                self._interrupt_all()
                return
            if self.stop_requested.is_set():
                self._stop_all("Stopped by StopHyperParameterTuningJob")
                self._end("Stopped")
                return
            self._handle_stop_requests()
            changed = self._poll_running()
            if changed:
                self._recompute()
            ending = self._ending_reason()
            if ending is not None:
                log.info("tuning job %s ends: %s", self.name, ending)
                self._stop_all(ending)
                self._end(*final_status(self.records.values()))
                return
            changed = self._launch_more() or changed
            used_up = self._launched() >= self.budget or all(arm.exhausted for arm in self.arms)
            if used_up and not self.running:
                self._end(*final_status(self.records.values()))
                return
            # counters change with every launch and end; the runtime alone is written once a second
            if changed or time.monotonic() - last_write >= 1:
                last_write = time.monotonic()
                self._write_status()
            self.wakeup.wait(self._until_next_check())

    def _launched(self) -> int:
        """Training jobs that count against the budget (interrupted ones do not)."""
        return sum(1 for record in self.records.values() if not record.book.retryable)

    def _job(self) -> TuningJob:
        job = self.store.entry(kinds.TUNING_JOBS, self.name)
        assert job is not None, f"tuning job {self.name} vanished while running"
        return job

    def _update_training_job(self, name: str, change: Callable[[TrainingJob], None]) -> None:
        self.records[name] = self.store.update_entry(kinds.TRAINING_JOBS, name, change)

    # --- launching ---------------------------------------------------------------------------

    def _launch_more(self) -> bool:
        launched = False
        count = self._launched()
        while len(self.running) < self.parallel and count < self.budget:
            arms = [arm for arm in self.arms if not arm.exhausted]
            if not arms:
                break
            # round robin over the training definitions of a multi-algorithm job
            arm = arms[count % len(arms)]
            suggestion = arm.strategy.ask()
            if suggestion is None:
                arm.exhausted = True
                continue
            self._launch(arm, suggestion.trial_number, suggestion.hyperparameters)
            count += 1
            launched = True
        return launched

    def _launch(self, arm: _Arm, trial_number: int, tuned: dict[str, str]) -> None:
        job = self._job()  # fresh: tags added since the creation go to new training jobs too
        number = len(self.records) + 1
        name = f"{job.fields['HyperParameterTuningJobName']}-{number:03d}-{secrets.token_hex(4)}"
        objective = objective_of(job.fields, arm.definition)
        record, spec = new_training_job(job, arm.definition, tuned, name, self.engine.region)
        # recorded before it starts: a backend dying in between leaves a job to account for, not
        # a process nobody knows of
        self.store.put(kinds.TRAINING_JOBS, name, record)
        self.records[name] = record
        process = self.engine.runner.start(spec, on_metrics=self.wakeup.set)
        self.running[name] = _Trial(name, arm, trial_number, process, objective.get("MetricName", ""))
        process.add_done_callback(self._wake)

    def _wake(self, _: TrainingOutcome) -> None:
        self.wakeup.set()

    # --- watching ----------------------------------------------------------------------------

    def _handle_stop_requests(self) -> None:
        while True:
            try:
                name = self.trials_to_stop.get_nowait()
            except queue.Empty:
                return
            trial = self.running.get(name)
            if trial is not None:
                self._stop_trial(trial, "Stopped by StopTrainingJob")

    def _stop_trial(self, trial: _Trial, reason: str) -> None:
        if trial.stopping:
            return
        trial.stopping = True
        trial.process.stop(reason)
        self._update_training_job(
            trial.name,
            lambda job: job.fields.update(TrainingJobStatus="Stopping", SecondaryStatus="Stopping"),
        )

    def _poll_running(self) -> bool:
        changed = False
        for trial in list(self.running.values()):
            for sample in trial.process.new_metrics():
                if sample.name != trial.metric_name:
                    continue
                trial.last_value = sample.value
                if trial.arm.strategy.report(trial.trial_number, sample.step, sample.value):
                    self._stop_trial(trial, "Stopped early by the tuning job's early stopping")
            outcome = trial.process.wait(0)
            if outcome is not None:
                self._finish(trial, outcome)
                changed = True
        return changed

    def _finish(self, trial: _Trial, outcome: TrainingOutcome) -> None:
        del self.running[trial.name]
        value = outcome.final_metrics.get(trial.metric_name)
        if value is None and outcome.status == "Stopped":
            value = trial.last_value
        succeeded = value is not None and outcome.status in ("Completed", "Stopped")
        trial.arm.strategy.tell(trial.trial_number, value if succeeded else None, outcome.status)
        end = outcome.end_time.timestamp()
        secondary = outcome.final_secondary_status

        def conclude(job: TrainingJob) -> None:
            record = job.fields
            record.update(
                TrainingJobStatus=outcome.status,
                SecondaryStatus=secondary,
                LastModifiedTime=end,
                **outcome.record_fields(),
            )
            job.book.objective_status = "Succeeded" if succeeded else "Failed"
            job.book.objective_value = value if succeeded else None
            record["SecondaryStatusTransitions"][-1]["EndTime"] = end
            record["SecondaryStatusTransitions"].append(
                {
                    "Status": secondary,
                    "StartTime": end,
                    "StatusMessage": outcome.status_message or outcome.status,
                }
            )

        self._update_training_job(trial.name, conclude)

    def _stop_all(self, reason: str) -> None:
        for trial in list(self.running.values()):
            self._stop_trial(trial, reason)
        for trial in list(self.running.values()):
            outcome = trial.process.wait()
            assert outcome is not None
            self._finish(trial, outcome)

    def _interrupt_all(self) -> None:
        """Backend shutdown: kill the training jobs, mark them interrupted, keep the job InProgress."""
        for trial in self.running.values():
            trial.process.stop("the local backend is shutting down")
        for trial in self.running.values():
            trial.process.wait()
            self._update_training_job(trial.name, interrupted)
        self.running.clear()
        self._recompute()
        self._write_status()
        # the runtime is banked so that downtime does not count against MaxRuntimeInSeconds
        self.store.update_entry(kinds.TUNING_JOBS, self.name, banked(self._runtime()))

    # --- status ------------------------------------------------------------------------------

    def _runtime(self) -> float:
        return self.runtime_banked + time.monotonic() - self.resumed_at

    def _until_next_check(self) -> float:
        if self.max_runtime is None:
            return self.engine.poll_interval
        return max(0.0, min(self.engine.poll_interval, self.max_runtime - self._runtime()))

    def _ending_reason(self) -> str | None:
        """Why the job ends before its budget is used, or None."""
        if self.converged and not self.convergence_recorded:
            # detected whether or not it ends the job: Describe reports when (runtime information)
            self.store.update(kinds.TUNING_JOBS, self.name, mark_convergence)
            self.convergence_recorded = True
        met = self.criteria.met(self.best_value, self.objective_type, self.not_improving, self.converged)
        if met is not None:
            return f"TuningJobCompletionCriteria: {met}"
        if self.max_runtime is not None and self._runtime() >= self.max_runtime:
            return "ResourceLimits: MaxRuntimeInSeconds reached"
        finished = [
            record
            for record in self.records.values()
            if record.fields["TrainingJobStatus"] in TRAINING_JOB_ENDED and not record.book.retryable
        ]
        if len(finished) >= min(FAIL_FAST_AFTER, self.budget) and all(
            record.fields["TrainingJobStatus"] == "Failed" for record in finished
        ):
            return f"the first {len(finished)} training jobs all failed"
        return None

    def _end(self, status: str, failure_reason: str | None = None) -> None:
        self._recompute()
        self._write_status()
        runtime = self._runtime()
        now = time.time()

        def finish(tuning_job: TuningJob) -> None:
            job = tuning_job.fields
            # a Stop that raced with the natural end wins: the user asked for it
            final = "Stopped" if job["HyperParameterTuningJobStatus"] == "Stopping" else status
            job["HyperParameterTuningJobStatus"] = final
            job["HyperParameterTuningEndTime"] = now
            job["LastModifiedTime"] = now
            tuning_job.book.runtime_seconds = runtime
            job["ConsumedResources"] = {"RuntimeInSeconds": round(runtime)}
            if final == "Failed" and failure_reason:
                job["FailureReason"] = failure_reason

        with self.store.transaction():
            self.store.update_entry(kinds.TUNING_JOBS, self.name, finish)
            self.engine.forget(self.name)

    def _recompute(self) -> None:
        """Best jobs and the not-improving count, from the training job records."""
        now = standing(self.records.values(), self.objective_type)
        self.best, self.best_value, self.not_improving = now.best, now.best_value, now.not_improving
        self.converged = converged(now.values, self.objective_type)
        self.overall = self.best
        overall_value = self.best_value
        for record in self.prior_candidates:
            value = record.book.objective_value
            if value is not None and better(value, overall_value, self.objective_type):
                self.overall, overall_value = record, value

    def _write_status(self) -> None:
        """Put counters, best jobs, completion details and runtime on the tuning job's record."""
        own = list(self.records.values())
        runtime = round(self._runtime())
        now = time.time()

        def update(job: Record) -> None:
            job["TrainingJobStatusCounters"] = status_counters(own)
            job["ObjectiveStatusCounters"] = objective_counters(own)
            job["TuningJobCompletionDetails"]["NumberOfTrainingJobsObjectiveNotImproving"] = (
                self.not_improving
            )
            job["ConsumedResources"] = {"RuntimeInSeconds": runtime}
            job["LastModifiedTime"] = now
            if self.best is not None:
                job["BestTrainingJob"] = training_job_summary(self.best, self.objective)
            if self.prior_candidates and self.overall is not None:
                job["OverallBestTrainingJob"] = training_job_summary(self.overall, self.objective)

        self.store.update(kinds.TUNING_JOBS, self.name, update, copy=False)
