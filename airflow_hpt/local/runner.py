"""Runs one training job locally under SageMaker's script-mode contract.

A real SageMaker script-mode entry point runs unchanged: the job gets a folder laid out like
``/opt/ml`` (``<home>/training/<job>/``), the script runs in its own process group with the
hyperparameters as ``--name value`` arguments and the ``SM_*`` environment of the SageMaker
training toolkit, its output is kept in a log file and scanned with the MetricDefinitions
regexes, and on completion ``model/`` is packed to ``<S3OutputPath>/<job>/output/model.tar.gz``.

Per-job set-up is kept small, since a tuning job may run hundreds of short jobs: the job's
``code`` folder links to a snapshot of ``sagemaker_submit_directory`` shared by the jobs of
the same code version (under ``<home>/code``; scripts should treat it as read-only). Where
``PYTHONDONTWRITEBYTECODE`` is set, training scripts get a shared bytecode cache instead (see
:func:`_bytecode_environment`).

Status rules follow SageMaker: exit code 0 is Completed; any other exit is Failed, with the
content of ``output/failure`` as FailureReason when the script wrote one, else the log's tail;
a StopTrainingJob is Stopped; reaching ``MaxRuntimeInSeconds`` is also Stopped, with the
secondary status ``MaxRuntimeExceeded`` (SageMaker's SecondaryStatus for exactly that case).
A Stopped job keeps its model artifact when the script saved something before it ended.

Not emulated: ``requirements.txt`` installation, distributed training (one host, ``algo-1``),
Pipe/FastFile input modes (File mode only) and ManifestFile/AugmentedManifestFile data types.
"""

from __future__ import annotations

import contextlib
import functools
import glob
import hashlib
import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airflow_hpt.local.s3 import LocalS3

PROGRAM_HP = "sagemaker_program"
SUBMIT_DIR_HP = "sagemaker_submit_directory"
HOST = "algo-1"
STATUS_COMPLETED = "Completed"
STATUS_FAILED = "Failed"
STATUS_STOPPED = "Stopped"
SECONDARY_MAX_RUNTIME = "MaxRuntimeExceeded"
# SageMaker reports the end of the log in FailureReason; it caps the field, so do we.
TAIL_LINES = 20
TAIL_BYTES = 1024
# how often a job whose output went quiet checks that its script still lives (not a hot path:
# output and exit normally arrive as pipe events)
EXIT_CHECK_SECONDS = 1.0
READ_SIZE = 65536
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
_NOT_CODE_DIRS = ("__pycache__", ".git")
_NOT_CODE = shutil.ignore_patterns(*_NOT_CODE_DIRS, "*.pyc")
# Beside ``training.log``, for the CloudWatch front (airflow_hpt.local.logs / metrics): when each
# chunk of the log was written ("<byte offset> <epoch ms>" lines), and the parsed metric samples
# (JSON lines). Written by the job's pump thread only.
LOG_FILE = "training.log"
LOG_TIMES_FILE = "training.log.times"
METRICS_FILE = "metrics.jsonl"


def job_folder(home: Path, training_job_name: str) -> Path:
    """The ``/opt/ml``-like folder of a training job under the backend's home."""
    return Path(home) / "training" / training_job_name


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


@dataclass(frozen=True)
class MetricSample:
    """One regex match in the log; ``step`` counts this metric's occurrences from 0."""

    name: str
    value: float
    timestamp: datetime
    step: int


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


def _now() -> datetime:
    return datetime.now(UTC)


def _decode_hp(value: str) -> Any:
    """A hyperparameter as the SageMaker toolkit sees it: JSON-decoded when it is JSON.

    The SageMaker Python SDK JSON-encodes every value (``'"train.py"'``); plain strings
    (``0.1``, ``rbf``) are left alone.
    """
    try:
        return json.loads(value)
    except (ValueError, TypeError):
        return value


def hyperparameter_text(value: str) -> str:
    """A hyperparameter as a command-line string: a JSON string literal loses its quotes."""
    decoded = _decode_hp(value)
    return decoded if isinstance(decoded, str) else value


