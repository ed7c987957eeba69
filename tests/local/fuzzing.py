"""What the fuzz tests share: the backend as a real process (its RSS read from /proc), signed raw
requests, and Hypothesis strategies drawn from botocore's service models."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.model import Shape
from hypothesis import strategies as st

from tests.waiting import PATIENCE_SECONDS, wait_until

REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "fuzzing-secret"
REPO = Path(__file__).resolve().parents[2]


@dataclass
class BackendProcess:
    """``airflow-hpt local-sagemaker`` in its own process, on a free loopback port."""

    home: Path
    process: subprocess.Popen[str] | None = None
    port: int = 0
    output: list[str] = field(default_factory=list)
    baseline_mib: float = 0.0  # its RSS once started, for tests to compare with

    def start(self) -> BackendProcess:
        command = [sys.executable, "-m", "airflow_hpt.cli", "local-sagemaker", "--port", "0"]
        command += ["--home", str(self.home), "--access-key-id", ACCESS_KEY]
        env = {**os.environ, "AIRFLOW_HPT_LOCAL_SECRET_ACCESS_KEY": SECRET_KEY, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if found:
                self.port = int(found.group(1))
                break
        assert self.port, "".join(self.output)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(PATIENCE_SECONDS)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def rss_mib(self) -> float:
        """The server process's resident memory (VmRSS in /proc)."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


def signed(
    method: str,
    url: str,
    service: str,
    body: bytes,
    headers: Mapping[str, str],
    secret: str = SECRET_KEY,
) -> dict[str, str]:
    """``headers`` plus the SigV4 ones botocore adds for ``service``."""
    host = url.split("/")[2]
    request = AWSRequest(method=method, url=url, data=body, headers={"Host": host, **headers})
    SigV4Auth(Credentials(ACCESS_KEY, secret), service, REGION).add_auth(request)
    return dict(request.headers.items())


def send(port: int, method: str, path: str, body: bytes, headers: Mapping[str, str]) -> Answer:
    """One request on a new connection; the whole answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=PATIENCE_SECONDS)
    try:
        connection.request(method, path, body=body, headers=dict(headers))
        response = connection.getresponse()
        return Answer(response.status, dict(response.getheaders()), response.read())
    finally:
        connection.close()


def send_signed(
    port: int, service: str, path: str, body: bytes, headers: Mapping[str, str], method: str = "POST"
) -> Answer:
    url = f"http://127.0.0.1:{port}{path}"
    return send(port, method, path, body, signed(method, url, service, body, headers))


def raw_exchange(port: int, data: bytes, wait_close: bool = True) -> bytes:
    """Send raw bytes; what the server answers until it closes (or PATIENCE_SECONDS)."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=PATIENCE_SECONDS) as connection:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.sendall(data)  # the server may answer and close before it has all
        received = b""
        while wait_close or b"\r\n\r\n" not in received:
            try:
                chunk = connection.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            received += chunk
        return received


def status_of(raw: bytes) -> int:
    match = re.match(rb"HTTP/1\.[01] (\d{3})", raw)
    assert match, raw[:200]
    return int(match.group(1))


def wait_alive(backend: BackendProcess) -> None:
    """The backend still answers a signed call."""
    body = b"{}"
    headers = {"X-Amz-Target": "SageMaker.ListTrainingJobs", "Content-Type": "application/x-amz-json-1.1"}

    def answers() -> bool:
        return send_signed(backend.port, "sagemaker", "/", body, headers).status == 200

    wait_until("the backend to answer", answers)


# --- strategies from the service model -------------------------------------------------------

_model_cache: dict[str, Any] = {}


def service_model(name: str) -> Any:
    if name not in _model_cache:
        _model_cache[name] = botocore.session.get_session().get_service_model(name)
    return _model_cache[name]


def _short_text() -> st.SearchStrategy[str]:
    return st.text(max_size=12)


def wire_value(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values of ``shape`` as the JSON protocols send them (timestamps as epoch seconds)."""
    kind = shape.type_name
    if depth > 4:
        return st.none()
    if kind == "structure":
        members = shape.members  # type: ignore[attr-defined]
        required = set(shape.required_members)  # type: ignore[attr-defined]
        names = list(members)[:25]
        return st.fixed_dictionaries(
            {name: wire_value(members[name], depth + 1) for name in names if name in required},
            optional={name: wire_value(members[name], depth + 1) for name in names if name not in required},
        )
    if kind == "list":
        return st.lists(wire_value(shape.member, depth + 1), max_size=2)  # type: ignore[attr-defined]
    if kind == "map":
        return st.dictionaries(_short_text(), wire_value(shape.value, depth + 1), max_size=2)  # type: ignore[attr-defined]
    if kind == "string":
        if shape.enum:
            return st.sampled_from(shape.enum)
        return st.text(max_size=20)
    if kind in ("integer", "long"):
        return st.integers(-5, 200)
    if kind in ("float", "double"):
        return st.floats(-1e6, 1e6, allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return st.floats(0, 4e9, allow_nan=False)
    if kind == "blob":
        return st.sampled_from(["", "aGVsbG8=", "not base64!"])
    return st.none()


# values of the wrong type for any member, huge or deep ones included
WRONG = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.booleans(),
    st.none(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.just("x" * 100_000),
    st.just([[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*prefix, index)
            yield from _paths(item, (*prefix, index))


@st.composite
def mutated(draw: st.DrawFn, shape: Shape) -> Any:
    """A request of ``shape``, then maybe one member replaced by a wrong value or removed."""
    request = draw(wire_value(shape))
    paths = list(_paths(request))
    action = draw(st.sampled_from(["keep", "wrong", "drop", "unknown"]))
    if action == "unknown" or not paths:
        request[draw(st.text(min_size=1, max_size=10))] = draw(WRONG)
        return request
    if action == "keep":
        return request
    path = draw(st.sampled_from(paths))
    parent = request
    for step in path[:-1]:
        parent = parent[step]
    if action == "wrong":
        parent[path[-1]] = draw(WRONG)
    else:
        del parent[path[-1]]
    return request


# bodies no JSON parser should take whole
BAD_BODIES = [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'{"MaxResults": NaN}',
    b'{"MaxResults": Infinity}',
    b'{"MaxResults": -Infinity}',
    b'{"MaxResults": 1e999}',
    b'{"MaxResults": 1' + b"0" * 5000 + b"}",
    b"\xff\xfe\x00garbage",
    b'{"NameContains": "\xff"}',
    b'{"unterminated": ',
    b"[]",
    b'"a string"',
    b"null",
    b"\x00" * 64,
]


def json_encode(value: Any) -> bytes:
    return json.dumps(value).encode()
