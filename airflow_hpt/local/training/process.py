"""One training job's process: launched through the toolkit, its output captured, its end concluded.

Status rules follow SageMaker: exit code 0 is Completed; any other exit is Failed, with the
content of ``output/failure`` as FailureReason (the script's own, or the toolkit's
``ExecuteUserScriptError`` with the log's tail as its ErrorMessage); a StopTrainingJob is
Stopped; reaching ``MaxRuntimeInSeconds`` is also Stopped, with the secondary status
``MaxRuntimeExceeded`` (SageMaker's SecondaryStatus for exactly that case). A Stopped job keeps
its model artifact when the script saved something before it ended.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import tarfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import airflow_hpt.local.training.toolkit as toolkit
from airflow_hpt.local.s3.paths import LocalS3
from airflow_hpt.local.training.capture import MetricParser, MetricSample, TimedLog, now
from airflow_hpt.local.training.layout import (
    JobLayout,
)

STATUS_COMPLETED = "Completed"


STATUS_FAILED = "Failed"


STATUS_STOPPED = "Stopped"


SECONDARY_MAX_RUNTIME = "MaxRuntimeExceeded"


# SageMaker reports the end of the log in FailureReason; it caps the field, so do we.
TAIL_LINES = 40


TAIL_BYTES = 1024


# how often a job whose output went quiet checks that its script still lives (not a hot path:
# output and exit normally arrive as pipe events)
EXIT_CHECK_SECONDS = 1.0


READ_SIZE = 65536


# the toolkit's failure file when the script exited non-zero; it runs the script without
# capturing stderr, so its ErrorMessage is empty and the log's tail goes there instead
_TOOLKIT_ERROR = re.compile(r'^\w+Error:\nExitCode \S+\nErrorMessage ""\n', re.ASCII)


_TOOLKIT_REPORT = "Reporting training FAILURE"


_ERROR_MESSAGE_CHARS = 640


@dataclass(frozen=True)
class TrainingSpec:
    """What the engine knows of one training job (request fields, wire spelling)."""

    training_job_name: str
    hyperparameters: Mapping[str, str]
    input_data_config: Sequence[Mapping[str, Any]]
    output_path: str
    metric_definitions: Sequence[Mapping[str, str]]
    max_runtime_seconds: int
    environment: Mapping[str, str] = field(default_factory=dict)
    instance_type: str = "local"


@dataclass(frozen=True)
class TrainingOutcome:
    """How a training job ended.

    ``secondary_status`` is SageMaker's SecondaryStatus for the final state (``Completed``,
    ``Failed``, ``Stopped`` or ``MaxRuntimeExceeded``); ``status_message`` says why in words.
    """

    status: str
    failure_reason: str | None
    final_metrics: dict[str, float]
    model_artifacts: str | None
    start_time: datetime
    end_time: datetime
    exit_code: int | None
    secondary_status: str = ""
    status_message: str = ""

    @property
    def final_secondary_status(self) -> str:
        return self.secondary_status or self.status

    def record_fields(self) -> dict[str, Any]:
        """The training job record's members this outcome settles (times, metrics, artifacts, failure)."""
        start, end = self.start_time.timestamp(), self.end_time.timestamp()
        seconds = max(1, round(end - start))
        fields: dict[str, Any] = {
            "TrainingStartTime": start,
            "TrainingEndTime": end,
            "TrainingTimeInSeconds": seconds,
            "BillableTimeInSeconds": seconds,
            "FinalMetricDataList": [
                {"MetricName": metric, "Value": value, "Timestamp": end}
                for metric, value in self.final_metrics.items()
            ],
        }
        if self.model_artifacts:
            fields["ModelArtifacts"] = {"S3ModelArtifacts": self.model_artifacts}
        if self.failure_reason:
            fields["FailureReason"] = self.failure_reason
        return fields


@dataclass(frozen=True)
class Launch:
    """How to start a prepared job: the toolkit's environment and interpreter."""

    env: dict[str, str]
    python: Path | None
    pycache: Path | None


def _tail(lines: Sequence[str]) -> str:
    text = "".join(lines)
    return text[-TAIL_BYTES:].strip()


