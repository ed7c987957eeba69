"""Runs tuning jobs: one scheduler thread per job, its training jobs through the Runner.

A scheduler keeps up to MaxParallelTrainingJobs training jobs running, asks the job's
TuningStrategy for hyperparameters, feeds the objective's intermediate values to it (it answers
whether to stop a job early), tells it the outcomes, and keeps the tuning job's record (counters,
best job, consumed runtime, completion details) current after every change.

How a tuning job ends (documented in docs/local-backend.md):

- Completed: the budget (MaxNumberOfTrainingJobs, or the grid) is used up, or a
  TuningJobCompletionCriteria is met, or ResourceLimits.MaxRuntimeInSeconds is reached (running
  training jobs are stopped then) -- provided at least one training job produced the objective.
- Failed: no training job produced the objective metric. The scheduler gives up early once the
  first ``FAIL_FAST_AFTER`` finished training jobs all ended Failed (a broken script or training
  definition) rather than burning the whole budget.
- Stopped: StopHyperParameterTuningJob (InProgress -> Stopping -> Stopped).

A training job interrupted by a backend shutdown or crash ends Failed, counted as RetryableError
and not against the budget; the tuning job resumes on the next start with a strategy re-seeded
with its finished trials.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_hpt.local import store as kinds
from airflow_hpt.local.answers import DEFAULT_MAX_RUNTIME_SECONDS, training_resource_config
from airflow_hpt.local.runner import Runner, TrainingOutcome, TrainingProcess, TrainingSpec
from airflow_hpt.local.store import Record, Store
from airflow_hpt.local.strategies import TuningStrategy

log = logging.getLogger(__name__)

TERMINAL_STATUSES = frozenset({"Completed", "Stopped", "Failed"})
FAIL_FAST_AFTER = 5
INTERRUPTED = (
    "InternalServerError: the local SageMaker backend stopped while this training job ran; "
    "the tuning job launches a replacement when the backend starts again"
)


def definitions_of(request: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The training definitions of a tuning request (one, or up to ten for multi-algorithm)."""
    if request.get("TrainingJobDefinitions"):
        return [dict(definition) for definition in request["TrainingJobDefinitions"]]
    return [dict(request["TrainingJobDefinition"])]


def _objective(job: Mapping[str, Any], definition: Mapping[str, Any]) -> dict[str, Any]:
    objective = definition.get("TuningObjective") or job["HyperParameterTuningJobConfig"].get(
        "HyperParameterTuningJobObjective"
    )
    return dict(objective or {})


def training_job_summary(record: Mapping[str, Any], objective: Mapping[str, Any]) -> dict[str, Any]:
    """A training job as HyperParameterTrainingJobSummary."""
    summary: dict[str, Any] = {
        "TrainingJobName": record["TrainingJobName"],
        "TrainingJobArn": record["TrainingJobArn"],
        "TuningJobName": record["_tuning_job_name"],
        "CreationTime": record["CreationTime"],
        "TrainingJobStatus": record["TrainingJobStatus"],
        "TunedHyperParameters": record["_tuned"],
        "ObjectiveStatus": record["_objective_status"],
    }
    if record.get("_definition_name"):
        summary["TrainingJobDefinitionName"] = record["_definition_name"]
    for field in ("TrainingStartTime", "TrainingEndTime", "FailureReason"):
        if field in record:
            summary[field] = record[field]
    if record.get("_objective_value") is not None:
        summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
            "Type": record.get("_objective_type") or objective.get("Type", "Minimize"),
            "MetricName": record.get("_objective_metric") or objective.get("MetricName", ""),
            "Value": record["_objective_value"],
        }
    return summary


def _better(value: float, than: float | None, objective_type: str) -> bool:
    if than is None:
        return True
    return value > than if objective_type == "Maximize" else value < than


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


