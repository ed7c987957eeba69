"""Start and stop the local backend: in-process (:class:`LocalSageMaker`) or as a CLI (:func:`serve`)."""

from __future__ import annotations

import ipaddress
import json
import logging
import shlex
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType, TracebackType

from airflow_hpt.local.cloudwatch.logs import LogsHandler
from airflow_hpt.local.cloudwatch.metrics import MetricsHandler
from airflow_hpt.local.hosting.deploy import Deployments
from airflow_hpt.local.hosting.servers import Hosting
from airflow_hpt.local.hosting.transform import TransformJobs
from airflow_hpt.local.http.auth import SigV4Verifier
from airflow_hpt.local.http.faults import Faults
from airflow_hpt.local.http.limits import LimitedServer
from airflow_hpt.local.http.router import PathRouter, ServiceRouter, WsgiApp
from airflow_hpt.local.http.service import ServiceFront
from airflow_hpt.local.iam.policy import Authorizer, Policy, RequestLog
from airflow_hpt.local.s3.front import S3Front
from airflow_hpt.local.s3.objects import ObjectStore
from airflow_hpt.local.s3.paths import LocalS3
from airflow_hpt.local.sagemaker.front import Front
from airflow_hpt.local.sagemaker.hosting import hosting_operations
from airflow_hpt.local.sagemaker.quotas import DEFAULT_MAX_PARALLEL_TRAINING_JOBS, Quotas
from airflow_hpt.local.sagemaker.registry import Operations
from airflow_hpt.local.sagemaker.runtime import PATH_PREFIX as RUNTIME_PATH_PREFIX
from airflow_hpt.local.sagemaker.runtime import RuntimeFront
from airflow_hpt.local.sagemaker.tags import TagOperations
from airflow_hpt.local.sagemaker.training_jobs import TrainingJobOperations
from airflow_hpt.local.sagemaker.transform_jobs import TransformJobOperations
from airflow_hpt.local.sagemaker.tuning_jobs import TuningJobOperations
from airflow_hpt.local.state.store import Store
from airflow_hpt.local.sts.identity import StsHandler, refusal
from airflow_hpt.local.training.runner import Runner
from airflow_hpt.local.training.standalone import TrainingJobs
from airflow_hpt.local.tuning.engine import TuningEngine

log = logging.getLogger(__name__)

# Documented, well-known test credentials (as moto's): the default of in-process backends, which
# tests and the examples start and stop on loopback. The CLI generates a secret instead.
TEST_ACCESS_KEY_ID = "testing"
TEST_SECRET_ACCESS_KEY = "testing"


