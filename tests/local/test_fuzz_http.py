"""The HTTP layer under abuse, on raw sockets: unauthenticated and oversized bodies are refused
without being read, chunked bodies are decoded strictly, slow headers and too many connections are
cut off, and the backend (a real process) keeps answering with its memory flat."""

from __future__ import annotations

import http.client
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_hpt.local.http.limits import MAX_JSON_BODY, LimitedServer
from tests.local.fuzzing import (
    BackendProcess,
    raw_exchange,
    send_signed,
    signed,
    status_of,
    wait_alive,
)
from tests.waiting import PATIENCE_SECONDS, wait_until

# what the server may grow by under the whole module's abuse (it starts at about 65 MiB)
MEMORY_HEADROOM_MIB = 100


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackendProcess]:
    started = BackendProcess(tmp_path_factory.mktemp("http") / "home").start()
    wait_alive(started)
    yield started
    started.stop()


@pytest.fixture(scope="module")
def baseline(backend: BackendProcess) -> float:
    return backend.rss_mib()


def check_healthy(backend: BackendProcess, baseline: float) -> None:
    assert backend.alive, "".join(backend.output)
    wait_alive(backend)
    assert backend.rss_mib() < baseline + MEMORY_HEADROOM_MIB


def test_the_issues_reproduction_leaves_memory_flat(backend: BackendProcess, baseline: float) -> None:
    # a chunk declaring 2**64-1 bytes, three sent, then the connection closed: werkzeug's own decoder
    # grew by 800 MB a second on it
    with socket.create_connection(("127.0.0.1", backend.port)) as connection:
        connection.sendall(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\nabc"
        )
        answer = connection.recv(65536)
    assert status_of(answer) == 403  # refused before a byte of the body is read
    assert b"MissingAuthenticationTokenException" in answer
    check_healthy(backend, baseline)


def test_an_unauthenticated_body_is_not_read(backend: BackendProcess, baseline: float) -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500000000\r\n\r\n"
    answer = raw_exchange(backend.port, head + b"x" * 1_000_000)
    assert status_of(answer) == 403
    assert b"Connection: close" in answer  # the unread body is not taken for the next request
    check_healthy(backend, baseline)


def test_a_signed_looking_body_over_the_cap_is_refused_unread(
    backend: BackendProcess, baseline: float
) -> None:
    url = f"http://127.0.0.1:{backend.port}/"
    headers = signed("POST", url, "sagemaker", b"{}", {"X-Amz-Target": "SageMaker.ListTrainingJobs"})
    headers["Content-Length"] = str(MAX_JSON_BODY + 1)
    head = "POST / HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    answer = raw_exchange(backend.port, head.encode() + b"\r\n{}")
    assert status_of(answer) == 413
    assert b"RequestEntityTooLargeException" in answer
    check_healthy(backend, baseline)


def chunked_request(port: int, service: str, payload: bytes, framing: bytes, **extra: str) -> bytes:
    """A request signed over ``payload``, whose body on the wire is ``framing`` (chunked)."""
    url = f"http://127.0.0.1:{port}/"
    headers = signed("POST", url, service, payload, {"X-Amz-Target": "SageMaker.ListTrainingJobs", **extra})
    headers.pop("Content-Length", None)
    headers["Transfer-Encoding"] = "chunked"
    head = "POST / HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return head.encode() + b"\r\n" + framing


@pytest.mark.parametrize(
    ("framing", "status"),
    [
        (b"2\r\n{}\r\n0\r\n\r\n", 200),  # well-formed
        (b"zz\r\n{}\r\n0\r\n\r\n", 400),  # not hexadecimal
        (b"-2\r\n{}\r\n0\r\n\r\n", 400),
        (b"2\r\n{}XX0\r\n\r\n", 400),  # no CRLF after the chunk
        (b"FFFFFFFFFFFFFFFFF\r\n{}", 400),  # 17 hex digits
        (b"1" + b"0" * 5000 + b"\r\n", 400),  # a chunk line too long
        (b"7FFFFFFF\r\n" + b" " * (MAX_JSON_BODY + 1), 413),  # over the cap, refused once past it
    ],
)
def test_chunked_bodies_are_decoded_strictly(
    backend: BackendProcess, baseline: float, framing: bytes, status: int
) -> None:
    answer = raw_exchange(backend.port, chunked_request(backend.port, "sagemaker", b"{}", framing))
    assert status_of(answer) == status, answer[:300]
    assert b"<html" not in answer.lower()
    check_healthy(backend, baseline)


def test_a_lying_content_length_drops_only_its_connection(backend: BackendProcess, baseline: float) -> None:
    url = f"http://127.0.0.1:{backend.port}/"
    headers = signed("POST", url, "sagemaker", b"{}", {"X-Amz-Target": "SageMaker.ListTrainingJobs"})
    headers["Content-Length"] = "1000"
    head = "POST / HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    with socket.create_connection(("127.0.0.1", backend.port)) as connection:
        connection.sendall(head.encode() + b"\r\n{}")
        connection.shutdown(socket.SHUT_WR)  # 2 bytes of 1,000, then nothing more
        answer = connection.recv(65536)
    # the body never came whole: a 400 in the service's shape, or the connection simply dropped
    assert answer == b"" or (status_of(answer) == 400 and b"SerializationException" in answer), answer
    # a Content-Length shorter than the body: the rest is not a request, answered in JSON, not HTML
    headers["Content-Length"] = "2"
    head = "POST / HTTP/1.1\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    answer = raw_exchange(backend.port, head.encode() + b"\r\n{}garbage that is no request\r\n\r\n")
    assert status_of(answer) == 200, answer  # what follows is dropped, never served as a request
    assert b"<html" not in answer.lower()
    check_healthy(backend, baseline)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"POST / HTTP/9.9\r\n\r\n",
        b"POST / HTTP/1.1\r\n" + b"X-A: b\r\n" * 200 + b"\r\n",  # too many headers
        b"POST / HTTP/1.1\r\nHost: " + b"h" * 70_000 + b"\r\n\r\n",  # a header line too long
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    ],
)
def test_malformed_http_is_answered_4xx_without_html(
    backend: BackendProcess, baseline: float, request_bytes: bytes
) -> None:
    answer = raw_exchange(backend.port, request_bytes)
    assert 400 <= status_of(answer) < 500, answer[:300]
    assert b"<html" not in answer.lower() and b"<!doctype" not in answer.lower()
    check_healthy(backend, baseline)


