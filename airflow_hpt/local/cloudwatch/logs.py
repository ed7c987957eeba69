"""CloudWatch Logs for the local backend's jobs and endpoints (the ``logs`` service, awsJson1_1).

The log groups and streams are SageMaker's, one stream per instance:

- ``/aws/sagemaker/TrainingJobs``: ``<job>/algo-1-<epoch seconds>``, the job's ``training.log``
  as the runner writes it; its unfinished last line becomes an event once the job has ended.
- ``/aws/sagemaker/TransformJobs``: ``<job>/<instance id>-<epoch seconds>``, the output of the
  job's model server (:mod:`airflow_hpt.local.hosting.servers`; one per start of the job).
- ``/aws/sagemaker/Endpoints/<endpoint>``: ``<variant>/<instance id>``, the output of each model
  server the endpoint has had (one per deployment and per restart of a dead server).

A stream is one event per non-empty line (CloudWatch takes no empty events), timed by the write
times noted beside the log; it exists once its log does, and outlives its job or endpoint.

Operations: DescribeLogGroups, DescribeLogStreams, GetLogEvents, FilterLogEvents. Paging follows
CloudWatch: GetLogEvents always answers both tokens, and a forward token that reached the end of
the stream comes back unchanged (that is how the amazon provider and the SageMaker SDK know they
have read everything); the other operations answer ``nextToken`` only while more remain.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import botocore.session
from werkzeug.datastructures import Headers

from airflow_hpt.local.cloudwatch.streams import LogEvent, LogStream, stream_name
from airflow_hpt.local.hosting.process import ServedInstance, served_instances
from airflow_hpt.local.http.answer import Answer
from airflow_hpt.local.http.errors import ACCESS_DENIED, SERIALIZATION, UNKNOWN_OPERATION, Body
from airflow_hpt.local.http.wire import WireError, load_json_object, type_error, type_problems
from airflow_hpt.local.iam.actions import logs_needs
from airflow_hpt.local.iam.policy import Authorizer
from airflow_hpt.local.state import store as kinds
from airflow_hpt.local.state.store import Store
from airflow_hpt.local.training.runner import LOG_FILE, LOG_TIMES_FILE, job_folder
from airflow_hpt.statuses import TRAINING_JOB_ENDED

log = logging.getLogger(__name__)

TRAINING_GROUP = "/aws/sagemaker/TrainingJobs"
TRANSFORM_GROUP = "/aws/sagemaker/TransformJobs"
ENDPOINT_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"
TARGET_PREFIX = "Logs_20140328."
CONTENT_TYPE = "application/x-amz-json-1.1"
# CloudWatch's caps on one answer: 10,000 events or 1 MB (counted as UTF-8 plus 26 bytes each)
MAX_EVENTS = 10_000
MAX_BYTES = 1_048_576
EVENT_OVERHEAD = 26
MAX_STREAMS_PER_PAGE = 50


class LogsError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _matcher(pattern: str) -> Callable[[str], bool]:
    """CloudWatch's filter pattern for unstructured events.

    Terms (words or "quoted phrases") must all appear, case-sensitively; ``?term`` terms match if
    any appears; ``-term`` excludes; ``%regex%`` is a regular expression.
    """
    pattern = pattern.strip()
    if not pattern:
        return lambda message: True
    if len(pattern) > 1 and pattern.startswith("%") and pattern.endswith("%"):
        try:
            regex = re.compile(pattern[1:-1])
        except re.error as error:
            raise LogsError("InvalidParameterException", f"Invalid regex filter pattern: {error}") from None
        return lambda message: regex.search(message) is not None
    if pattern[0] in "{[":
        raise LogsError(
            "InvalidParameterException",
            'The local backend\'s FilterLogEvents supports terms, ?terms, -terms, "phrases" and %regex%; '
            "JSON and space-delimited filter patterns are not supported",
        )
    required: list[str] = []
    any_of: list[str] = []
    excluded: list[str] = []
    for match in re.finditer(r'([?-]?)(?:"((?:[^"\\]|\\.)*)"|(\S+))', pattern):
        prefix, phrase, word = match.groups()
        term = phrase if phrase is not None else word
        {"?": any_of, "-": excluded}.get(prefix, required).append(term)

    def matches(message: str) -> bool:
        return (
            all(term in message for term in required)
            and (not any_of or any(term in message for term in any_of))
            and not any(term in message for term in excluded)
        )

    return matches


def _int(body: Body, member: str, default: int | None = None) -> int | None:
    value = body.get(member, default)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise LogsError("InvalidParameterException", f"{member} must be an integer")
    return value


def _limit(body: Body, maximum: int, default: int) -> int:
    limit = _int(body, "limit", default)
    assert limit is not None
    if not 1 <= limit <= maximum:
        raise LogsError(
            "InvalidParameterException",
            f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy constraint: "
            f"Member must have value between 1 and {maximum}",
        )
    return limit


def _in_window(body: Body) -> Callable[[LogEvent], bool]:
    # CloudWatch: startTime included, endTime excluded
    start = _int(body, "startTime", 0) or 0
    end = _int(body, "endTime")
    return lambda event: event.timestamp >= start and (end is None or event.timestamp < end)


def _encode(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def _decode(token: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        raise _invalid_token() from None


def _invalid_token() -> LogsError:
    return LogsError("InvalidParameterException", "The specified nextToken is invalid.")


def _message(item: tuple[Any, ...]) -> str:
    return str(item[-1].message)


def _capped(events: list[Any], message: Callable[[Any], str], limit: int) -> list[Any]:
    """The leading events that fit ``limit`` and CloudWatch's 1 MB (at least one)."""
    size = 0
    for count, event in enumerate(events[:limit]):
        size += len(message(event).encode()) + EVENT_OVERHEAD
        if size > MAX_BYTES and count:
            return events[:count]
    return events[:limit]