class LocalSageMaker:
    """The local SageMaker backend, serving on ``host:port`` (``port=0``: a free port).

    >>> with LocalSageMaker(home) as backend:
    ...     client = boto3.client("sagemaker", endpoint_url=backend.endpoint_url, region_name="us-east-1")

    All state lives under ``home``; a new instance on the same home resumes where the last stopped.
    Every request must be signed (SigV4) with ``access_key_id`` / ``secret_access_key``.
    Local code folders (``sagemaker_submit_directory`` ``file://...``) must lie inside ``code_roots``
    (default: ``home`` and the current folder). Create answers ResourceLimitExceeded past the quotas (``max_concurrent_tuning_jobs``,
    ``max_parallel_training_jobs``, ``max_training_instances``: local/quotas.py).
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
        max_parallel_training_jobs: int = DEFAULT_MAX_PARALLEL_TRAINING_JOBS,
        max_training_instances: int | None = None,
        access_key_id: str = TEST_ACCESS_KEY_ID,
        secret_access_key: str = TEST_SECRET_ACCESS_KEY,
        policy: Policy | Path | str | None = None,
        code_roots: Sequence[Path | str] | None = None,
    ) -> None:
        self.home = Path(home).resolve()
        # where local code folders may be (LocalS3): None for the home and the current folder
        self.code_roots = code_roots
        # IAM for every service served (docs/iam.md); the request log counts every call either way
        self.policy = Policy.from_file(policy) if isinstance(policy, Path | str) else policy
        self.requests = RequestLog(self.home / "requests.log")
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self._verifier = SigV4Verifier(access_key_id, secret_access_key)
        self.host = host
        self.port = port
        self.region = region
        self.quotas = Quotas(max_concurrent_tuning_jobs, max_parallel_training_jobs, max_training_instances)
        self.faults = faults
        self.endpoint_delay_seconds = endpoint_delay_seconds
        self.s3: LocalS3 | None = None
        self._server: LimitedServer | None = None
        self._engine: TuningEngine | None = None
        self._hosting: Hosting | None = None
        self._training_jobs: TrainingJobs | None = None
        self._transform_jobs: TransformJobs | None = None
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
        self.s3 = LocalS3(self.home, self.code_roots)
        runner = Runner(self.home, self.s3)
        engine = TuningEngine(store, runner, self.region)
        hosting = Hosting(self.home)
        deployments = Deployments(store, self.s3, self.region, self.endpoint_delay_seconds, hosting)
        objects = ObjectStore(self.s3, self.home)
        training_jobs = TrainingJobs(store, runner, self.region)
        transform_hosting = Hosting(self.home / "transform")
        transform_jobs = TransformJobs(store, deployments, objects, transform_hosting)
        api = Operations(
            store,
            TuningJobOperations(store, engine, self.quotas).operations(),
            TrainingJobOperations(store, self.s3, training_jobs, engine).operations(),
            TransformJobOperations(store, self.s3, transform_jobs).operations(),
            hosting_operations(deployments),
            TagOperations(store, self.region).operations(),
        )
        authorizer = Authorizer(self.policy, self.requests, self.access_key_id, self.region)
        runtime = RuntimeFront(deployments, hosting, self._verifier, self.region, authorizer)
        logs = LogsHandler(store, self.home, self.region, authorizer, hosting.root, transform_hosting.root)
        fronts: dict[str, WsgiApp] = {
            "sagemaker": PathRouter(
                {RUNTIME_PATH_PREFIX: runtime},
                Front(api, self._verifier, authorizer, self.region, self.faults),
            ),
            "s3": S3Front(objects, self._verifier, self.region, authorizer),
            "logs": ServiceFront("logs", logs, self._verifier),
            "monitoring": ServiceFront(
                "monitoring", MetricsHandler(store, self.home, authorizer), self._verifier
            ),
            "sts": ServiceFront("sts", StsHandler(authorizer), self._verifier, refusal),
        }
        server = LimitedServer(self.host, self.port, ServiceRouter(fronts, default="sagemaker"))
        if not is_loopback(self.host):
            log.warning(non_loopback_warning(self.host))
        # taken before the engine's recovery, which ends every unfinished training job Failed
        interrupted = training_jobs.unfinished()
        engine.recover()
        training_jobs.recover(interrupted)
        transform_jobs.recover()
        self._engine, self._server, self._hosting = engine, server, hosting
        self._training_jobs, self._transform_jobs = training_jobs, transform_jobs
        self._thread = threading.Thread(target=server.serve_forever, name="local-sagemaker-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, interrupt running training and transform jobs, stop the model servers;
        unfinished jobs resume on the next start, endpoints serve again on their next request."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        assert self._engine is not None and self._thread is not None and self._hosting is not None
        assert self._training_jobs is not None and self._transform_jobs is not None
        self._engine.shutdown()
        self._training_jobs.shutdown()
        self._transform_jobs.shutdown()
        self._hosting.stop_all()
        self._thread.join()
        self.requests.close()
        self._server = self._engine = self._thread = self._hosting = None
        self._training_jobs = self._transform_jobs = None

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
    access_key_id: str = TEST_ACCESS_KEY_ID,
    secret_access_key: str = TEST_SECRET_ACCESS_KEY,
    secret_generated: bool = False,
    policy: Policy | None = None,
    max_parallel_training_jobs: int = DEFAULT_MAX_PARALLEL_TRAINING_JOBS,
    max_training_instances: int | None = None,
    code_roots: Sequence[Path | str] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT (the ``airflow-hpt local-sagemaker`` command).

    ``secret_generated``: after the address, print the settings a client needs, secret included:
    the operator has no other way to learn a generated secret. Only to stdout, the operator's
    terminal; it is neither logged nor stored.
    """
    backend = LocalSageMaker(
        home,
        host=host,
        port=port,
        max_concurrent_tuning_jobs=max_concurrent_tuning_jobs,
        faults=faults,
        region=region,
        access_key_id=access_key_id,
        secret_access_key=secret_access_key,
        policy=policy,
        max_parallel_training_jobs=max_parallel_training_jobs,
        max_training_instances=max_training_instances,
        code_roots=code_roots,
    )
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        backend.start()
        print(f"Local SageMaker listening on {backend.endpoint_url} (home: {backend.home})", flush=True)
        if not is_loopback(host):
            print(f"WARNING: {non_loopback_warning(host)}", file=sys.stderr, flush=True)
        if secret_generated:
            print(client_settings(backend), flush=True)
        done.wait()
    finally:
        backend.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) reaches this machine's loopback interface only."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        addresses = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addresses) and all(
        ipaddress.ip_address(address.split("%")[0]).is_loopback for address in addresses
    )


def non_loopback_warning(host: str) -> str:
    return (
        f"the local SageMaker backend listens on {host!r}, not on loopback: anyone who can reach it "
        "and knows its credentials can run code on this machine as this user (training scripts are "
        "processes here). Bind 127.0.0.1 unless another host or container must reach it."
    )


def client_settings(backend: LocalSageMaker) -> str:
    """Shell lines giving Airflow and boto3 the backend's address and credentials."""
    connection = {
        "conn_type": "aws",
        "login": backend.access_key_id,
        "password": backend.secret_access_key,
        "extra": {"endpoint_url": backend.endpoint_url, "region_name": backend.region},
    }
    lines = [
        "Generated credentials (shown once, stored nowhere; set AIRFLOW_HPT_LOCAL_SECRET_ACCESS_KEY "
        "or pass --secret-access-key to choose them). For Airflow and boto3:",
        f"export AIRFLOW_CONN_AWS_DEFAULT={shlex.quote(json.dumps(connection))}",
        f"export AWS_ACCESS_KEY_ID={shlex.quote(backend.access_key_id)}",
        f"export AWS_SECRET_ACCESS_KEY={shlex.quote(backend.secret_access_key)}",
        f"export AWS_ENDPOINT_URL={shlex.quote(backend.endpoint_url)}",
        f"export AWS_DEFAULT_REGION={shlex.quote(backend.region)}",
    ]
    return "\n".join(lines)