def test_an_s3_upload_cut_short_leaves_no_temporary_file(backend: BackendProcess, baseline: float) -> None:
    port = backend.port
    create = send_signed(port, "s3", "/cut-short", b"", {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, "PUT")
    assert create.status == 200, create.body
    url = f"http://127.0.0.1:{port}/cut-short/key"
    headers = signed("PUT", url, "s3", b"", {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    headers["Content-Length"] = str(10_000_000)
    head = "PUT /cut-short/key HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection(("127.0.0.1", port)) as connection:
        connection.sendall(head.encode() + b"\r\n" + b"x" * 1_000_000)
        connection.shutdown(socket.SHUT_WR)
        connection.recv(65536)
    receiving = backend.home / "s3meta" / "tmp"
    wait_until("the cut-short upload's temporary file to be removed", lambda: not any(receiving.iterdir()))
    assert (
        send_signed(
            port, "s3", "/cut-short/key", b"", {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}, "GET"
        ).status
        == 404
    )
    check_healthy(backend, baseline)


# --- the server's limits, on a server of its own with small ones -----------------------------


def _hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


@pytest.fixture
def small_server() -> Iterator[LimitedServer]:
    import threading

    server = LimitedServer("127.0.0.1", 0, _hello, max_connections=2, header_timeout=1.0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_slow_headers_are_cut_off(small_server: LimitedServer) -> None:
    with socket.create_connection(("127.0.0.1", small_server.server_port), timeout=PATIENCE_SECONDS) as slow:
        slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        assert slow.recv(65536) == b""  # shut down by the header deadline, not after PATIENCE_SECONDS


def test_past_the_connection_cap_a_clean_503(small_server: LimitedServer) -> None:
    port = small_server.server_port
    probe = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    # two connections that send nothing hold both slots, each waiting for its first request (a
    # served request would not: werkzeug closes every connection after its answer)
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(2)]
    try:

        def refused() -> bytes | None:
            answer = raw_exchange(port, probe)
            return answer if status_of(answer) == 503 else None

        # the server takes them up in its own time; until it has, a probe is served
        answer = wait_until("a connection past the cap to be refused", refused)
        assert json.loads(answer.partition(b"\r\n\r\n")[2])["__type"] == "ServiceUnavailable"
    finally:
        for connection in held:
            connection.close()
    # the slots come back once the held connections end
    wait_until("a connection to be served again", lambda: status_of(raw_exchange(port, probe)) == 200)


def test_a_connection_past_descriptor_1024_is_served(small_server: LimitedServer) -> None:
    """A backend running hundreds of training jobs holds over 1024 files: select() cannot wait on
    a connection numbered past that (it answered nothing at 500 waiting jobs)."""
    placeholders = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    connection = http.client.HTTPConnection("127.0.0.1", small_server.server_port, timeout=PATIENCE_SECONDS)
    try:
        assert max(placeholders) > 1024
        # twice on one kept-alive connection: each request waits for its first byte the same way
        for _ in range(2):
            connection.request("GET", "/")
            answer = connection.getresponse()
            assert (answer.status, answer.read()) == (200, b"hello")
    finally:
        connection.close()
        for descriptor in placeholders:
            os.close(descriptor)


def test_requests_log_names_unknown_operations_unknown(backend: BackendProcess) -> None:
    body = b"{}"
    answer = send_signed(backend.port, "sagemaker", "/", body, {"X-Amz-Target": "SageMaker.NoSuchThing\x7f"})
    assert answer.status == 400
    assert json.loads(answer.body)["__type"] == "UnknownOperationException"
    log = Path(backend.home / "requests.log")
    wait_until("the call to be logged", lambda: "NoSuchThing" in log.read_text())
    lines = [line for line in log.read_text().splitlines() if "NoSuchThing" in line]
    assert lines and all(line.endswith(" unknown") for line in lines), lines
    assert "sagemaker:NoSuchThing? unknown" in lines[0]


def test_an_s3_write_the_store_would_refuse_is_refused_before_its_body(backend: BackendProcess) -> None:
    unsigned = {"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
    assert send_signed(backend.port, "s3", "/refused-early", b"", unsigned, "PUT").status == 200
    for path, code in [
        ("/no-such-bucket/key", b"NoSuchBucket"),
        ("/refused-early/" + "k" * 1025, b"KeyTooLongError"),
        ("/refused-early/key?partNumber=1&uploadId=" + "0" * 32, b"NoSuchUpload"),
    ]:
        url = f"http://127.0.0.1:{backend.port}{path}"
        headers = signed("PUT", url, "s3", b"", unsigned)
        headers["Content-Length"] = str(4 * 1024**3)  # declared, never sent: the answer cannot wait for it
        head = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        answer = raw_exchange(backend.port, head.encode() + b"\r\n")
        assert code in answer, answer[:300]