def _error(error: LogsError) -> Answer:
    answer = {"__type": error.code, "message": error.message}
    headers = {"Content-Type": CONTENT_TYPE, "x-amzn-ErrorType": error.code}
    return Answer(error.status, headers, json.dumps(answer).encode())


class LogsHandler:
    """Answers ``logs`` requests from the training jobs' records and the jobs' and servers' logs."""

    def __init__(
        self,
        store: Store,
        home: Path,
        region: str,
        authorizer: Authorizer,
        endpoint_servers: Path,
        transform_servers: Path,
    ) -> None:
        """``endpoint_servers``, ``transform_servers``: the roots of the endpoints' and the
        transform jobs' :class:`~airflow_hpt.local.hosting.servers.Hosting`."""
        self.store = store
        self.home = Path(home)
        self.region = region
        self.authorizer = authorizer
        self.endpoint_servers = endpoint_servers
        self.transform_servers = transform_servers
        self._model = botocore.session.get_session().get_service_model("logs")
        self._operations: dict[str, Callable[[Body], Body]] = {
            "DescribeLogGroups": self.describe_log_groups,
            "DescribeLogStreams": self.describe_log_streams,
            "GetLogEvents": self.get_log_events,
            "FilterLogEvents": self.filter_log_events,
        }

    def handle(self, method: str, path: str, headers: Headers, body: bytes) -> Answer:
        target = headers.get("X-Amz-Target", "")
        operation = self._operations.get(target.removeprefix(TARGET_PREFIX))
        try:
            if method != "POST" or not target.startswith(TARGET_PREFIX) or operation is None:
                raise LogsError(UNKNOWN_OPERATION, f"Unknown operation target {target!r}")
            try:
                request = load_json_object(body)
            except WireError as error:
                raise LogsError(SERIALIZATION, f"Malformed request body: {error}") from None
            name = target.removeprefix(TARGET_PREFIX)
            problems = list(type_problems(request, self._model.operation_model(name).input_shape))
            if problems:
                raise LogsError(SERIALIZATION, type_error(problems, name).message)
            for action, resources in logs_needs(target.removeprefix(TARGET_PREFIX), request, self.region):
                refusal = self.authorizer.refusal(action, resources)
                if refusal is not None:
                    raise LogsError(ACCESS_DENIED, refusal)
            return Answer(200, {"Content-Type": CONTENT_TYPE}, json.dumps(operation(request)).encode())
        except LogsError as error:
            return _error(error)
        except Exception:  # a bug must reach the client as a 500, not kill the connection
            log.exception("%s failed", target)
            return _error(LogsError("ServiceUnavailableException", "The local backend failed to answer", 500))

    # --- what there is -------------------------------------------------------------------------

    def _groups(self) -> dict[str, dict[str, LogStream]]:
        """Log group -> its streams by name. The training jobs' group always exists (the amazon
        provider reads it before the first job has written); the others once they have a stream."""
        groups: dict[str, dict[str, LogStream]] = {TRAINING_GROUP: self._training_streams()}
        for instance in served_instances(self.transform_servers):
            name = f"{instance.served}/{instance.instance_id}-{int(instance.started)}"
            groups.setdefault(TRANSFORM_GROUP, {})[name] = self._served_stream(name, instance)
        for instance in served_instances(self.endpoint_servers):
            name = f"{instance.variant}/{instance.instance_id}"
            group = groups.setdefault(ENDPOINT_GROUP_PREFIX + instance.served, {})
            group[name] = self._served_stream(name, instance)
        return groups

    def _training_streams(self) -> dict[str, LogStream]:
        """Stream name -> stream, for the training jobs whose script has started writing."""
        streams = {}
        for record in self.store.all(kinds.TRAINING_JOBS):
            folder = job_folder(self.home, record["TrainingJobName"])
            if (folder / LOG_FILE).exists():
                name = stream_name(record)
                streams[name] = LogStream(
                    name,
                    record["CreationTime"],
                    folder / LOG_FILE,
                    folder / LOG_TIMES_FILE,
                    complete=record["TrainingJobStatus"] in TRAINING_JOB_ENDED,
                    default_ms=int(float(record.get("TrainingStartTime") or record["CreationTime"]) * 1000),
                )
        return streams

    @staticmethod
    def _served_stream(name: str, instance: ServedInstance) -> LogStream:
        # the server's output ends with a whole line (hosting ends an unfinished one): never partial
        started_ms = int(instance.started * 1000)
        return LogStream(name, instance.started, instance.log, instance.log_times, False, started_ms)

    def _group(self, body: Body) -> tuple[str, dict[str, LogStream]]:
        group = body.get("logGroupName") or body.get("logGroupIdentifier")
        if not group:
            raise LogsError("InvalidParameterException", "logGroupName or logGroupIdentifier is required")
        name = str(group).rsplit(":log-group:", 1)[-1]
        streams = self._groups().get(name)
        if streams is None:
            raise LogsError("ResourceNotFoundException", "The specified log group does not exist.")
        return name, streams

    def _stream(self, body: Body) -> LogStream:
        _group, streams = self._group(body)
        stream = streams.get(str(body.get("logStreamName")))
        if stream is None:
            raise LogsError("ResourceNotFoundException", "The specified log stream does not exist.")
        return stream

    def _arn(self, group: str, stream: str | None = None) -> str:
        arn = f"arn:aws:logs:{self.region}:{kinds.ACCOUNT_ID}:log-group:{group}"
        return f"{arn}:log-stream:{stream}" if stream else f"{arn}:*"

    # --- operations ----------------------------------------------------------------------------

    def describe_log_groups(self, body: Body) -> Body:
        prefix = body.get("logGroupNamePrefix") or ""
        pattern = body.get("logGroupNamePattern") or ""
        groups = []
        for group, streams in sorted(self._groups().items()):
            if group.startswith(prefix) and pattern.lower() in group.lower():
                created = min((stream.created for stream in streams.values()), default=0)
                groups.append(
                    {
                        "logGroupName": group,
                        "creationTime": int(created * 1000),
                        "metricFilterCount": 0,
                        "arn": self._arn(group),
                        "logGroupArn": self._arn(group).removesuffix(":*"),
                        "storedBytes": 0,
                        "logGroupClass": "STANDARD",
                    }
                )
        return {"logGroups": groups}

    def describe_log_streams(self, body: Body) -> Body:
        group, group_streams = self._group(body)
        prefix = body.get("logStreamNamePrefix") or ""
        order_by = body.get("orderBy", "LogStreamName")
        if order_by not in ("LogStreamName", "LastEventTime"):
            raise LogsError(
                "InvalidParameterException", f"orderBy {order_by!r}: LogStreamName or LastEventTime"
            )
        if prefix and order_by == "LastEventTime":
            raise LogsError(
                "InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix."
            )
        limit = _limit(body, MAX_STREAMS_PER_PAGE, MAX_STREAMS_PER_PAGE)
        streams = []
        for name, stream in group_streams.items():
            if name.startswith(prefix):
                streams.append(self._stream_description(group, stream))
        if order_by == "LogStreamName":
            streams.sort(key=lambda stream: stream["logStreamName"], reverse=bool(body.get("descending")))
        else:
            streams.sort(
                key=lambda stream: stream.get("lastEventTimestamp", 0), reverse=bool(body.get("descending"))
            )
        start = _decode(body["nextToken"]) if body.get("nextToken") else 0
        if not isinstance(start, int) or isinstance(start, bool) or start < 0:
            raise _invalid_token()
        answer: Body = {"logStreams": streams[start : start + limit]}
        if start + limit < len(streams):
            answer["nextToken"] = _encode(start + limit)
        return answer

    def _stream_description(self, group: str, stream: LogStream) -> Body:
        description: Body = {
            "logStreamName": stream.name,
            "creationTime": int(stream.created * 1000),
            "arn": self._arn(group, stream.name),
            "storedBytes": 0,
        }
        events = stream.events()
        if events:
            description["firstEventTimestamp"] = events[0].timestamp
            description["lastEventTimestamp"] = events[-1].timestamp
            description["lastIngestionTime"] = events[-1].timestamp
            description["uploadSequenceToken"] = str(len(events))
        return description

    def get_log_events(self, body: Body) -> Body:
        stream = self._stream(body)
        limit = _limit(body, MAX_EVENTS, MAX_EVENTS)
        in_window = _in_window(body)
        every = stream.events()
        # tokens hold positions in the whole stream, so that a window or new lines never move them
        events = [(index, event) for index, event in enumerate(every) if in_window(event)]
        token = body.get("nextToken")
        if token:
            direction, _, position = str(token).partition("/")
            if direction not in ("f", "b") or not position.isdigit():
                raise LogsError("InvalidParameterException", "The specified nextToken is invalid.")
            forward, cursor = direction == "f", int(position)
        elif body.get("startFromHead"):
            forward, cursor = True, 0
        else:
            forward, cursor = False, len(every)
        if forward:
            page = _capped([item for item in events if item[0] >= cursor], _message, limit)
        else:
            before = [item for item in events if item[0] < cursor]
            page = _capped(before[::-1], _message, limit)[::-1]
        return {
            "events": [
                {"timestamp": event.timestamp, "message": event.message, "ingestionTime": event.timestamp}
                for _, event in page
            ],
            "nextForwardToken": f"f/{page[-1][0] + 1 if page else cursor:056d}",
            "nextBackwardToken": f"b/{page[0][0] if page else cursor:056d}",
        }

    def filter_log_events(self, body: Body) -> Body:
        _group, streams = self._group(body)
        names = body.get("logStreamNames")
        prefix = body.get("logStreamNamePrefix")
        if names and prefix:
            raise LogsError(
                "InvalidParameterException", "logStreamNames and logStreamNamePrefix cannot both be given."
            )
        matches = _matcher(str(body.get("filterPattern") or ""))
        limit = _limit(body, MAX_EVENTS, MAX_EVENTS)
        in_window = _in_window(body)
        found: list[tuple[int, str, int, LogEvent]] = []
        for name, stream in streams.items():
            if (names and name not in names) or (prefix and not name.startswith(prefix)):
                continue
            for index, event in enumerate(stream.events()):
                if in_window(event) and matches(event.message):
                    found.append((event.timestamp, name, index, event))
        found.sort(key=lambda item: item[:3])
        if body.get("nextToken"):
            last = _decode(body["nextToken"])
            if not (isinstance(last, list) and [type(item) for item in last] == [int, str, int]):
                raise _invalid_token()
            last = tuple(last)
            found = [item for item in found if item[:3] > last]
        page = _capped(found, _message, limit)
        answer: Body = {
            "events": [
                {
                    "logStreamName": name,
                    "timestamp": event.timestamp,
                    "message": event.message,
                    "ingestionTime": event.timestamp,
                    "eventId": f"{zlib.crc32(name.encode()):010d}{index:012d}",
                }
                for _, name, index, event in page
            ],
            "searchedLogStreams": [],
        }
        if len(page) < len(found):
            answer["nextToken"] = _encode(list(page[-1][:3]))
        return answer