def _env_name(name: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", name.upper())


def _tail(lines: Sequence[str]) -> str:
    text = "".join(lines)
    return text[-TAIL_BYTES:].strip()


class _MetricParser:
    """Applies MetricDefinitions to log lines; thread-safe hand-over of new samples."""

    def __init__(self, definitions: Sequence[Mapping[str, str]], samples_file: Path | None = None) -> None:
        self._patterns = [(d["Name"], re.compile(d["Regex"])) for d in definitions]
        self._samples_file = samples_file
        self._lock = threading.Lock()
        self._pending: list[MetricSample] = []
        self._counts: dict[str, int] = {}
        self.last: dict[str, float] = {}

    def feed(self, line: str) -> None:
        for name, pattern in self._patterns:
            for match in pattern.finditer(line):
                value = self._value(match)
                if value is not None:
                    self._record(name, value)

    @staticmethod
    def _value(match: re.Match[str]) -> float | None:
        text = match.group(1) if match.re.groups else match.group(0)
        try:
            return float(text)
        except (TypeError, ValueError):
            # SageMaker skips matches that are not numbers
            return None

    def _record(self, name: str, value: float) -> None:
        with self._lock:
            step = self._counts.get(name, 0)
            self._counts[name] = step + 1
            self.last[name] = value
            sample = MetricSample(name, value, _now(), step)
            self._pending.append(sample)
            if self._samples_file is not None:
                with open(self._samples_file, "a", encoding="utf-8") as samples:
                    samples.write(
                        json.dumps(
                            {
                                "name": name,
                                "value": value,
                                "timestamp": sample.timestamp.timestamp(),
                                "step": step,
                            }
                        )
                        + "\n"
                    )

    def take(self) -> list[MetricSample]:
        with self._lock:
            samples, self._pending = self._pending, []
            return samples

    def final(self) -> dict[str, float]:
        with self._lock:
            return dict(self.last)


class _TimedLog:
    """Appends to the job's log, noting in ``training.log.times`` when each chunk was written.

    The note is written before the chunk: a reader that reads the log, then the times, finds a
    time for every byte it read.
    """

    def __init__(self, layout: _JobLayout) -> None:
        self._offset = layout.log.stat().st_size if layout.log.exists() else 0
        self._log = open(layout.log, "ab")  # noqa: SIM115 -- closed by close()
        self._times = open(layout.log_times, "a", encoding="ascii")  # noqa: SIM115

    def write(self, chunk: bytes) -> None:
        self._times.write(f"{self._offset} {time.time_ns() // 1_000_000}\n")
        self._times.flush()
        self._log.write(chunk)
        # flushed per write so that the log can be followed while the job runs
        self._log.flush()
        self._offset += len(chunk)

    def close(self) -> None:
        self._log.close()
        self._times.close()

    def __enter__(self) -> _TimedLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@dataclass(frozen=True)
class _JobLayout:
    """The ``/opt/ml``-like folder of one job."""

    root: Path

    @property
    def code(self) -> Path:
        return self.root / "code"

    @property
    def input(self) -> Path:
        return self.root / "input"

    @property
    def data(self) -> Path:
        return self.input / "data"

    @property
    def config(self) -> Path:
        return self.input / "config"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def output(self) -> Path:
        return self.root / "output"

    @property
    def output_data(self) -> Path:
        return self.output / "data"

    @property
    def failure(self) -> Path:
        return self.output / "failure"

    @property
    def log(self) -> Path:
        return self.root / LOG_FILE

    @property
    def log_times(self) -> Path:
        return self.root / LOG_TIMES_FILE

    @property
    def metrics(self) -> Path:
        return self.root / METRICS_FILE

    def create(self) -> None:
        if self.root.exists():
            # a job name is unique: a folder left behind belongs to an earlier, abandoned attempt
            shutil.rmtree(self.root)
        for folder in (self.data, self.config, self.model, self.output_data):
            folder.mkdir(parents=True)
        # exists from the start, so that the log can be followed before the script prints
        self.log.touch()


class TrainingProcess:
    """A training job being run (or finished). Create it with :meth:`Runner.start`.

    One thread per job prepares the folder, launches the script and pumps its output: the log
    pipe is read with ``select`` so that output, the runtime deadline and the exit are all
    handled without a second thread or a polling sleep.
    """

    def __init__(
        self, spec: TrainingSpec, layout: _JobLayout, s3: LocalS3, stop_grace_seconds: float
    ) -> None:
        self.spec = spec
        self.log_path = layout.log
        self.start_time = _now()
        self._layout = layout
        self._s3 = s3
        self._grace = stop_grace_seconds
        self._parser = _MetricParser(spec.metric_definitions, layout.metrics)
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._stop_reason: tuple[str, str] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._outcome: TrainingOutcome | None = None
        self._callbacks: list[Callable[[TrainingOutcome], None]] = []

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

    def _run(self, prepare: Callable[[], tuple[list[str], dict[str, str]]]) -> None:
        try:
            self._prepare_and_run(prepare)
        except Exception as exc:
            # never leave the engine waiting on a job whose thread died
            if not self._done.is_set():
                self._fail(f"InternalServerError: {type(exc).__name__}: {exc}")
            raise

    def _prepare_and_run(self, prepare: Callable[[], tuple[list[str], dict[str, str]]]) -> None:
        try:
            argv, env = prepare()
        except (OSError, ValueError, KeyError, TypeError, tarfile.TarError) as exc:
            self._fail(f"ClientError: {exc}")
            return
        try:
            proc = self._launch_unless_stopped(argv, env)
        except OSError as exc:
            self._fail(f"AlgorithmError: cannot run {argv[0]}: {exc}")
            return
        if proc is None:
            assert self._stop_reason is not None
            self._finish(STATUS_STOPPED, None, None, *self._stop_reason)
            return
        self._conclude(self._pump(proc))

    def _launch_unless_stopped(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes] | None:
        # under the lock, a stop either comes first (no launch) or finds the process to signal
        with self._lock:
            if self._stop_reason is not None:
                return None
            self._proc = subprocess.Popen(
                argv,
                cwd=self._layout.code,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # its own process group, so that a stop reaches the script's children too
                start_new_session=True,
            )
            return self._proc

    def _fail(self, reason: str, exit_code: int | None = None) -> None:
        with _TimedLog(self._layout) as log:
            log.write((reason + "\n").encode("utf-8"))
        self._finish(STATUS_FAILED, reason, exit_code, STATUS_FAILED, reason)

    def _pump(self, proc: subprocess.Popen[bytes]) -> int:
        """Copy the output to the log and the metric parser until the script is done; its exit code."""
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + self.spec.max_runtime_seconds
        partial = b""
        leftovers_killed = False
        with proc.stdout, selectors.DefaultSelector() as selector, _TimedLog(self._layout) as log:
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
                elif proc.poll() is not None:
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
        try:
            # the output is closed, yet the script may still run: the deadline holds until it exits
            exit_code = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._request_stop(SECONDARY_MAX_RUNTIME, "Training job reached MaxRuntimeInSeconds")
            exit_code = proc.wait()
        # whatever the script left running in its group ends with the job, as with a container
        self._signal_group(signal.SIGKILL)
        return exit_code

    def _consume(self, data: bytes) -> bytes:
        """Parse the complete lines of ``data``; the unfinished last line is returned."""
        *lines, partial = data.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", errors="replace")
            self._tail.append(line + "\n")
            self._parser.feed(line)
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
            end_time=_now(),
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


def _default_bytecode_cache() -> Path:
    cache_home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache_home) / "airflow-hpt" / "pycache"


