"""CloudWatch metrics of the local backend's training jobs (the ``monitoring`` service).

SageMaker publishes the metrics its MetricDefinitions regexes find in a training job's log to the
namespace ``/aws/sagemaker/TrainingJobs``: the SageMaker Python SDK's ``TrainingJobAnalytics``
reads them back with GetMetricStatistics, dimension ``TrainingJobName`` = the job; the instance
view uses dimension ``Host`` = ``<job>/algo-1``. Here both are served from the samples the
runner's metric parser keeps beside each job's log (``metrics.jsonl``, unit ``None``).

Protocols: what current botocore sends (``smithy-rpc-v2-cbor``: ``POST
/service/GraniteServiceVersion20100801/operation/<Op>``, CBOR bodies, timestamps as tag 1), and
the two older ones its service model still lists: awsJson1_0 (``X-Amz-Target:
GraniteServiceVersion20100801.<Op>``) and query (a form-encoded ``Action``, XML answers), so
that clients with an older botocore work too. CBOR is read and written with ``cbor2``.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from xml.etree import ElementTree

import botocore.session
import cbor2
from botocore.utils import parse_timestamp
from werkzeug.datastructures import Headers

from airflow_hpt.local.http.answer import Answer
from airflow_hpt.local.http.errors import Body
from airflow_hpt.local.http.wire import (
    MAX_DEPTH,
    WireError,
    depth,
    load_json_object,
    type_error,
    type_problems,
    without_nulls,
)
from airflow_hpt.local.iam.policy import Authorizer
from airflow_hpt.local.state import store as kinds
from airflow_hpt.local.state.store import Store
from airflow_hpt.local.training.runner import HOST, METRICS_FILE, job_folder

log = logging.getLogger(__name__)

NAMESPACE = "/aws/sagemaker/TrainingJobs"
SERVICE_PREFIX = "GraniteServiceVersion20100801"
CBOR_PATH = re.compile(rf"^/service/{SERVICE_PREFIX}/operation/(\w+)$")
XML_NAMESPACE = "http://monitoring.amazonaws.com/doc/2010-08-01/"
# CloudWatch answers at most 1,440 datapoints per call
MAX_DATAPOINTS = 1440
HIGH_RESOLUTION_PERIODS = (1, 5, 10, 30)
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
PERCENTILE = re.compile(r"^p(\d{1,2}(\.\d{1,2})?|100)$")


class MetricsError(Exception):
    """A CloudWatch error: the shape name on the wire, the query-protocol code, the status."""

    def __init__(self, shape: str, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.shape = shape
        self.code = code
        self.message = message
        self.status = status


def _invalid(message: str) -> MetricsError:
    return MetricsError("InvalidParameterValueException", "InvalidParameterValue", message)


def _combination(message: str) -> MetricsError:
    return MetricsError("InvalidParameterCombinationException", "InvalidParameterCombination", message)


def _missing(member: str) -> MetricsError:
    return MetricsError(
        "MissingRequiredParameterException", "MissingParameter", f"The parameter {member} is required."
    )


@dataclass(frozen=True)
class _Wire:
    """How a request came, so that the answer goes back the same way."""

    protocol: str  # "cbor", "json" or "query"
    operation: str


class MetricsHandler:
    """Answers ``monitoring`` requests from the training jobs' metric samples."""

    def __init__(self, store: Store, home: Path, authorizer: Authorizer) -> None:
        self.store = store
        self.home = Path(home)
        self.authorizer = authorizer
        self._model = botocore.session.get_session().get_service_model("cloudwatch")
        self._operations: dict[str, Callable[[Body], Body]] = {
            "GetMetricStatistics": self.get_metric_statistics,
        }

    def handle(self, method: str, path: str, headers: Headers, body: bytes) -> Answer:
        wire = _wire_of(path, headers, body)
        try:
            request = self._read(method, wire, body)
            operation = self._operations.get(wire.operation)
            if operation is None:
                raise MetricsError(
                    "InvalidAction", "InvalidAction", f"Operation {wire.operation or path!r} is not supported"
                )
            refusal = self.authorizer.refusal(f"cloudwatch:{wire.operation}")  # no resource-level scoping
            if refusal is not None:
                raise MetricsError("AccessDenied", "AccessDenied", refusal, 403)
            return self._answer(wire, operation(request))
        except MetricsError as error:
            return self._error(wire, error)
        except Exception:  # a bug must reach the client as a 500, not kill the connection
            log.exception("%s failed", wire.operation)
            failure = MetricsError(
                "InternalServiceFault", "InternalServiceError", "The local backend failed to answer", 500
            )
            return self._error(wire, failure)

    # --- protocols -----------------------------------------------------------------------------

    def _read(self, method: str, wire: _Wire, body: bytes) -> Body:
        if method != "POST":
            raise _invalid(f"{method} is not supported: CloudWatch takes POST requests")
        if wire.protocol == "cbor":
            try:
                decoded = cbor2.loads(body) if body else {}
            except (cbor2.CBORDecodeError, ValueError, RecursionError, MemoryError) as error:
                raise _invalid(f"Malformed CBOR body: {str(error)[:200]}") from None
            return self._typed(wire, self._plain(decoded))
        if wire.protocol == "json":
            try:
                decoded = load_json_object(body)
            except WireError as error:
                raise _invalid(f"Malformed JSON body: {error}") from None
            return self._typed(wire, self._plain(decoded))
        if wire.operation not in self._operations:
            return {}
        form = {key: values[-1] for key, values in parse_qs(body.decode("utf-8", errors="replace")).items()}
        shape = self._model.operation_model(wire.operation).input_shape
        try:
            request = _unflatten(form, shape, "")
        except ValueError as error:  # a number or a timestamp that is not one
            raise _invalid(f"Malformed parameter: {error}") from None
        return self._typed(wire, self._plain(request))

    def _typed(self, wire: _Wire, request: Body) -> Body:
        """``request`` if its members have the types of the operation's input shape."""
        if wire.operation not in self._operations:
            return request
        shape = self._model.operation_model(wire.operation).input_shape
        if depth(request) > MAX_DEPTH:
            raise _invalid(f"The request is nested more than {MAX_DEPTH} deep.")
        request = without_nulls(request)
        problems = list(type_problems(request, shape))
        if problems:
            raise _invalid(type_error(problems, wire.operation).message)
        return request

    @staticmethod
    def _plain(decoded: Any) -> Body:
        if not isinstance(decoded, dict):
            raise _invalid("The request body must be a structure")
        return {
            key: _epoch(value) if isinstance(value, datetime) else value for key, value in decoded.items()
        }

    def _answer(self, wire: _Wire, result: Body) -> Answer:
        if wire.protocol == "cbor":
            wired = {
                **result,
                "Datapoints": [
                    {**point, "Timestamp": datetime.fromtimestamp(point["Timestamp"], UTC)}
                    for point in result["Datapoints"]
                ],
            }
            headers = {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"}
            return Answer(200, headers, cbor2.dumps(wired, datetime_as_timestamp=True))
        if wire.protocol == "json":
            return Answer(200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(result).encode())
        root = ElementTree.Element(f"{wire.operation}Response", xmlns=XML_NAMESPACE)
        shape = self._model.operation_model(wire.operation).output_shape
        _to_xml(ElementTree.SubElement(root, f"{wire.operation}Result"), result, shape)
        return Answer(200, {"Content-Type": "text/xml"}, ElementTree.tostring(root, xml_declaration=True))

    @staticmethod
    def _error(wire: _Wire, error: MetricsError) -> Answer:
        fault = "Sender" if error.status < 500 else "Receiver"
        # botocore maps the shape name back to the query-protocol code with this header
        headers = {"x-amzn-query-error": f"{error.code};{fault}"}
        if wire.protocol == "query":
            root = ElementTree.Element("ErrorResponse", xmlns=XML_NAMESPACE)
            detail = ElementTree.SubElement(root, "Error")
            for tag, text in (("Type", fault), ("Code", error.code), ("Message", error.message)):
                ElementTree.SubElement(detail, tag).text = text
            return Answer(error.status, {"Content-Type": "text/xml"}, ElementTree.tostring(root))
        answer = {"__type": f"com.amazonaws.cloudwatch#{error.shape}", "message": error.message}
        if wire.protocol == "cbor":
            headers.update({"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"})
            return Answer(error.status, headers, cbor2.dumps(answer))
        headers.update({"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": error.shape})
        return Answer(error.status, headers, json.dumps(answer).encode())

    # --- operations ----------------------------------------------------------------------------

    def _samples(self, body: Body) -> list[tuple[float, float]]:
        """(epoch seconds, value) of the metric the request names, if it is a training job's."""
        if body.get("Namespace") != NAMESPACE:
            return []
        dimensions = {item.get("Name"): item.get("Value") for item in body.get("Dimensions") or []}
        if len(dimensions) != 1:
            return []  # CloudWatch matches the exact set of dimensions a metric was published with
        ((name, value),) = dimensions.items()
        if name == "Host" and str(value).endswith(f"/{HOST}"):
            job = str(value).removesuffix(f"/{HOST}")
        elif name == "TrainingJobName":
            job = str(value)
        else:
            return []
        record = self.store.get(kinds.TRAINING_JOBS, job)
        if record is None:
            return []
        try:
            lines = (job_folder(self.home, record["TrainingJobName"]) / METRICS_FILE).read_text().splitlines()
        except FileNotFoundError:
            return []
        samples = [json.loads(line) for line in lines if line.endswith("}")]
        return [
            (sample["timestamp"], sample["value"])
            for sample in samples
            if sample["name"] == body["MetricName"]
        ]

    def get_metric_statistics(self, body: Body) -> Body:
        for member in ("Namespace", "MetricName", "StartTime", "EndTime", "Period"):
            if body.get(member) in (None, ""):
                raise _missing(member)
        statistics = list(body.get("Statistics") or [])
        percentiles = list(body.get("ExtendedStatistics") or [])
        if bool(statistics) == bool(percentiles):
            raise _combination(
                "Exactly one of the parameters Statistics or ExtendedStatistics must be given."
            )
        unknown = [name for name in statistics if name not in STATISTICS] + [
            name for name in percentiles if not PERCENTILE.match(name)
        ]
        if unknown:
            raise _invalid(f"Unsupported statistics: {', '.join(unknown)}")
        period = int(body["Period"])
        if period not in HIGH_RESOLUTION_PERIODS and (period < 60 or period % 60):
            raise _invalid("The parameter Period must be 1, 5, 10, 30 or a multiple of 60.")
        start, end = float(body["StartTime"]), float(body["EndTime"])
        if end <= start:
            raise _invalid("The parameter StartTime must be less than the parameter EndTime.")
        if (end - start) / period > MAX_DATAPOINTS:
            raise _combination(
                f"You have requested up to {math.ceil((end - start) / period)} datapoints, which exceeds the "
                f"limit of {MAX_DATAPOINTS}. You may reduce the datapoints requested by increasing Period, "
                "or decreasing the time range."
            )
        unit = body.get("Unit")
        samples = [] if unit not in (None, "None") else self._samples(body)
        # periods start at StartTime rounded down to the period (a minute at most), as CloudWatch's
        origin = start - start % min(period, 60)
        buckets: dict[float, list[float]] = {}
        for timestamp, value in samples:
            if start <= timestamp < end:
                buckets.setdefault(origin + (timestamp - origin) // period * period, []).append(value)
        datapoints = []
        for bucket_start, values in sorted(buckets.items()):
            point: Body = {"Timestamp": bucket_start, "Unit": "None"}
            aggregates = {
                "SampleCount": float(len(values)),
                "Average": sum(values) / len(values),
                "Sum": float(sum(values)),
                "Minimum": min(values),
                "Maximum": max(values),
            }
            point.update({name: aggregates[name] for name in statistics})
            if percentiles:
                point["ExtendedStatistics"] = {name: _percentile(values, name) for name in percentiles}
            datapoints.append(point)
        return {"Label": body["MetricName"], "Datapoints": datapoints}


def _wire_of(path: str, headers: Headers, body: bytes) -> _Wire:
    """The protocol of a request, so that even a refusal goes back the way it came."""
    cbor_path = CBOR_PATH.match(path)
    if cbor_path:
        return _Wire("cbor", cbor_path.group(1))
    target = headers.get("X-Amz-Target", "")
    if target:
        return _Wire("json", target.removeprefix(f"{SERVICE_PREFIX}."))
    form = parse_qs(body.decode("utf-8", errors="replace"))
    return _Wire("query", (form.get("Action") or [""])[-1])


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def _percentile(values: list[float], name: str) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    rank = math.ceil(float(name[1:]) / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def _unflatten(form: Mapping[str, str], shape: Any, prefix: str) -> Any:
    """A query-protocol request's value for ``shape`` from its flattened form keys."""
    kind = shape.type_name
    if kind == "structure":
        value = {}
        for name, member in shape.members.items():
            item = _unflatten(form, member, f"{prefix}{name}.")
            if item is not None:
                value[name] = item
        return value if value or not prefix else None
    if kind == "list":
        items: list[Any] = []
        while (item := _unflatten(form, shape.member, f"{prefix}member.{len(items) + 1}.")) is not None:
            items.append(item)
        return items or None
    text = form.get(prefix.rstrip("."))
    if text is None:
        return None
    if kind == "timestamp":
        return parse_timestamp(text).timestamp()
    if kind in ("integer", "long"):
        return int(text)
    if kind in ("double", "float"):
        return float(text)
    return text


def _to_xml(node: ElementTree.Element, value: Any, shape: Any) -> None:
    """``value`` under ``node`` as the query protocol writes an output shape."""
    kind = shape.type_name
    if kind == "structure":
        for name, item in value.items():
            _to_xml(ElementTree.SubElement(node, name), item, shape.members[name])
    elif kind == "list":
        for item in value:
            _to_xml(ElementTree.SubElement(node, "member"), item, shape.member)
    elif kind == "map":
        for key, item in value.items():
            entry = ElementTree.SubElement(node, "entry")
            ElementTree.SubElement(entry, "key").text = key
            _to_xml(ElementTree.SubElement(entry, "value"), item, shape.value)
    elif kind == "timestamp":
        node.text = datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    else:
        node.text = str(value)
