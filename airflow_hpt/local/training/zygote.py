"""A zygote: one process with the toolkit's dependencies imported, forking a training job per request.

Importing AWS's ``sagemaker-training`` toolkit costs over a second (boto3, paramiko, psutil), more
than a short training job. The zygote pays it once: it is started with ``python -m
airflow_hpt.local.training.zygote`` (so it runs none of the backend's ``__main__``, unlike
``multiprocessing``'s fork server, which re-imports a script ``__main__`` in every child), imports
the toolkit and forks a child per job. The child takes the job's environment and folder and
re-executes the toolkit's modules that derive its paths from ``SAGEMAKER_BASE_DIR`` at import
(:mod:`airflow_hpt.local.training.preload`: what is prepared once, what each job redoes).

Protocol, over a ``SOCK_SEQPACKET`` socket pair (one JSON object per packet):

- backend to zygote: ``{"id", "env", "cwd", "pycache"}`` with one file descriptor attached, the
  write end of the job's output (the child's stdout and stderr);
- zygote to backend: ``{"id", "pid"}`` once the child leads its own session (a signal to the
  process group reaches it from then on), ``{"id", "exit"}`` when it ended (an exit code as
  :attr:`subprocess.Popen.returncode` has it: ``-N`` for signal N), or ``{"id", "error"}`` when
  the fork failed.

The zygote leads a session of its own (a Ctrl-C meant for the backend does not reach it) and exits
when the backend's end of the socket closes, killing the jobs still running: a backend that exits
takes its jobs along. :class:`Zygote` is the backend's side.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# a request carries the job's environment: a few kB, far below this
_MAX_MESSAGE = 1 << 20
MAX_FAILED_STARTS = 3


class ZygoteGone(Exception):
    """The zygote exited before it forked the job."""


# -- the zygote process ---------------------------------------------------------------------------


def serve(control: socket.socket) -> None:
    """Fork a job per request on ``control`` until the backend closes it."""
    # here, not at the top: the backend imports this module for :class:`Zygote` and needs no boto3
    from airflow_hpt.local.training.preload import preload

    preload()
    selector = selectors.DefaultSelector()
    selector.register(control, selectors.EVENT_READ)
    running: dict[int, tuple[int, int]] = {}  # pidfd: (request id, pid)
    while True:
        for key, _ in selector.select():
            if key.fileobj is control:
                message, fds, _flags, _address = socket.recv_fds(control, _MAX_MESSAGE, 1)
                if not message:
                    _kill_all(pid for _, pid in running.values())
                    return
                request = json.loads(message)
                try:
                    pid = _fork_job(request, fds[0], control, selector, running)
                except OSError as exc:
                    _send(control, {"id": request["id"], "error": str(exc)})
                    continue
                finally:
                    os.close(fds[0])
                pidfd = os.pidfd_open(pid)
                running[pidfd] = (request["id"], pid)
                selector.register(pidfd, selectors.EVENT_READ)
                _send(control, {"id": request["id"], "pid": pid})
            else:
                pidfd = key.fd
                request_id, pid = running.pop(pidfd)
                selector.unregister(pidfd)
                os.close(pidfd)
                _, status = os.waitpid(pid, 0)
                _send(control, {"id": request_id, "exit": os.waitstatus_to_exitcode(status)})


def _send(control: socket.socket, message: dict[str, Any]) -> None:
    control.send(json.dumps(message).encode())


def _kill_all(pids: Any) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def _fork_job(
    request: dict[str, Any],
    output: int,
    control: socket.socket,
    selector: selectors.BaseSelector,
    running: dict[int, tuple[int, int]],
) -> int:
    """The pid of a child running the job; returns once the child leads its own session."""
    session_ready, session_ready_writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            os.close(session_ready_writer)
            os.close(session_ready)
            selector.close()
            control.close()
            for pidfd in running:
                os.close(pidfd)
            code = _run_job(request, output)
        except BaseException:  # a child of the zygote must never return to its loop
            traceback.print_exc()
            code = 1
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
        os._exit(code)
    os.close(session_ready_writer)
    with open(session_ready, "rb") as ready:
        ready.read()  # end of file: the child closed its end after setsid, or died
    return pid


def _run_job(request: dict[str, Any], output: int) -> int:
    """In the job's child: become the toolkit's ``train`` for the job; its exit code."""
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.close(output)
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    os.close(stdin)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.argv = ["train"]
    if request["pycache"] is not None:
        sys.dont_write_bytecode = False
        sys.pycache_prefix = request["pycache"]
    from sagemaker_training import trainer

    from airflow_hpt.local.training.preload import enter_job

    try:
        enter_job()
        trainer.train()
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        print(exc.code, file=sys.stderr)
        return 1
    return 0


# -- the backend's side ---------------------------------------------------------------------------


@dataclass
class _Job:
    started: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    pid: int | None = None
    exit_code: int | None = None
    error: str | None = None


class ZygoteProcess:
    """A job forked by the zygote: its pid (and process group), the read end of its output.

    ``lost`` says why the exit code is unknown, when the zygote died while the job ran.
    """

    def __init__(self, job: _Job, output_fd: int) -> None:
        assert job.pid is not None
        self._job = job
        self.pid = job.pid
        self.output_fd = output_fd

    @property
    def lost(self) -> str | None:
        return self._job.error if self._job.ended.is_set() and self._job.exit_code is None else None

    def poll(self) -> int | None:
        return self._job.exit_code

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit code, or None if still running after ``timeout`` seconds (or lost)."""
        self._job.ended.wait(timeout)
        return self._job.exit_code

    def close(self) -> None:
        os.close(self.output_fd)