class TuningEngine:
    """Owns the scheduler threads of all tuning jobs of one backend."""

    def __init__(self, store: Store, runner: Runner, region: str, poll_interval: float = 0.05) -> None:
        self.store = store
        self.runner = runner
        self.region = region
        self.poll_interval = poll_interval
        self._lock = threading.Lock()
        self._runs: dict[str, _TuningRun] = {}

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
            "TrainingJobStatusCounters": _status_counters([]),
            "ObjectiveStatusCounters": _objective_counters([]),
            "ConsumedResources": {"RuntimeInSeconds": 0},
            "TuningJobCompletionDetails": {"NumberOfTrainingJobsObjectiveNotImproving": 0},
            "_tags": [dict(tag) for tag in tags],
            "_runtime_seconds": 0.0,
            # a name can be reused once its job is deleted; its training jobs stay, with this id
            "_id": uuid.uuid4().hex,
        }
        self.store.put(kinds.TUNING_JOBS, name, record)
        self._start(name, resume=False)

    def recover(self) -> None:
        """After a (re)start: interrupted training jobs end Failed, unfinished tuning jobs go on."""
        unfinished = self.store.all(
            kinds.TRAINING_JOBS,
            where=lambda record: record["TrainingJobStatus"] in ("InProgress", "Stopping"),
        )
        for record in unfinished:
            self.store.update(kinds.TRAINING_JOBS, record["TrainingJobName"], _interrupted)
        for job in self.store.all(kinds.TUNING_JOBS):
            if job["HyperParameterTuningJobStatus"] in ("InProgress", "Stopping"):
                self._start(job["HyperParameterTuningJobName"], resume=True)

    def _start(self, name: str, resume: bool) -> None:
        run = _TuningRun(self, name, resume)
        with self._lock:
            self._runs[name.lower()] = run
        run.thread.start()

    def training_jobs_of(self, tuning_job_name: str) -> list[Record]:
        """The training jobs a tuning job launched (not those of a deleted job of the same name)."""
        job = self.store.get(kinds.TUNING_JOBS, tuning_job_name)
        if job is None:
            return []
        return self.store.all(
            kinds.TRAINING_JOBS, where=lambda record: record["_tuning_job_id"] == job["_id"]
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
            self.store.update(kinds.TUNING_JOBS, name, _set(HyperParameterTuningJobStatus="Stopping"))
        with self._lock:
            run = self._runs.get(name.lower())
        if run is not None:
            run.stop_requested.set()
            run.wakeup.set()

    def stop_training_job(self, training_job_name: str) -> None:
        record = self.store.get(kinds.TRAINING_JOBS, training_job_name)
        if record is None or record["TrainingJobStatus"] != "InProgress":
            status = record["TrainingJobStatus"] if record else "unknown"
            raise ValueError(f"The request was rejected because the training job is in status {status}.")
        with self._lock:
            run = self._runs.get(record["_tuning_job_name"].lower())
        if run is None or not run.thread.is_alive():
            raise ValueError(f"Training job {training_job_name} is not running")
        run.trials_to_stop.put(record["TrainingJobName"])
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


class _TuningRun:
    """The scheduler of one tuning job.

    Its thread is the only writer of its training jobs' lifecycle fields, so it keeps a mirror of
    their records (``self.records``) instead of reading the store on every poll.
    """

    def __init__(self, engine: TuningEngine, name: str, resume: bool) -> None:
        self.engine = engine
        self.store = engine.store
        self.name = name
        self.resume = resume
        self.stop_requested = threading.Event()
        self.shutting_down = threading.Event()
        # set when a training job ends or a request arrives: the loop reacts at once, and polls
        # the running jobs' metrics every poll_interval otherwise
        self.wakeup = threading.Event()
        self.trials_to_stop: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._main, name=f"tuning-{name}", daemon=True)
        self.running: dict[str, _Trial] = {}
        self.records: dict[str, Record] = {}
        self.arms: list[_Arm] = []
        self.prior_candidates: list[Record] = []
        self.objective: dict[str, Any] = {}
        self.objective_type = "Minimize"
        self.best: Record | None = None
        self.overall: Record | None = None
        self.best_value: float | None = None
        self.not_improving = 0
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
                if record["TrainingJobStatus"] not in TERMINAL_STATUSES:
                    self._update_training_job(name, _failed_without_outcome(reason, interrupted=False))
            self._end("Failed", reason)

    def _prepare(self) -> None:
        job = self._job()
        config = job["HyperParameterTuningJobConfig"]
        definitions = definitions_of(job)
        self.objective = _objective(job, definitions[0])
        self.objective_type = self.objective.get("Type", "Minimize")
        limits = config["ResourceLimits"]
        self.parallel = int(limits["MaxParallelTrainingJobs"])
        self.max_runtime = limits.get("MaxRuntimeInSeconds")
        criteria = config.get("TuningJobCompletionCriteria") or {}
        self.target = criteria.get("TargetObjectiveMetricValue")
        self.not_improving_limit = (criteria.get("BestObjectiveNotImproving") or {}).get(
            "MaxNumberOfTrainingJobsNotImproving"
        )
        self.runtime_banked = float(job["_runtime_seconds"])
        self.records = {
            record["TrainingJobName"]: record for record in self.engine.training_jobs_of(self.name)
        }
        if job["HyperParameterTuningJobStatus"] == "Stopping":
            self.stop_requested.set()  # the backend died between Stopping and Stopped
        for definition in definitions:
            strategy_config = dict(config)
            if definition.get("TuningObjective"):
                strategy_config["HyperParameterTuningJobObjective"] = definition["TuningObjective"]
            strategy = TuningStrategy.from_config(strategy_config, definition.get("HyperParameterRanges"))
            self.arms.append(_Arm(definition, strategy))
        grid_total = sum(arm.strategy.max_training_jobs for arm in self.arms)
        self.budget = int(limits.get("MaxNumberOfTrainingJobs") or grid_total)
        parents = self._parents_trials(job)
        # a resumed job re-seeds its fresh strategy with its own finished trials too
        seeds_from = parents + [record for record in self.records.values() if not record.get("_retryable")]
        for arm in self.arms:
            seeds = [
                (record["_tuned"], record["_objective_value"])
                for record in seeds_from
                if record.get("_objective_value") is not None
                and record.get("_definition_name") in (None, arm.definition.get("DefinitionName"))
            ]
            if seeds:
                arm.strategy.add_prior_trials(seeds)
        if (job.get("WarmStartConfig") or {}).get("WarmStartType") == "IdenticalDataAndAlgorithm":
            self.prior_candidates = parents
        self._recompute()
        self._write_status()

    def _parents_trials(self, job: Record) -> list[Record]:
        warm_start = job.get("WarmStartConfig") or {}
        records: list[Record] = []
        for parent in warm_start.get("ParentHyperParameterTuningJobs", []):
            records.extend(
                record
                for record in self.engine.training_jobs_of(parent["HyperParameterTuningJobName"])
                if not record.get("_retryable")
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
                self._end(*self._final_status())
                return
            changed = self._launch_more() or changed
            used_up = self._launched() >= self.budget or all(arm.exhausted for arm in self.arms)
            if used_up and not self.running:
                self._end(*self._final_status())
                return
            # counters change with every launch and end; the runtime alone is written once a second
            if changed or time.monotonic() - last_write >= 1:
                last_write = time.monotonic()
                self._write_status()
            self.wakeup.wait(self.engine.poll_interval)

    def _launched(self) -> int:
        """Training jobs that count against the budget (interrupted ones do not)."""
        return sum(1 for record in self.records.values() if not record.get("_retryable"))

    def _job(self) -> Record:
        job = self.store.get(kinds.TUNING_JOBS, self.name)
        assert job is not None, f"tuning job {self.name} vanished while running"
        return job

    def _update_training_job(self, name: str, change: Callable[[Record], None]) -> None:
        self.records[name] = self.store.update(kinds.TRAINING_JOBS, name, change)

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
        name = f"{job['HyperParameterTuningJobName']}-{number:03d}-{secrets.token_hex(4)}"
        definition = arm.definition
        objective = _objective(job, definition)
        hyperparameters = {**(definition.get("StaticHyperParameters") or {}), **tuned}
        algorithm = definition["AlgorithmSpecification"]
        stopping = definition["StoppingCondition"]
        output_path = definition["OutputDataConfig"]["S3OutputPath"]
        now = time.time()
        record: Record = {
            "TrainingJobName": name,
            "TrainingJobArn": kinds.arn_for(self.engine.region, kinds.TRAINING_JOBS, name),
            "TuningJobArn": job["HyperParameterTuningJobArn"],
            "ModelArtifacts": {"S3ModelArtifacts": f"{output_path.rstrip('/')}/{name}/output/model.tar.gz"},
            "TrainingJobStatus": "InProgress",
            "SecondaryStatus": "Training",
            "HyperParameters": hyperparameters,
            "AlgorithmSpecification": algorithm,
            "InputDataConfig": definition.get("InputDataConfig", []),
            "OutputDataConfig": definition["OutputDataConfig"],
            "StoppingCondition": stopping,
            "CreationTime": now,
            "TrainingStartTime": now,
            "LastModifiedTime": now,
            "SecondaryStatusTransitions": [
                {"Status": "Training", "StartTime": now, "StatusMessage": "Training the model locally"}
            ],
            "_tuning_job_name": job["HyperParameterTuningJobName"],
            "_tuning_job_id": job["_id"],
            "_tuned": dict(tuned),
            "_objective_status": "Pending",
            "_objective_metric": objective.get("MetricName"),
            "_objective_type": objective.get("Type"),
            "_tags": list(job.get("_tags", [])),
        }
        for optional in ("RoleArn", "Environment"):
            if definition.get(optional):
                record[optional] = definition[optional]
        resource_config = training_resource_config(definition)
        if resource_config:
            record["ResourceConfig"] = resource_config
        if definition.get("DefinitionName"):
            record["_definition_name"] = definition["DefinitionName"]
        spec = TrainingSpec(
            training_job_name=name,
            hyperparameters=hyperparameters,
            input_data_config=definition.get("InputDataConfig", []),
            output_path=output_path,
            metric_definitions=algorithm.get("MetricDefinitions", []),
            max_runtime_seconds=int(stopping.get("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME_SECONDS)),
            environment=definition.get("Environment") or {},
        )
        # recorded before it starts: a backend dying in between leaves a job to account for, not
        # a process nobody knows of
        self.store.put(kinds.TRAINING_JOBS, name, record)
        self.records[name] = record
        process = self.engine.runner.start(spec)
        self.running[name] = _Trial(name, arm, trial_number, process, objective.get("MetricName", ""))
        threading.Thread(
            target=self._wake_when_done, args=(process,), name=f"watch-{name}", daemon=True
        ).start()

    def _wake_when_done(self, process: TrainingProcess) -> None:
        process.wait()
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
        self._update_training_job(trial.name, _set(TrainingJobStatus="Stopping", SecondaryStatus="Stopping"))

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
        start, end = outcome.start_time.timestamp(), outcome.end_time.timestamp()
        seconds = max(1, round(end - start))
        secondary = outcome.secondary_status or outcome.status

        def conclude(record: Record) -> None:
            record.update(
                TrainingJobStatus=outcome.status,
                SecondaryStatus=secondary,
                TrainingStartTime=start,
                TrainingEndTime=end,
                LastModifiedTime=end,
                TrainingTimeInSeconds=seconds,
                BillableTimeInSeconds=seconds,
                FinalMetricDataList=[
                    {"MetricName": metric, "Value": metric_value, "Timestamp": end}
                    for metric, metric_value in outcome.final_metrics.items()
                ],
                _objective_status="Succeeded" if succeeded else "Failed",
                _objective_value=value if succeeded else None,
            )
            record["SecondaryStatusTransitions"][-1]["EndTime"] = end
            record["SecondaryStatusTransitions"].append(
                {
                    "Status": secondary,
                    "StartTime": end,
                    "StatusMessage": outcome.status_message or outcome.status,
                }
            )
            if outcome.model_artifacts:
                record["ModelArtifacts"] = {"S3ModelArtifacts": outcome.model_artifacts}
            if outcome.failure_reason:
                record["FailureReason"] = outcome.failure_reason

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
            self._update_training_job(trial.name, _interrupted)
        self.running.clear()
        self._recompute()
        self._write_status()
        # the runtime is banked so that downtime does not count against MaxRuntimeInSeconds
        self.store.update(kinds.TUNING_JOBS, self.name, _set(_runtime_seconds=self._runtime()))

    # --- status ------------------------------------------------------------------------------

    def _runtime(self) -> float:
        return self.runtime_banked + time.monotonic() - self.resumed_at

    def _ending_reason(self) -> str | None:
        """Why the job ends before its budget is used, or None."""
        if (
            self.target is not None
            and self.best_value is not None
            and not _better(float(self.target), self.best_value, self.objective_type)
        ):
            return "TuningJobCompletionCriteria: TargetObjectiveMetricValue reached"
        if self.not_improving_limit is not None and self.not_improving >= self.not_improving_limit:
            self.store.update(kinds.TUNING_JOBS, self.name, _mark_convergence)
            return "TuningJobCompletionCriteria: BestObjectiveNotImproving"
        if self.max_runtime is not None and self._runtime() >= self.max_runtime:
            return "ResourceLimits: MaxRuntimeInSeconds reached"
        finished = [
            record
            for record in self.records.values()
            if record["TrainingJobStatus"] in TERMINAL_STATUSES and not record.get("_retryable")
        ]
        if len(finished) >= min(FAIL_FAST_AFTER, self.budget) and all(
            record["TrainingJobStatus"] == "Failed" for record in finished
        ):
            return f"the first {len(finished)} training jobs all failed"
        return None

    def _final_status(self) -> tuple[str, str | None]:
        own = [record for record in self.records.values() if not record.get("_retryable")]
        if any(record["_objective_status"] == "Succeeded" for record in own):
            return "Completed", None
        failures = [
            record.get("FailureReason", "") for record in own if record["TrainingJobStatus"] == "Failed"
        ]
        reason = (
            f"No training job produced the objective metric ({len(own)} launched, {len(failures)} failed)."
        )
        if failures:
            reason += f" Last failure: {failures[-1]}"
        return "Failed", reason[:1024]

    def _end(self, status: str, failure_reason: str | None = None) -> None:
        self._recompute()
        self._write_status()
        runtime = self._runtime()
        now = time.time()

        def finish(job: Record) -> None:
            # a Stop that raced with the natural end wins: the user asked for it
            final = "Stopped" if job["HyperParameterTuningJobStatus"] == "Stopping" else status
            job["HyperParameterTuningJobStatus"] = final
            job["HyperParameterTuningEndTime"] = now
            job["LastModifiedTime"] = now
            job["_runtime_seconds"] = runtime
            job["ConsumedResources"] = {"RuntimeInSeconds": round(runtime)}
            if final == "Failed" and failure_reason:
                job["FailureReason"] = failure_reason

        with self.store.transaction():
            self.store.update(kinds.TUNING_JOBS, self.name, finish)
            self.engine.forget(self.name)

    def _recompute(self) -> None:
        """Best jobs and the not-improving count, from the training job records."""
        self.best = None
        self.best_value = None
        self.not_improving = 0
        for record in sorted(self.records.values(), key=lambda record: record["CreationTime"]):
            if record["TrainingJobStatus"] not in TERMINAL_STATUSES or record.get("_retryable"):
                continue
            value = record.get("_objective_value")
            if value is not None and _better(value, self.best_value, self.objective_type):
                # SageMaker's BestObjectiveNotImproving counts jobs that improve the best by < 1 %
                previous: float | None = self.best_value
                enough = previous is None or abs(value - previous) >= 0.01 * abs(previous)
                self.best, self.best_value = record, value
                self.not_improving = 0 if enough else self.not_improving + 1
            else:
                self.not_improving += 1
        self.overall = self.best
        overall_value = self.best_value
        for record in self.prior_candidates:
            value = record.get("_objective_value")
            if value is not None and _better(value, overall_value, self.objective_type):
                self.overall, overall_value = record, value

    def _write_status(self) -> None:
        """Put counters, best jobs, completion details and runtime on the tuning job's record."""
        own = list(self.records.values())
        runtime = round(self._runtime())
        now = time.time()

        def update(job: Record) -> None:
            job["TrainingJobStatusCounters"] = _status_counters(own)
            job["ObjectiveStatusCounters"] = _objective_counters(own)
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


def _status_counters(records: Sequence[Record]) -> dict[str, int]:
    counters = {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0}
    for record in records:
        status = record["TrainingJobStatus"]
        if record.get("_retryable"):
            counters["RetryableError"] += 1
        elif status == "Failed":
            counters["NonRetryableError"] += 1
        elif status in ("InProgress", "Stopping"):
            counters["InProgress"] += 1
        else:
            counters[status] += 1
    return counters


def _objective_counters(records: Sequence[Record]) -> dict[str, int]:
    counters = {"Succeeded": 0, "Pending": 0, "Failed": 0}
    for record in records:
        counters[record["_objective_status"]] += 1
    return counters


def _set(**fields: Any) -> Callable[[Record], None]:
    def change(record: Record) -> None:
        record.update(fields)

    return change


def _failed_without_outcome(reason: str, *, interrupted: bool) -> Callable[[Record], None]:
    """A training job that ended with no outcome from its process: Failed.

    ``interrupted``: the backend went down under it; a RetryableError, not counted in the budget.
    """

    def change(record: Record) -> None:
        now = time.time()
        record.update(
            TrainingJobStatus="Failed",
            SecondaryStatus="Interrupted" if interrupted else "Failed",
            FailureReason=reason,
            TrainingEndTime=now,
            LastModifiedTime=now,
            _objective_status="Failed",
            _objective_value=None,
        )
        if interrupted:
            record["_retryable"] = True

    return change


_interrupted = _failed_without_outcome(INTERRUPTED, interrupted=True)


def _mark_convergence(job: Record) -> None:
    job["TuningJobCompletionDetails"].setdefault("ConvergenceDetectedTime", time.time())