class TrainingProcess:
    """A training job being run (or finished). Create it with :meth:`Runner.start`.

    One thread per job prepares the folder, launches the script and pumps its output: the log
    pipe is read with ``select`` so that output, the runtime deadline and the exit are all
    handled without a second thread or a polling sleep.
    """

    def __init__(
        self,
        spec: TrainingSpec,
        layout: JobLayout,
        s3: LocalS3,
        stop_grace_seconds: float,
        on_metrics: Callable[[], None] | None = None,
    ) -> None:
        self.spec = spec
        self.log_path = layout.log
        self.start_time = now()
        self._layout = layout
        self._s3 = s3
        self._grace = stop_grace_seconds
        self._parser = MetricParser(spec.metric_definitions, layout.metrics)
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._stop_reason: tuple[str, str] | None = None
        self._proc: toolkit.ToolkitProcess | None = None
        self._outcome: TrainingOutcome | None = None
        self._callbacks: list[Callable[[TrainingOutcome], None]] = []
        self._on_metrics = on_metrics

    # -- public interface --------------------------------------------------------------------

    def new_metrics(self) -> list[MetricSample]:
        """Samples parsed since the previous call."""
        return self._parser.take()

    def running(self) -> bool:
        return not self._done.is_set()

    def stop(self, reason: str = "Stopped") -> None:
        """SIGTERM to the process group, SIGKILL after the grace period; the job ends Stopped."""
        self._request_stop(STATUS_STOPPED, reason)

    def wait(self, timeout: float | None = None) -> TrainingOutcome | None:
        """The outcome, or None if the job is still running after ``timeout`` seconds."""
        if not self._done.wait(timeout):
            return None
        return self._outcome

    def add_done_callback(self, callback: Callable[[TrainingOutcome], None]) -> None:
        """Call ``callback(outcome)`` when the job ends (at once if it has), from the job's thread.

        Saves a watcher thread per job; the callback must be quick and must not raise.
        """
        with self._lock:
            if self._outcome is None:
                self._callbacks.append(callback)
                return
        callback(self._outcome)

    # -- lifecycle ---------------------------------------------------------------------------

    def _run(self, prepare: Callable[[], Launch]) -> None:
        try:
            self._prepare_and_run(prepare)
        except Exception as exc:
            # never leave the engine waiting on a job whose thread died
            if not self._done.is_set():
                self._fail(f"InternalServerError: {type(exc).__name__}: {exc}")
            raise

    def _prepare_and_run(self, prepare: Callable[[], Launch]) -> None:
        try:
            launch = prepare()
        except toolkit.RequirementsError as exc:
            self._fail(str(exc))
            return
        except (OSError, ValueError, KeyError, TypeError, tarfile.TarError) as exc:
            self._fail(f"ClientError: {exc}")
            return
        try:
            proc = self._launch_unless_stopped(launch)
        except OSError as exc:
            self._fail(f"AlgorithmError: cannot run the sagemaker-training toolkit: {exc}")
            return
        if proc is None:
            assert self._stop_reason is not None
            self._finish(STATUS_STOPPED, None, None, *self._stop_reason)
            return
        exit_code = self._pump(proc)
        if exit_code is None:
            self._fail(f"InternalServerError: {proc.lost}")
            return
        self._conclude(exit_code)

    def _launch_unless_stopped(self, launch: Launch) -> toolkit.ToolkitProcess | None:
        # under the lock, a stop either comes first (no launch) or finds the process to signal
        with self._lock:
            if self._stop_reason is not None:
                return None
            self._proc = toolkit.launch(self._layout.root, launch.env, launch.python, launch.pycache)
            return self._proc

    def _fail(self, reason: str, exit_code: int | None = None) -> None:
        with TimedLog(self._layout.log, self._layout.log_times) as log:
            log.write((reason + "\n").encode("utf-8"))
        self._finish(STATUS_FAILED, reason, exit_code, STATUS_FAILED, reason)

    def _pump(self, proc: toolkit.ToolkitProcess) -> int | None:
        """Copy the output to the log and the metric parser until the script is done.

        Its exit code, or None when its launcher died with it (``proc.lost`` says so).
        """
        fd = proc.output_fd
        deadline = time.monotonic() + self.spec.max_runtime_seconds
        partial = b""
        leftovers_killed = False
        with (
            contextlib.closing(proc),
            selectors.DefaultSelector() as selector,
            TimedLog(self._layout.log, self._layout.log_times) as log,
        ):
            selector.register(fd, selectors.EVENT_READ)
            while True:
                timeout = EXIT_CHECK_SECONDS
                if self._stop_reason is None:
                    timeout = min(timeout, max(0.0, deadline - time.monotonic()))
                if selector.select(timeout):
                    chunk = os.read(fd, READ_SIZE)
                    if not chunk:
                        break
                    log.write(chunk)
                    partial = self._consume(partial + chunk)
                elif proc.poll() is not None or proc.lost:
                    # the script is gone but something it started holds the pipe open; once its
                    # group is killed, only a process that left the group (setsid) can: stop reading
                    if leftovers_killed:
                        break
                    self._signal_group(signal.SIGKILL)
                    leftovers_killed = True
                elif time.monotonic() >= deadline:
                    self._request_stop(SECONDARY_MAX_RUNTIME, "Training job reached MaxRuntimeInSeconds")
            if partial:
                self._consume(partial + b"\n")
        # the output is closed, yet the script may still run: the deadline holds until it exits
        exit_code = proc.wait(max(0.0, deadline - time.monotonic()))
        if exit_code is None and not proc.lost:
            self._request_stop(SECONDARY_MAX_RUNTIME, "Training job reached MaxRuntimeInSeconds")
            exit_code = proc.wait()
        # whatever the script left running in its group ends with the job, as with a container
        self._signal_group(signal.SIGKILL)
        return exit_code

    def _consume(self, data: bytes) -> bytes:
        """Parse the complete lines of ``data``; the unfinished last line is returned."""
        *lines, partial = data.split(b"\n")
        sampled = False
        for raw in lines:
            line = raw.decode("utf-8", errors="replace")
            self._tail.append(line + "\n")
            sampled = self._parser.feed(line) or sampled
        if sampled and self._on_metrics is not None:
            self._on_metrics()
        return partial

    def _request_stop(self, secondary: str, message: str) -> None:
        with self._lock:
            if self._stop_reason is not None or self._done.is_set():
                return
            self._stop_reason = (secondary, message)
        self._signal_group(signal.SIGTERM)
        killer = threading.Timer(self._grace, self._signal_group, args=(signal.SIGKILL,))
        killer.daemon = True
        killer.start()

    def _signal_group(self, signum: signal.Signals) -> None:
        # a finished job's group id may since belong to someone else
        if self._proc is None or self._done.is_set():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is already gone
            os.killpg(self._proc.pid, signum)

    def _conclude(self, exit_code: int) -> None:
        stopped = self._stop_reason is not None
        try:
            self._pack_output_data()
            artifacts = self._pack_model(only_if_saved=stopped) if stopped or exit_code == 0 else None
        except OSError as exc:
            self._fail(f"ClientError: uploading the job's artifacts failed: {exc}", exit_code)
            return
        if self._stop_reason is not None:
            self._finish(STATUS_STOPPED, None, exit_code, *self._stop_reason, artifacts)
        elif exit_code == 0:
            self._finish(
                STATUS_COMPLETED, None, exit_code, STATUS_COMPLETED, "Training job completed", artifacts
            )
        else:
            reason = self._failure_reason(exit_code)
            self._finish(STATUS_FAILED, reason, exit_code, STATUS_FAILED, reason)

    def _failure_reason(self, exit_code: int) -> str:
        try:
            written = self._layout.failure.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            written = ""
        if _TOOLKIT_ERROR.match(written):
            lines = list(self._tail)
            # the script's last words, not the toolkit's report of them
            reports = [i for i, line in enumerate(lines) if _TOOLKIT_REPORT in line]
            script_tail = _tail(lines[: reports[-1]] if reports else lines)[-_ERROR_MESSAGE_CHARS:]
            message = written.replace('ErrorMessage ""', f'ErrorMessage "{script_tail}"', 1)
            return f"AlgorithmError: {message}"[:TAIL_BYTES]
        if written:
            return written[:TAIL_BYTES]
        return f"AlgorithmError: ExecuteUserScriptError: ExitCode {exit_code}\n{_tail(self._tail)}"

    def _finish(
        self,
        status: str,
        failure_reason: str | None,
        exit_code: int | None,
        secondary: str,
        message: str,
        artifacts: str | None = None,
    ) -> None:
        outcome = TrainingOutcome(
            status=status,
            failure_reason=failure_reason,
            final_metrics=self._parser.final(),
            model_artifacts=artifacts,
            start_time=self.start_time,
            end_time=now(),
            exit_code=exit_code,
            secondary_status=secondary,
            status_message=message,
        )
        with self._lock:
            self._outcome = outcome
            callbacks, self._callbacks = self._callbacks, []
        self._done.set()
        for callback in callbacks:
            callback(outcome)

    # -- artifacts ---------------------------------------------------------------------------

    def _artifact_uri(self, file_name: str) -> str:
        return f"{self.spec.output_path.rstrip('/')}/{self.spec.training_job_name}/output/{file_name}"

    def _pack_model(self, only_if_saved: bool) -> str | None:
        if only_if_saved and not any(self._layout.model.iterdir()):
            return None
        uri = self._artifact_uri("model.tar.gz")
        _pack(self._layout.model, self._s3.object_path(uri))
        return uri

    def _pack_output_data(self) -> None:
        if any(self._layout.output_data.iterdir()):
            _pack(self._layout.output_data, self._s3.object_path(self._artifact_uri("output.tar.gz")))


def _pack(folder: Path, target: Path) -> None:
    """``folder``'s content at the root of a gzipped tar (SageMaker's layout), written atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    # level 6: model files are often large and already dense; level 9 costs time for nothing
    with tarfile.open(partial, "w:gz", compresslevel=6) as archive:
        for entry in sorted(folder.iterdir()):
            archive.add(entry, arcname=entry.name)
    partial.replace(target)