@dataclass
class _Instance:
    """One zygote process, its control socket, and the jobs sent to it that have not ended."""

    control: socket.socket
    process: subprocess.Popen[bytes]
    jobs: dict[int, _Job] = field(default_factory=dict)
    forked_any: bool = False


class Zygote:
    """The backend's handle on a zygote process, started on first use, restarted if it died.

    Thread-safe: jobs of parallel threads are forked one after the other by the zygote. A zygote
    that dies fails the jobs it ran (their exit codes died with it: :attr:`ZygoteProcess.lost`)
    and the next job starts a new one; after :data:`MAX_FAILED_STARTS` zygotes in a row that
    forked nothing, :meth:`fork` gives up at once (callers fall back to a plain subprocess).
    """

    def __init__(self, python: str = sys.executable) -> None:
        self.python = python
        self._lock = threading.Lock()
        self._current: _Instance | None = None
        self._next_id = 0
        self._failed_starts = 0

    @property
    def pid(self) -> int | None:
        """The zygote process's id, None when none runs (it starts with the first job)."""
        current = self._current
        return None if current is None else current.process.pid

    def fork(self, env: dict[str, str], cwd: Path, pycache: Path | None) -> ZygoteProcess:
        """Fork a job running the toolkit in ``cwd`` with ``env``; :class:`ZygoteGone` if it cannot."""
        reader, writer = os.pipe()
        try:
            job = self._request(
                {"env": env, "cwd": str(cwd), "pycache": None if pycache is None else str(pycache)}, writer
            )
        except BaseException:
            os.close(reader)
            raise
        finally:
            os.close(writer)
        job.started.wait()
        if job.pid is None:
            os.close(reader)
            raise ZygoteGone(job.error or "the zygote did not fork the job")
        return ZygoteProcess(job, reader)

    def _request(self, message: dict[str, Any], output: int) -> _Job:
        with self._lock:
            if self._failed_starts >= MAX_FAILED_STARTS:
                raise ZygoteGone(f"{self._failed_starts} zygotes in a row exited before forking a job")
            current = self._current or self._start()
            self._next_id += 1
            job = current.jobs[self._next_id] = _Job()
            message["id"] = self._next_id
            try:
                socket.send_fds(current.control, [json.dumps(message).encode()], [output])
            except (BrokenPipeError, ConnectionError):
                pass  # the zygote is gone: its reader fails the job once it saw the exit code
            except OSError as exc:
                del current.jobs[self._next_id]
                raise ZygoteGone(f"cannot send the job to the zygote: {exc}") from exc
        return job

    def _start(self) -> _Instance:
        """Under the lock: a new zygote process, with a thread reading its replies."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # the backend's code may be importable only through its own sys.path (a script's folder)
        package_root = str(Path(__file__).resolve().parents[3])
        python_path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        with theirs:
            process = subprocess.Popen(
                [self.python, "-m", __name__, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                env={**os.environ, "PYTHONPATH": python_path},
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self._current = _Instance(ours, process)
        threading.Thread(
            target=self._read_replies, args=(self._current,), name="zygote-replies", daemon=True
        ).start()
        return self._current

    def _read_replies(self, instance: _Instance) -> None:
        with contextlib.suppress(OSError):
            while message := instance.control.recv(_MAX_MESSAGE):
                reply = json.loads(message)
                with self._lock:
                    if "pid" in reply:
                        job = instance.jobs[reply["id"]]
                        instance.forked_any = True
                        self._failed_starts = 0
                    else:
                        job = instance.jobs.pop(reply["id"])
                if "pid" in reply:
                    job.pid = reply["pid"]
                    job.started.set()
                    continue
                job.exit_code = reply.get("exit")
                job.error = reply.get("error")
                job.started.set()
                job.ended.set()
        code = instance.process.wait()
        with self._lock:
            if self._current is instance:
                self._current = None
            orphans, instance.jobs = list(instance.jobs.values()), {}
            if not instance.forked_any:
                self._failed_starts += 1
        instance.control.close()
        # the zygote's children are not ours to wait for: end them rather than lose track
        _kill_all(job.pid for job in orphans if job.pid is not None)
        for job in orphans:
            job.error = (
                f"the training job launcher (zygote, pid {instance.process.pid}) exited with code {code}"
            )
            job.started.set()
            job.ended.set()


def main() -> None:
    serve(socket.socket(fileno=int(sys.argv[1])))


if __name__ == "__main__":
    main()
