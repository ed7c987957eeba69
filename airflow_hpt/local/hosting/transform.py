"""Batch transform jobs (CreateTransformJob): a model scores every object under an S3 prefix.

A job starts a model server of its own for its model (the process an endpoint uses,
:mod:`airflow_hpt.local.hosting.servers`, under ``<home>/transform/serving/<job>/``), sends it the input's
records in requests, writes what it answers to ``<S3OutputPath>/<key relative to the input
prefix>.out`` and stops it, as SageMaker's batch transform does:

- ``SplitType`` ``None``: one request per object; ``Line``: records are the object's lines, sent one
  per request (``BatchStrategy`` ``SingleRecord``) or as many as fit in ``MaxPayloadInMB`` (``MultiRecord``).
- ``AssembleWith`` ``Line``: each answer ends with a newline; ``None``: the answers are concatenated.
- A model server that answers with an error fails the job; the FailureReason names the object, the
  record batch and the script's error.

A job that was InProgress when the backend went down runs again from the beginning on the next
start (its outputs are written anew); one that was Stopping ends Stopped.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from airflow_hpt.local.hosting.deploy import Deployments
from airflow_hpt.local.hosting.process import ModelServerError, ServingSpec
from airflow_hpt.local.hosting.servers import Hosting
from airflow_hpt.local.hosting.tracebacks import summarize
from airflow_hpt.local.s3.errors import S3Error
from airflow_hpt.local.s3.objects import ObjectStore
from airflow_hpt.local.state import store as kinds
from airflow_hpt.local.state.records import Book, Record, Stored, Tag
from airflow_hpt.local.state.store import Store

# CreateTransformJob's documented default: "The default value is 6 MB."
DEFAULT_MAX_PAYLOAD_MB = 6
SERVING_CONFIG = "transform"
VARIANT = "AllTraffic"
OUTPUT_CONTENT_TYPE = "binary/octet-stream"


class TransformFailed(Exception):
    """Why a job failed, in the words of its FailureReason."""


class _Stopped(Exception):
    """StopTransformJob (or the backend's shutdown) reached the job between two requests."""


@dataclasses.dataclass
class _Run:
    thread: threading.Thread
    stop: threading.Event = dataclasses.field(default_factory=threading.Event)
    interrupted: bool = False


class TransformJobs:
    """The transform jobs of one backend: one thread each, with its own model server."""

    def __init__(
        self, store: Store, deployments: Deployments, objects: ObjectStore, hosting: Hosting
    ) -> None:
        self.store = store
        self.deployments = deployments
        self.objects = objects
        self.hosting = hosting
        self.region = deployments.region
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}

    def create(self, request: Mapping[str, Any], tags: list[Tag]) -> str:
        """Record a new (validated, name checked free under the store's transaction) job; start it."""
        name = request["TransformJobName"]
        now = time.time()
        record: Record = {key: value for key, value in request.items() if key != "Tags"}
        record.setdefault("MaxPayloadInMB", DEFAULT_MAX_PAYLOAD_MB)
        record.setdefault("BatchStrategy", "MultiRecord")
        record["TransformInput"].setdefault("SplitType", "None")
        record["TransformOutput"].setdefault("AssembleWith", "None")
        record.update(
            TransformJobArn=kinds.arn_for(self.region, kinds.TRANSFORM_JOBS, name),
            TransformJobStatus="InProgress",
            CreationTime=now,
            LastModifiedTime=now,
        )
        self.store.put(kinds.TRANSFORM_JOBS, name, Stored(record, Book(tags=tags)))
        self._start(name)
        return str(record["TransformJobArn"])

    def stop(self, name: str) -> None:
        with self.store.transaction():
            record = self.store.get(kinds.TRANSFORM_JOBS, name)
            if record is None or record["TransformJobStatus"] != "InProgress":
                status = record["TransformJobStatus"] if record else "deleted"
                raise ValueError(f"The request was rejected because the transform job is in status {status}.")
            self.store.update(kinds.TRANSFORM_JOBS, name, _set(TransformJobStatus="Stopping"))
        with self._lock:
            run = self._runs.get(name.lower())
        if run is not None:
            run.stop.set()

    def recover(self) -> None:
        """After a (re)start: an interrupted job runs again, one being stopped ends Stopped."""
        for record in self.store.all(kinds.TRANSFORM_JOBS):
            name = record["TransformJobName"]
            if record["TransformJobStatus"] == "Stopping":
                self.store.update(kinds.TRANSFORM_JOBS, name, _ended("Stopped"))
            elif record["TransformJobStatus"] == "InProgress":
                self._start(name)

    def shutdown(self) -> None:
        """Interrupt the running jobs; they stay InProgress and run again on the next start."""
        with self._lock:
            runs = list(self._runs.values())
        for run in runs:
            run.interrupted = True
            run.stop.set()
        for run in runs:
            run.thread.join()
        self.hosting.stop_all()

    def _start(self, name: str) -> None:
        run = _Run(threading.Thread(target=self._main, args=(name,), name=f"transform-{name}", daemon=True))
        with self._lock:
            self._runs[name.lower()] = run
        self.store.update(kinds.TRANSFORM_JOBS, name, _set(TransformStartTime=time.time()), copy=False)
        run.thread.start()

    def _main(self, name: str) -> None:
        with self._lock:
            run = self._runs[name.lower()]
        try:
            self._transform(name, run.stop)
            outcome = _ended("Completed")
        except _Stopped:
            if run.interrupted:
                return  # not ended: the job runs again on the next start
            outcome = _ended("Stopped")
        except TransformFailed as failure:
            outcome = _ended("Failed", str(failure)[:1024])
        except Exception as error:  # the job must end visibly, never hang InProgress
            outcome = _ended("Failed", f"InternalServerError: {type(error).__name__}: {error}"[:1024])
        finally:
            self.hosting.stop(name)
            with self._lock:
                self._runs.pop(name.lower(), None)
        self.store.update(kinds.TRANSFORM_JOBS, name, outcome, copy=False)

    def _transform(self, name: str, stop: threading.Event) -> None:
        job = self.store.get(kinds.TRANSFORM_JOBS, name)
        assert job is not None
        source = job["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
        bucket, _, prefix = source.removeprefix("s3://").partition("/")
        try:
            keys = self.objects.keys(bucket, prefix)
        except S3Error as error:
            raise TransformFailed(f"ClientError: cannot read {source}: {error}") from None
        if not keys:
            raise TransformFailed(f"ClientError: no objects found under {source}")
        self._serve(name, job, stop)
        output = job["TransformOutput"]["S3OutputPath"].rstrip("/")
        out_bucket, _, out_prefix = output.removeprefix("s3://").partition("/")
        # keys are named relative to the prefix's folder, as SageMaker names its .out objects
        base = prefix[: prefix.rfind("/") + 1]
        for key in keys:
            answers = self._score(name, job, bucket, key, stop)
            relative = key.removeprefix(base)
            out_key = f"{out_prefix}/{relative}.out" if out_prefix else f"{relative}.out"
            content_type = job["TransformOutput"].get("Accept") or OUTPUT_CONTENT_TYPE
            self.objects.put(out_bucket, out_key, answers, content_type, {})

    def _serve(self, name: str, job: Record, stop: threading.Event) -> None:
        """Start the job's model server and make it the one its requests go to."""
        staging = self.hosting.stage(name, SERVING_CONFIG, lambda: self._spec(job))
        while not staging.done.wait(0.1):
            if stop.is_set():
                raise _Stopped
        if staging.failure is not None:
            raise TransformFailed(
                f"ClientError: the model {job['ModelName']} could not be served: {staging.failure}"
            )
        self.hosting.promote(name, SERVING_CONFIG)

    def _spec(self, job: Record) -> ServingSpec:
        spec = self.deployments.model_serving_spec(job["ModelName"], VARIANT)
        environment = {
            **spec.environment,
            **{key: str(value) for key, value in (job.get("Environment") or {}).items()},
        }
        return dataclasses.replace(spec, environment=environment)

    def _score(self, name: str, job: Record, bucket: str, key: str, stop: threading.Event) -> bytes:
        """The assembled answers of the model for one input object."""
        _info, path = self.objects.head(bucket, key)
        data = path.read_bytes()
        transform_input = job["TransformInput"]
        headers = {}
        if transform_input.get("ContentType"):
            headers["Content-Type"] = transform_input["ContentType"]
        if job["TransformOutput"].get("Accept"):
            headers["Accept"] = job["TransformOutput"]["Accept"]
        line_assembly = job["TransformOutput"].get("AssembleWith") == "Line"
        max_bytes = int(job["MaxPayloadInMB"]) * 1024 * 1024 or None
        uri = f"s3://{bucket}/{key}"
        parts: list[bytes] = []
        for first, last, body in _batches(data, transform_input, job["BatchStrategy"], max_bytes, uri):
            if stop.is_set():
                raise _Stopped
            try:
                _spec, answer = self.hosting.invoke(name, lambda: self._spec(job), headers, body)
            except ModelServerError as error:
                raise TransformFailed(f"ModelError: {uri}, records {first}-{last}: {error.message}") from None
            if answer.status >= 400:
                summary = summarize(answer.body.decode("utf-8", errors="replace"))
                raise TransformFailed(
                    f"ModelError: the model answered {answer.status} for {uri}, records {first}-{last}: {summary}"
                )
            if line_assembly:
                parts.append(answer.body.rstrip(b"\n") + b"\n")
            else:
                parts.append(answer.body)
        return b"".join(parts)


def _batches(
    data: bytes, transform_input: Mapping[str, Any], strategy: str, max_bytes: int | None, uri: str
) -> Iterator[tuple[int, int, bytes]]:
    """The requests for one object: (first record, last record, body), records counted from 1."""
    if transform_input.get("SplitType", "None") == "None":
        _check_size(len(data), max_bytes, f"{uri} (SplitType None: the whole object is one record)")
        yield 1, 1, data
        return
    records = [line for line in data.splitlines() if line.strip()]
    batch: list[bytes] = []
    size = 0
    first = 1
    for number, record in enumerate(records, start=1):
        _check_size(len(record), max_bytes, f"{uri}, record {number}")
        joined = size + len(record) + (1 if batch else 0)
        if batch and (strategy == "SingleRecord" or (max_bytes is not None and joined > max_bytes)):
            yield first, number - 1, b"\n".join(batch)
            batch, size, first = [], 0, number
            joined = len(record)
        batch.append(record)
        size = joined
    if batch:
        yield first, len(records), b"\n".join(batch)


def _check_size(size: int, max_bytes: int | None, what: str) -> None:
    if max_bytes is not None and size > max_bytes:
        raise TransformFailed(
            f"ClientError: {what} is {size} bytes, more than MaxPayloadInMB allows ({max_bytes} bytes)"
        )


def _set(**fields: Any) -> Callable[[Record], None]:
    def change(record: Record) -> None:
        record.update(fields, LastModifiedTime=time.time())

    return change


def _ended(status: str, failure_reason: str | None = None) -> Callable[[Record], None]:
    def change(record: Record) -> None:
        now = time.time()
        # a Stop that raced with the natural end wins: the user asked for it
        final = "Stopped" if record["TransformJobStatus"] == "Stopping" and status != "Failed" else status
        record.update(TransformJobStatus=final, TransformEndTime=now, LastModifiedTime=now)
        if final == "Failed" and failure_reason:
            record["FailureReason"] = failure_reason

    return change