class Runner:
    """Starts training jobs under ``<home>/training/<job>/``."""

    def __init__(
        self,
        home: Path,
        s3: LocalS3,
        stop_grace_seconds: float = 5.0,
        bytecode_cache: Path | None = None,
    ) -> None:
        self.home = Path(home)
        self.s3 = s3
        # SageMaker waits 120 s after SIGTERM; locally a few seconds keep stops responsive
        self.stop_grace_seconds = stop_grace_seconds
        self.bytecode_cache = bytecode_cache or _default_bytecode_cache()

    @staticmethod
    def unsupported_reason(hyperparameters: Mapping[str, str]) -> str | None:
        """Why a job cannot run locally, or None when it can."""
        missing = [name for name in (PROGRAM_HP, SUBMIT_DIR_HP) if not hyperparameters.get(name)]
        if not missing:
            return None
        return (
            "The local SageMaker backend runs script-mode training only: StaticHyperParameters must "
            f"contain {PROGRAM_HP} (the entry script) and {SUBMIT_DIR_HP} (a local folder, file:// or "
            f"s3:// URI, or a .tar.gz of the code); missing: {', '.join(missing)}"
        )

    def start(self, spec: TrainingSpec) -> TrainingProcess:
        """Start a job in the background; a job that cannot start (no code, no data) ends Failed."""
        layout = _JobLayout(job_folder(self.home, spec.training_job_name))
        layout.create()
        process = TrainingProcess(spec, layout, self.s3, self.stop_grace_seconds)
        # started before the fork: a thread started while a child execs costs ~10x more
        threading.Thread(
            target=process._run,
            args=(functools.partial(self._prepare, spec, layout),),
            name=f"training-{spec.training_job_name}",
            daemon=True,
        ).start()
        return process

    # -- preparation -------------------------------------------------------------------------

    def _prepare(self, spec: TrainingSpec, layout: _JobLayout) -> tuple[list[str], dict[str, str]]:
        reason = self.unsupported_reason(spec.hyperparameters)
        if reason:
            raise ValueError(reason)
        submit_dir = hyperparameter_text(spec.hyperparameters[SUBMIT_DIR_HP])
        program = hyperparameter_text(spec.hyperparameters[PROGRAM_HP])
        self._fetch_code(submit_dir, layout.code)
        entry = layout.code / program
        if not entry.is_file() or not entry.resolve().is_relative_to(layout.code.resolve()):
            raise ValueError(f"{PROGRAM_HP} {program!r} is not a file inside {SUBMIT_DIR_HP} {submit_dir!r}")
        channels = self._fetch_channels(spec.input_data_config, layout.data)
        user_hps = {k: v for k, v in spec.hyperparameters.items() if not k.startswith("sagemaker_")}
        args = [
            item for name, value in user_hps.items() for item in (f"--{name}", hyperparameter_text(value))
        ]
        self._write_config(spec, layout)
        env = self._environment(spec, layout, channels, user_hps, args, submit_dir, program)
        interpreter = ["/bin/sh"] if program.endswith(".sh") else [sys.executable]
        return [*interpreter, str(entry), *args], env

    def _fetch_code(self, submit_dir: str, code: Path) -> None:
        """Link the job's ``code`` folder to a snapshot of ``sagemaker_submit_directory``.

        Like the SageMaker SDK, which uploads the source once per tuning job, a snapshot is made
        once per version of the source (its files' sizes and times) and shared by the jobs that
        use it: creating files is what a job's set-up costs most, so jobs do not copy the code.
        """
        source = self.s3.path_for(submit_dir)
        if source.is_dir():
            signature = _tree_signature(source)
        elif source.is_file() and source.name.endswith(_ARCHIVE_SUFFIXES):
            signature = _file_signature(source)
        else:
            raise ValueError(f"{SUBMIT_DIR_HP} {submit_dir!r}: no such folder or .tar.gz archive")
        digest = hashlib.sha256(f"{source}\0{signature}".encode()).hexdigest()[:20]
        snapshot = self.home / "code" / digest
        if not snapshot.is_dir():
            _make_snapshot(source, snapshot)
        code.symlink_to(snapshot, target_is_directory=True)

    def _fetch_channels(self, input_data_config: Sequence[Mapping[str, Any]], data: Path) -> dict[str, Path]:
        channels: dict[str, Path] = {}
        for channel in input_data_config:
            name = channel["ChannelName"]
            source = channel["DataSource"]["S3DataSource"]
            data_type = source.get("S3DataType", "S3Prefix")
            if data_type != "S3Prefix":
                raise ValueError(f"channel {name!r}: S3DataType {data_type} is not supported locally")
            target = data / name
            _stage_prefix(self.s3.object_path(source["S3Uri"]), target, source["S3Uri"])
            channels[name] = target
        return channels

    @staticmethod
    def _write_config(spec: TrainingSpec, layout: _JobLayout) -> None:
        files = {
            "hyperparameters.json": dict(spec.hyperparameters),
            "inputdataconfig.json": {c["ChannelName"]: _channel_config(c) for c in spec.input_data_config},
            "resourceconfig.json": {"current_host": HOST, "hosts": [HOST], "network_interface_name": "eth0"},
        }
        for file_name, content in files.items():
            (layout.config / file_name).write_text(json.dumps(content), encoding="utf-8")

    def _environment(
        self,
        spec: TrainingSpec,
        layout: _JobLayout,
        channels: Mapping[str, Path],
        user_hps: Mapping[str, str],
        args: Sequence[str],
        submit_dir: str,
        program: str,
    ) -> dict[str, str]:
        hps = {name: _decode_hp(value) for name, value in user_hps.items()}
        module_name = program.removesuffix(".py").removesuffix(".sh")
        training_env = {
            "channel_input_dirs": {name: str(path) for name, path in channels.items()},
            "current_host": HOST,
            "hosts": [HOST],
            "hyperparameters": hps,
            "input_config_dir": str(layout.config),
            "input_data_config": {c["ChannelName"]: _channel_config(c) for c in spec.input_data_config},
            "input_dir": str(layout.input),
            "job_name": spec.training_job_name,
            "log_level": 20,
            "model_dir": str(layout.model),
            "module_dir": submit_dir,
            "module_name": module_name,
            "network_interface_name": "eth0",
            "num_cpus": os.cpu_count() or 1,
            "num_gpus": 0,
            "output_data_dir": str(layout.output_data),
            "output_dir": str(layout.output),
            "resource_config": {"current_host": HOST, "hosts": [HOST]},
            "user_entry_point": program,
        }
        env = _bytecode_environment(dict(os.environ), self.bytecode_cache)
        env.update(spec.environment)
        env.update(
            PYTHONUNBUFFERED="1",
            TRAINING_JOB_NAME=spec.training_job_name,
            SM_TRAINING_ENV=json.dumps(training_env),
            SM_HPS=json.dumps(hps),
            SM_USER_ARGS=json.dumps(list(args)),
            SM_CHANNELS=json.dumps(sorted(channels)),
            SM_MODEL_DIR=str(layout.model),
            SM_OUTPUT_DIR=str(layout.output),
            SM_OUTPUT_DATA_DIR=str(layout.output_data),
            SM_INPUT_DIR=str(layout.input),
            SM_INPUT_CONFIG_DIR=str(layout.config),
            SM_INPUT_DATA_CONFIG=json.dumps(training_env["input_data_config"]),
            SM_RESOURCE_CONFIG=json.dumps(training_env["resource_config"]),
            SM_NUM_CPUS=str(training_env["num_cpus"]),
            SM_NUM_GPUS="0",
            SM_HOSTS=json.dumps([HOST]),
            SM_CURRENT_HOST=HOST,
            SM_MODULE_DIR=submit_dir,
            SM_MODULE_NAME=module_name,
            SM_USER_ENTRY_POINT=program,
            SM_LOG_LEVEL="20",
            SM_NETWORK_INTERFACE_NAME="eth0",
        )
        env.update({f"SM_CHANNEL_{_env_name(name)}": str(path) for name, path in channels.items()})
        env.update(
            {f"SM_HP_{_env_name(name)}": hyperparameter_text(value) for name, value in user_hps.items()}
        )
        return env


