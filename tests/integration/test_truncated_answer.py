"""A success answer cut short after its headers (the backend died mid-body): botocore reads it as an
empty response. The hook must treat it as a dropped connection, not as a job without an ARN: the
soak met it as `KeyError: 'HyperParameterTuningJobArn'` when the backend was SIGKILLed mid-Create.
An answer that came whole without a required member is another matter: the endpoint lacks it, and
the call fails at once, naming it."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_hpt.hooks.tuning import IncompleteAnswer, TuningJobHook
from airflow_hpt.local import LocalSageMaker
from airflow_hpt.naming import TAG_FINGERPRINT
from tests.local.conftest import quadratic_request, wait_for

pytestmark = pytest.mark.usefixtures("airflow_db")


def cut_after_headers(answer: bytes) -> bytes:
    return answer.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"


class CuttingProxy:
    """Forwards to the backend; the first answer to a request whose body contains ``marker`` is
    tampered with (by default: it loses everything after its headers), and its connection is closed."""

    def __init__(
        self, upstream_port: int, marker: bytes, tamper: Callable[[bytes], bytes] = cut_after_headers
    ) -> None:
        self.upstream_port = upstream_port
        self.marker = marker
        self.tamper = tamper
        self.cut = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client, socket.create_connection(("127.0.0.1", self.upstream_port)) as upstream:
            while request := _read_message(client):
                upstream.sendall(request)
                answer = _read_message(upstream)
                if self.cut == 0 and self.marker in request:
                    self.cut += 1
                    client.sendall(self.tamper(answer))
                    return
                client.sendall(answer)

    def close(self) -> None:
        self._listener.close()


def _read_message(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


@pytest.fixture
def proxy(backend: LocalSageMaker, aws_conn_env: Any) -> Iterator[CuttingProxy]:
    started = CuttingProxy(
        int(backend.endpoint_url.rsplit(":", 1)[1]), b'"HyperParameterTuningJobName": "cut-create"'
    )
    aws_conn_env(f"http://127.0.0.1:{started.port}")
    yield started
    started.close()


def test_a_create_answer_cut_short_reattaches_to_the_job_it_created(proxy: CuttingProxy, client: Any) -> None:
    request = quadratic_request("cut-create", max_jobs=2)
    request["Tags"] = [{"Key": TAG_FINGERPRINT, "Value": "f1"}]
    created = TuningJobHook(aws_conn_id="aws_default").create_or_reattach(request, "f1")
    assert proxy.cut == 1, "the first Create's answer was cut after its headers"
    assert created.reattached and created.name == "cut-create"
    assert created.arn.endswith("hyper-parameter-tuning-job/cut-create")
    listed = client.list_hyper_parameter_tuning_jobs(NameContains="cut-create")[
        "HyperParameterTuningJobSummaries"
    ]
    assert len(listed) == 1, "no second job"
    wait_for(client, "cut-create")


def without_member(member: str) -> Callable[[bytes], bytes]:
    """A whole answer, its JSON body less ``member`` (an emulator that does not return it)."""

    def tamper(answer: bytes) -> bytes:
        head, body = answer.split(b"\r\n\r\n", 1)
        document = json.loads(body)
        del document[member]
        body = json.dumps(document).encode()
        lines = [
            f"Content-Length: {len(body)}".encode() if line.lower().startswith(b"content-length:") else line
            for line in head.split(b"\r\n")
        ]
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    return tamper


def test_an_answer_without_a_member_sagemaker_always_returns_fails_at_once_naming_it(
    backend: LocalSageMaker, aws_conn_env: Any, client: Any
) -> None:
    client.create_hyper_parameter_tuning_job(**quadratic_request("incomplete", max_jobs=1, parallel=1))
    proxy = CuttingProxy(
        int(backend.endpoint_url.rsplit(":", 1)[1]),
        b'"HyperParameterTuningJobName": "incomplete"',
        without_member("HyperParameterTuningJobStatus"),
    )
    aws_conn_env(f"http://127.0.0.1:{proxy.port}")
    try:
        with pytest.raises(IncompleteAnswer) as failed:
            TuningJobHook(aws_conn_id="aws_default").describe_tuning_job("incomplete")
    finally:
        proxy.close()
    assert proxy.cut == 1, "one answer, not retried"
    assert str(failed.value).startswith(
        "DescribeHyperParameterTuningJob answered without HyperParameterTuningJobStatus, which SageMaker "
        f"always returns: the endpoint (http://127.0.0.1:{proxy.port}) does not implement"
    )
    wait_for(client, "incomplete")
