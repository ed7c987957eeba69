"""One model server process: what it serves, its instance file, readiness, the requests in flight, its retirement and its end."""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

# a stopped server gets this long to exit on SIGTERM before SIGKILL
STOP_GRACE_SECONDS = 5.0


PING_INTERVAL_SECONDS = 0.05


LOG_FILE = "serving.log"


LOG_TIMES_FILE = "serving.log.times"


INSTANCE_FILE = "instance.json"


@dataclass(frozen=True)
class ServingSpec:
    """What a model server serves: the model's archive, its environment, its inference code."""

    variant: str
    model_archive: Path | None
    environment: dict[str, str]
    submit_directory: Path | None = None


@dataclass(frozen=True)
class ServedInstance:
    """What one model server process served, as its ``instance.json`` notes it.

    ``served``: the endpoint or transform job, named as its creator spelled it; ``instance_id``:
    an EC2-style id standing for the instance SageMaker would have run it on.
    """

    served: str
    variant: str
    instance_id: str
    started: float
    folder: Path

    @property
    def log(self) -> Path:
        return self.folder / LOG_FILE

    @property
    def log_times(self) -> Path:
        return self.folder / LOG_TIMES_FILE


def served_instances(root: Path) -> list[ServedInstance]:
    """The model servers ever started under ``root`` (a :class:`Hosting`'s), oldest first."""
    instances = []
    for path in root.glob(f"*/*/{INSTANCE_FILE}"):
        try:
            noted = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # being written: the server has not started yet
        instances.append(
            ServedInstance(
                noted["served"], noted["variant"], noted["instance_id"], noted["started"], path.parent
            )
        )
    return sorted(instances, key=lambda instance: instance.started)


class ModelServerError(Exception):
    """The model server gave no answer: it died, or took longer than the invocation timeout."""

    def __init__(self, message: str, log_path: Path) -> None:
        super().__init__(message)
        self.message = message
        self.log_path = log_path


class ModelServerProcess:
    """One running model server: its process, port, folder and requests in flight."""

    def __init__(
        self,
        spec: ServingSpec,
        folder: Path,
        process: subprocess.Popen[bytes],
        port: int,
        output: threading.Thread,
    ) -> None:
        self.spec = spec
        self.folder = folder
        self.process = process
        self.port = port
        self.output = output
        self._in_flight = 0
        self._idle = threading.Condition()

    @property
    def log_path(self) -> Path:
        return self.folder / LOG_FILE

    def alive(self) -> bool:
        return self.process.poll() is None

    def enter(self) -> None:
        with self._idle:
            self._in_flight += 1

    def leave(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    def wait_ready(self, timeout: float) -> None:
        """Return once the server answers ``GET /ping`` with 200; raise if it exits or times out."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                self.output.join(STOP_GRACE_SECONDS)  # its last words, the reason it exited
                raise RuntimeError(
                    f"the model server exited with code {self.process.returncode} before answering a "
                    f"ping: {_tail(self.log_path)}"
                )
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                connection.request("GET", "/ping")
                if connection.getresponse().status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass  # still loading (the request waits in the backlog) or just died: look again
            finally:
                connection.close()
            time.sleep(PING_INTERVAL_SECONDS)
        raise RuntimeError(f"the model server did not answer a ping within {timeout:.0f} s")

    def retire(self, drain_timeout: float) -> None:
        """Stop once the requests in flight are answered (or after ``drain_timeout``)."""
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0, timeout=drain_timeout)
        self.stop()

    def abandon(self) -> None:
        """End a ready server whose port refused a connection. Only it held that socket, so it is
        exiting; until it is reaped it would look alive and be given the next request too."""
        if self.alive():
            self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.wait()


def ending(process: subprocess.Popen[bytes]) -> str:
    """How a server that dropped a connection ended: it is exiting, so it is given a moment."""
    try:
        return f"it exited with code {process.wait(STOP_GRACE_SECONDS)}"
    except subprocess.TimeoutExpired:
        return "it is still running"


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"