def _bytecode_environment(env: dict[str, str], cache: Path) -> dict[str, str]:
    """``env`` for a training script, with a bytecode cache where the backend has none.

    Every job is a fresh interpreter. Where PYTHONDONTWRITEBYTECODE is set (CI images often set
    it) and site-packages holds no compiled files, numpy, scipy and scikit-learn are compiled
    from source by every job: seconds each. Such jobs write and read their bytecode under
    ``cache`` instead, shared by every backend of the machine, since a cache per backend home
    would make the first job of each home pay for the standard library again.
    """
    if env.pop("PYTHONDONTWRITEBYTECODE", None) is not None:
        env.setdefault("PYTHONPYCACHEPREFIX", str(cache))
    return env


def _file_signature(path: Path) -> str:
    status = path.stat()
    return f"{status.st_size}:{status.st_mtime_ns}"


def _tree_signature(folder: Path) -> str:
    """Names, sizes and modification times of the code files under ``folder``."""
    entries = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _NOT_CODE_DIRS)
        for name in sorted(files):
            path = Path(root, name)
            entries.append(f"{path.relative_to(folder)}={_file_signature(path)}")
    return "\n".join(entries)


def _make_snapshot(source: Path, snapshot: Path) -> None:
    """Copy (or extract) the code into ``snapshot``, atomically: parallel jobs may race for it."""
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=snapshot.parent, prefix=".staging-"))
    try:
        if source.is_dir():
            shutil.copytree(source, staging, ignore=_NOT_CODE, dirs_exist_ok=True)
        else:
            with tarfile.open(source) as archive:
                # the "data" filter refuses members that would land outside the folder
                archive.extractall(staging, filter="data")
        staging.rename(snapshot)
    except OSError:
        if not snapshot.is_dir():
            raise
        # another job made the same snapshot first
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _channel_config(channel: Mapping[str, Any]) -> dict[str, str]:
    """A channel as ``inputdataconfig.json`` describes it."""
    source = channel["DataSource"]["S3DataSource"]
    return {
        "TrainingInputMode": channel.get("InputMode", "File"),
        "S3DistributionType": source.get("S3DataDistributionType", "FullyReplicated"),
        "RecordWrapperType": channel.get("RecordWrapperType", "None"),
        "ContentType": channel.get("ContentType", ""),
    }


def _stage_prefix(source: Path, target: Path, uri: str) -> None:
    """Make the objects under an S3 prefix visible in a channel folder (File mode).

    A prefix naming a folder becomes the channel (a symlink: data is read-only for the script
    and may be large); one naming an object puts that object in the channel; otherwise every
    object whose key starts with the prefix is linked in by name, as S3's prefix match would.
    """
    if source.is_dir():
        target.symlink_to(source, target_is_directory=True)
        return
    matches = [source] if source.is_file() else sorted(source.parent.glob(glob.escape(source.name) + "*"))
    if not matches:
        raise ValueError(f"no data found at {uri}")
    target.mkdir()
    for match in matches:
        (target / match.name).symlink_to(match, target_is_directory=match.is_dir())
