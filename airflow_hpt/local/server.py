"""Start and stop the local backend: in-process (:class:`LocalSageMaker`) or as a CLI (:func:`serve`)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType, TracebackType

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from airflow_hpt.local.api import SageMakerApi
from airflow_hpt.local.deploy import Deployments
from airflow_hpt.local.engine import TuningEngine
from airflow_hpt.local.faults import Faults
from airflow_hpt.local.front import Front
from airflow_hpt.local.runner import Runner
from airflow_hpt.local.s3 import LocalS3
from airflow_hpt.local.store import Store


class _Handler(WSGIRequestHandler):
    """Keep-alive (HTTP/1.1: botocore reuses its connections) and no log line per request
    (pollers call many times a second; one line each would drown everything else)."""

    protocol_version = "HTTP/1.1"

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class LocalSageMaker:
    """The local SageMaker backend, serving on ``host:port`` (``port=0``: a free port).

    >>> with LocalSageMaker(home) as backend:
    ...     client = boto3.client("sagemaker", endpoint_url=backend.endpoint_url, region_name="us-east-1")

    All state lives under ``home``; a new instance on the same home resumes where the last stopped.
    """

    def __init__(
        self,
        home: Path | str,
        host: str = "127.0.0.1",
        port: int = 0,
        max_concurrent_tuning_jobs: int = 100,
        faults: Faults | None = None,
        region: str = "us-east-1",
        endpoint_delay_seconds: float = 1.0,
    ) -> None:
        self.home = Path(home).resolve()
        self.host = host
        self.port = port
        self.region = region
        self.max_concurrent_tuning_jobs = max_concurrent_tuning_jobs
        self.faults = faults
        self.endpoint_delay_seconds = endpoint_delay_seconds
        self.s3: LocalS3 | None = None
        self._server: BaseWSGIServer | None = None
        self._engine: TuningEngine | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the local SageMaker backend is not started")
        return f"http://{self.host}:{self._server.server_port}"

    def start(self) -> LocalSageMaker:
        if self._server is not None:
            raise RuntimeError("the local SageMaker backend is already started")
        self.home.mkdir(parents=True, exist_ok=True)
        store = Store(self.home)
        self.s3 = LocalS3(self.home)
        engine = TuningEngine(store, Runner(self.home, self.s3), self.region)
        deployments = Deployments(store, self.s3, self.region, self.endpoint_delay_seconds)
        api = SageMakerApi(store, engine, deployments, self.max_concurrent_tuning_jobs)
        server = make_server(
            self.host, self.port, Front(api, self.faults), threaded=True, request_handler=_Handler
        )
        engine.recover()
        self._engine, self._server = engine, server
        self._thread = threading.Thread(target=server.serve_forever, name="local-sagemaker-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, interrupt running training jobs; unfinished tuning jobs resume on the next start."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        assert self._engine is not None and self._thread is not None
        self._engine.shutdown()
        self._thread.join()
        self._server = self._engine = self._thread = None

    def __enter__(self) -> LocalSageMaker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def serve(
    host: str = "127.0.0.1",
    port: int = 4599,
    home: Path | str = ".local-sagemaker",
    max_concurrent_tuning_jobs: int = 100,
    faults: Faults | None = None,
    region: str = "us-east-1",
) -> None:
    """Serve until SIGTERM or SIGINT (the ``airflow-hpt local-sagemaker`` command)."""
    backend = LocalSageMaker(
        home,
        host=host,
        port=port,
        max_concurrent_tuning_jobs=max_concurrent_tuning_jobs,
        faults=faults,
        region=region,
    )
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        backend.start()
        print(f"Local SageMaker listening on {backend.endpoint_url} (home: {backend.home})", flush=True)
        done.wait()
    finally:
        backend.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
