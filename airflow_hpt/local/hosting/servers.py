"""Model server processes of the local backend's endpoints: start, proxy to, swap, restart, stop.

Each endpoint is served by one process (:mod:`airflow_hpt.local.hosting.serving`) on a loopback port, so a
model that crashes, leaks or hangs cannot take the backend down. Its folder is
``<home>/serving/<endpoint>/<generation>/`` (the server's ``/opt/ml``: ``model/``, ``code/``,
``serving.log``, the server's whole output, copied there by a thread of the backend that notes when
each chunk came in ``serving.log.times``, and ``instance.json``, what the server serves: the
CloudWatch front (:mod:`airflow_hpt.local.cloudwatch.logs`) serves the log as the instance's log stream).

A deployment is *staged* (:meth:`Hosting.stage`: started in a thread, ready once it answers a ping)
and then *promoted* (:meth:`Hosting.promote`): requests go to the new process from then on and the
old one is stopped once its requests in flight are answered, so a swap loses no request. A live
server found dead is started again by the next request.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from airflow_hpt.local.hosting.process import (
    INSTANCE_FILE,
    LOG_FILE,
    LOG_TIMES_FILE,
    ModelServerError,
    ModelServerProcess,
    ServingSpec,
    ending,
)
from airflow_hpt.local.http.answer import Answer
from airflow_hpt.local.training.capture import TimedLog

log = logging.getLogger(__name__)

# SageMaker's limit: "A customer's model containers must respond to requests within 60 seconds."
INVOCATION_TIMEOUT_SECONDS = 60.0
STARTUP_TIMEOUT_SECONDS = 120.0
READ_SIZE = 65536


@dataclass
class Staging:
    """A deployment being started: done once its server answers a ping, or failed."""

    config: str
    done: threading.Event = field(default_factory=threading.Event)
    server: ModelServerProcess | None = None
    failure: str | None = None


class Hosting:
    """The model servers of every endpoint of one backend."""

    def __init__(
        self,
        home: Path,
        startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
        invocation_timeout: float = INVOCATION_TIMEOUT_SECONDS,
    ) -> None:
        self.root = Path(home) / "serving"
        self.startup_timeout = startup_timeout
        self.invocation_timeout = invocation_timeout
        self._lock = threading.Lock()
        self._live: dict[str, ModelServerProcess] = {}
        self._staging: dict[str, Staging] = {}
        self._restart_locks: dict[str, threading.Lock] = {}

    # --- deployments -------------------------------------------------------------------------

    def stage(self, endpoint: str, config: str, spec: Callable[[], ServingSpec]) -> Staging:
        """Start serving ``config`` on ``endpoint`` in the background (once; later calls see how far it got).

        ``spec`` is called in the background; a ValueError it raises is the staging's failure.
        """
        key = endpoint.lower()
        with self._lock:
            current = self._staging.get(key)
            if current is not None and current.config == config:
                return current
            staging = self._staging[key] = Staging(config)
            replaced = _finished_server(current)
        if replaced is not None:
            replaced.stop()
        threading.Thread(
            target=self._start_staging, args=(endpoint, staging, spec), name=f"stage-{key}", daemon=True
        ).start()
        return staging

    def _start_staging(self, endpoint: str, staging: Staging, spec: Callable[[], ServingSpec]) -> None:
        key = endpoint.lower()
        try:
            staging.server = self._launch(endpoint, spec())
        except (ValueError, RuntimeError, OSError) as error:
            staging.failure = str(error)
        with self._lock:
            # decided under the lock: whoever removed an unfinished staging left its server to us
            abandoned = self._staging.get(key) is not staging
            staging.done.set()
        if abandoned and staging.server is not None:
            staging.server.stop()

    def promote(self, endpoint: str, config: str) -> None:
        """Send ``endpoint``'s requests to its staged server for ``config``; retire the previous one."""
        key = endpoint.lower()
        with self._lock:
            staging = self._staging.get(key)
            if staging is None or staging.config != config or staging.server is None:
                raise RuntimeError(f"no model server is ready for {endpoint} with {config}")
            del self._staging[key]
            previous = self._live.get(key)
            self._live[key] = staging.server
        if previous is not None:
            threading.Thread(
                target=previous.retire, args=(self.invocation_timeout,), name=f"retire-{key}", daemon=True
            ).start()

    def discard_staged(self, endpoint: str) -> None:
        """Stop the endpoint's staged server only (a failed update rolled back: the live one serves on)."""
        with self._lock:
            staged = _finished_server(self._staging.pop(endpoint.lower(), None))
        if staged is not None:
            staged.stop()

    def stop(self, endpoint: str) -> None:
        """Stop the endpoint's servers, live and staged (DeleteEndpoint, a failed deployment)."""
        key = endpoint.lower()
        with self._lock:
            live = self._live.pop(key, None)
            staged = _finished_server(self._staging.pop(key, None))
        for server in (live, staged):
            if server is not None:
                server.stop()

    def stop_all(self) -> None:
        with self._lock:
            names = {*self._live, *self._staging}
        for name in names:
            self.stop(name)

    # --- invocations -------------------------------------------------------------------------

    def invoke(
        self, endpoint: str, spec: Callable[[], ServingSpec], headers: dict[str, str], body: bytes
    ) -> tuple[ServingSpec, Answer]:
        """Proxy one invocation to the endpoint's live server, started first if there is none or it died.

        ``spec`` gives what to serve when a server must be started. Raises
        :class:`ModelServerError` when the server gives no answer.
        """
        server = self._enter(endpoint, spec)
        try:
            try:
                return server.spec, self._forward(server, headers, body)
            except ConnectionRefusedError:
                # no process held the port, so none took the request: safe to send it again
                server.abandon()
        finally:
            server.leave()
        server = self._enter(endpoint, spec)
        try:
            return server.spec, self._forward(server, headers, body)
        except ConnectionRefusedError:
            raise ModelServerError(
                f"the model server exited (code {server.process.poll()}) before taking the request",
                server.log_path,
            ) from None
        finally:
            server.leave()

    def _enter(self, endpoint: str, spec: Callable[[], ServingSpec]) -> ModelServerProcess:
        """The live server of ``endpoint``, counted as busy; started again if it died."""
        key = endpoint.lower()
        with self._lock:
            restart_lock = self._restart_locks.setdefault(key, threading.Lock())
        while True:
            with self._lock:
                server = self._live.get(key)
                if server is not None and server.alive():
                    server.enter()
                    return server
            with restart_lock:
                with self._lock:
                    current = self._live.get(key)
                if current is not None and current.alive():
                    continue  # another request started it meanwhile
                if current is not None:
                    code = current.process.returncode
                    log.warning("the model server of %s exited with code %s: restarting it", endpoint, code)
                try:
                    started = self._launch(endpoint, spec())
                except (ValueError, RuntimeError, OSError) as error:
                    raise ModelServerError(f"the model server could not start: {error}", self.root) from None
                with self._lock:
                    if self._live.get(key) is current:
                        self._live[key] = started
                        continue
                started.stop()  # a promotion won the race: use the promoted server

    def _forward(self, server: ModelServerProcess, headers: dict[str, str], body: bytes) -> Answer:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=self.invocation_timeout)
        try:
            connection.request("POST", "/invocations", body=body, headers=headers)
            response = connection.getresponse()
            return Answer(response.status, dict(response.getheaders()), response.read())
        except ConnectionRefusedError:
            raise
        except ConnectionResetError as error:
            # Accepted, then dropped with no answer: the server died with the request in its
            # backlog or in a handler, maybe because of it. It is not sent again (a request that
            # crashes the model would crash the restarted server too): the next request restarts it.
            raise ModelServerError(
                f"the model server gave no answer ({type(error).__name__}): {ending(server.process)}",
                server.log_path,
            ) from None
        except TimeoutError:
            raise ModelServerError(
                "Your invocation timed out while waiting for a response from container primary.",
                server.log_path,
            ) from None
        except (OSError, http.client.HTTPException) as error:
            server.process.poll()
            raise ModelServerError(
                f"the model server gave no answer ({type(error).__name__}; exit code "
                f"{server.process.returncode})",
                server.log_path,
            ) from None
        finally:
            connection.close()

    # --- processes ---------------------------------------------------------------------------

    def _launch(self, endpoint: str, spec: ServingSpec) -> ModelServerProcess:
        """Start a model server for ``spec`` and wait until it answers a ping."""
        instance = uuid.uuid4().hex
        folder = self.root / endpoint.lower() / f"{time.strftime('%Y%m%dT%H%M%S')}-{instance[:8]}"
        folder.mkdir(parents=True)
        noted = {"served": endpoint, "variant": spec.variant, "instance_id": f"i-{instance[:17]}"}
        (folder / INSTANCE_FILE).write_text(json.dumps({**noted, "started": time.time()}))
        listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        listener.set_inheritable(True)
        command = [
            sys.executable,
            "-m",
            "airflow_hpt.local.hosting.serving",
            "--socket-fd",
            str(listener.fileno()),
            "--base-dir",
            str(folder),
        ]
        if spec.model_archive is not None:
            command += ["--model-archive", str(spec.model_archive)]
        if spec.submit_directory is not None:
            command += ["--submit-directory", str(spec.submit_directory)]
        # SageMaker's framework serving containers set PYTHONUNBUFFERED: what a script prints
        # reaches the log stream as it is printed
        environment = {
            **os.environ,
            "PYTHONUNBUFFERED": "TRUE",
            **spec.environment,
            "SAGEMAKER_BASE_DIR": str(folder),
        }
        try:
            process = subprocess.Popen(
                command,
                env=environment,
                cwd=folder,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(listener.fileno(),),
                start_new_session=True,
            )
            port = listener.getsockname()[1]
        finally:
            # Only the server may hold the socket: when it dies, connections are refused, not queued.
            listener.close()
        assert process.stdout is not None
        output = threading.Thread(
            target=_copy_output,
            args=(process.stdout, folder),
            name=f"serving-log-{endpoint.lower()}",
            daemon=True,
        )
        output.start()
        server = ModelServerProcess(spec, folder, process, port, output)
        try:
            server.wait_ready(self.startup_timeout)
        except RuntimeError:
            server.stop()
            raise
        return server


def _copy_output(output: IO[bytes], folder: Path) -> None:
    """Copy a server's output to its timed log until the server and its children have closed it.

    A last line left unfinished is ended, so that it becomes a log event.
    """
    last = b"\n"
    with output, TimedLog(folder / LOG_FILE, folder / LOG_TIMES_FILE) as log_file:
        while chunk := os.read(output.fileno(), READ_SIZE):
            log_file.write(chunk)
            last = chunk[-1:]
        if last != b"\n":
            log_file.write(b"\n")


def _finished_server(staging: Staging | None) -> ModelServerProcess | None:
    """The server of a staging that finished starting; one still starting is stopped by its thread."""
    return staging.server if staging is not None and staging.done.is_set() else None
